"""Previews, H and backfill ranges of the REST facade without a server (pure parts;
the HTTP side is in tests/cluster/test_api_backfill.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import cast

import builders
import pytest

from chronos.api.errors import ProblemError
from chronos.api.mapping import job_view
from chronos.api.patterns import documented_cron_pattern
from chronos.api.previews import ScheduleService
from chronos.api.runs import _check_range
from chronos.api.schemas import BackfillIn, PreviewIn
from chronos.api.services import validate_spec
from chronos.models.wire import ChronosJobDict
from chronos.schedule.hashed import resolve_hashed

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # Europe/Rome springs forward on the 29th


def _fields(info: pytest.ExceptionInfo[ProblemError]) -> list[str]:
    return [f for f, _ in info.value.errors or []]


def test_a_preview_merges_schedules_and_notes_dst() -> None:
    body = PreviewIn.model_validate(
        {
            "schedules": [{"cron": "30 2 * * *"}, {"name": "noon", "cron": "0 12 * * *"}],
            "timezone": "Europe/Rome",
            "dst_policy": {"spring_forward": "RunAtNextValidTime"},
            "count": 4,
        }
    )
    out = ScheduleService("UTC").preview(body, NOW)
    assert [s.name for s in out.schedules] == ["s0", "noon"]
    # 02:30 does not exist on 29 March: it runs at 03:00 (01:00Z), and the note says so.
    assert out.next_run_times[:3] == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T12:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]
    first = out.slots[0]
    assert first.schedule == "s0"
    assert first.offset == "+02:00"
    assert first.note is not None
    assert "02:30 does not exist" in first.note
    # Kubernetes' own policy skips it: the skip is listed, not counted as a run.
    body = body.model_copy(update={"dst_policy": None})
    plain = ScheduleService("UTC").preview(body, NOW)
    assert plain.slots[0].action == "skip"
    assert "2026-03-29T03:00:00+02:00" not in plain.next_run_times


def test_h_resolves_from_the_job_and_the_view_shows_it() -> None:
    job = ("team", "nightly")
    resolved = resolve_hashed("H 2 * * *", "team/nightly/s0")
    assert resolved != "H 2 * * *"
    body = PreviewIn.model_validate({"cron_expression": "H 2 * * *", "job_id": "nightly"})
    out = ScheduleService("UTC").preview(body, NOW, job=job)
    assert out.cron_expression == resolved
    minute = int(resolved.split()[0])
    assert out.next_run_times[0] == f"2026-03-29T02:{minute:02d}:00Z"
    validate_spec(builders.spec(schedule={"cron": "H 2 * * *"}), "UTC", 60, job)
    with pytest.raises(ProblemError) as info:
        validate_spec(builders.spec(schedule={"cron": "H(5-3) 2 * * *"}), "UTC", 60, job)
    assert _fields(info) == ["cron_expression"]
    obj = cast(
        ChronosJobDict,
        {
            "metadata": {"name": "nightly", "namespace": "team", "resourceVersion": "1"},
            "spec": builders.spec(schedule={"cron": "H 2 * * *"}, timeZone="UTC"),
        },
    )
    view, _ = job_view(obj, "UTC", NOW)
    assert view["cron_expression"] == "H 2 * * *"  # sent back unchanged, H stays
    assert view["resolved_cron_expression"] == resolved
    assert view["next_run"] == f"2026-03-29T02:{minute:02d}:00Z"


def test_every_counts_from_the_jobs_anchor() -> None:
    created = NOW - timedelta(minutes=50)
    obj = cast(
        ChronosJobDict,
        {
            "metadata": {
                "name": "e",
                "namespace": "n",
                "resourceVersion": "1",
                "creationTimestamp": created.isoformat(),
            },
            "spec": builders.spec(schedule={"cron": "@every 1h"}, timeZone="UTC"),
        },
    )
    view, _ = job_view(obj, "UTC", NOW)
    assert view["next_run"] == "2026-03-28T12:10:00Z"  # creation + 1h, not now + 1h
    body = PreviewIn.model_validate({"cron_expression": "@every 1h"})
    out = ScheduleService("UTC").preview(body, NOW, anchor=created)
    assert out.next_run_times[0] == "2026-03-28T12:10:00Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedules": [{"cron": "0 1 * * *"}], "cron_expression": "0 2 * * *"}, "schedules"),
        ({"schedule": {"hour": 1, "minute": 0}, "cron_expression": "0 2 * * *"}, "cron_expression"),
        ({"cron_expression": "0 1 * * *", "on_excluded": "NextBusinessDay"}, "on_excluded"),
        ({"cron_expression": "0 1 * * *", "timezone": "Mars/Base"}, "timezone"),
    ],
)
def test_a_bad_preview_names_its_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ProblemError) as info:
        ScheduleService("UTC").preview(PreviewIn.model_validate(body), NOW)
    assert info.value.status == 422
    assert field in _fields(info), info.value.errors


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        # What the document states: a 422.
        ({"from": "yesterday", "to": "2026-03-27T00:00:00Z"}, "from", 422),
        ({"from": "2026-03-26", "to": "2026-03-27T00:00:00Z"}, "from", 422),
        ({"from": "2026-03-26T00:00:00Z", "to": "2026-03-27T00:00:00Z", "max": 101}, "max", 422),
        ({"from": "2026-03-26T00:00:00Z", "to": "2026-03-27T00:00:00Z", "max": 0}, "max", 422),
        # What no schema can state (an order, the clock): a 409 naming the field.
        ({"from": "2026-03-27T00:00:00Z", "to": "2026-03-26T00:00:00Z"}, "from", 409),
        ({"from": "2026-03-27T00:00:00Z", "to": "2026-03-27T00:00:00Z"}, "from", 409),
        ({"from": "2026-03-27T00:00:00Z", "to": "2026-03-29T00:00:00Z"}, "to", 409),
        ({"from": "2025-01-01T00:00:00Z", "to": "2026-03-27T00:00:00Z"}, "from", 409),
    ],
)
def test_a_bad_backfill_range_names_its_field(
    body: dict[str, object], field: str, status: int
) -> None:
    with pytest.raises(ProblemError) as info:
        _check_range(BackfillIn.model_validate(body), NOW)
    assert info.value.status == status
    assert _fields(info) == [field], info.value.errors


def test_a_past_backfill_range_is_taken() -> None:
    body = BackfillIn.model_validate(
        {"from": "2026-03-26T00:00:00+01:00", "to": "2026-03-27T00:00:00Z", "max": 3}
    )
    start, end = _check_range(body, NOW)
    assert start == datetime(2026, 3, 25, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 27, tzinfo=UTC)


def test_the_documented_cron_pattern_states_h_as_the_engine_reads_it() -> None:
    pattern = re.compile(documented_cron_pattern())
    for taken in ("H 2 * * *", "H(0-29)/15 H(1-5) * * 1-5", "H,5 H * * H", "0 0 * * *"):
        assert pattern.fullmatch(taken), taken
        resolve_hashed(taken, "n/j/s0")
    for refused in ("H(5-3) * * * *", "H/0 * * * *", "HH * * * *", "H H(0-99) * * *"):
        assert not pattern.fullmatch(refused), refused
