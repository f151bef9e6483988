"""Issue 19's models: the time rules of a job, ChronosCalendar, backfill requests, and
the CRDs generated from them (the rules' CEL twins run on the API server in
tests/cluster/test_crd.py with the same cases)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from builders import spec
from cases import BAD_CALENDARS, GOOD_CALENDARS
from pydantic import ValidationError
from support import ROOT, error_fields, schema_nodes

from chronos.models import ChronosJobSpec
from chronos.models import timing as t
from chronos.models.calendar import ChronosCalendarSpec
from chronos.models.chronosjob import RunRecord, RunResult, RunTrigger
from chronos.models.crd import CRDS, build_calendar_crd, render


@pytest.mark.parametrize(
    ("case", "body", "field"), BAD_CALENDARS, ids=[c[0] for c in BAD_CALENDARS]
)
def test_bad_calendar_is_rejected_naming_the_field(
    case: str, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        ChronosCalendarSpec.model_validate(body)
    named = error_fields(info.value)
    assert any(path == field or path.startswith(field + ".") for path in named), (case, named)


def test_calendar_refuses_an_unknown_field() -> None:
    # (The API server prunes it instead, unless the client asks for strict validation.)
    with pytest.raises(ValidationError) as info:
        ChronosCalendarSpec.model_validate({"holidays": ["2026-12-25"]})
    assert error_fields(info.value) == ["holidays"]


@pytest.mark.parametrize(("case", "body"), GOOD_CALENDARS, ids=[c[0] for c in GOOD_CALENDARS])
def test_good_calendar_is_accepted(case: str, body: dict[str, Any]) -> None:
    dumped = ChronosCalendarSpec.model_validate(body).model_dump(mode="json", exclude_none=True)
    assert dumped == body, case  # round trip: the operator writes back what it read


def test_single_schedule_job_is_unchanged_by_the_new_fields() -> None:
    """A job as written before issue 19 dumps to exactly what it was (plus the defaults it
    always had): absent new fields stay absent, so stored jobs do not change."""
    body = spec()
    dumped = ChronosJobSpec.model_validate(body).model_dump(mode="json", exclude_none=True)
    new = {
        "schedules",
        "calendarRef",
        "onExcluded",
        "dstPolicy",
        "jitterSeconds",
        "activeFrom",
        "activeUntil",
        "suspendUntil",
        "suspendReason",
        "catchUp",
    }
    assert not new & set(dumped)
    assert dumped["schedule"] == body["schedule"]


def test_all_schedules_names_the_unnamed_by_index() -> None:
    one = ChronosJobSpec.model_validate(spec())
    assert [(s.name, s.cron) for s in one.all_schedules()] == [("s0", "30 8 * * 1-5")]
    assert one.schedule is not None
    assert one.schedule.name is None
    many = ChronosJobSpec.model_validate(
        spec(
            schedule=None,
            schedules=[
                {"cron": "0 1 * * *"},
                {"name": "night", "cron": "0 2 * * *"},
                {"rrule": "FREQ=DAILY"},
            ],
        )
    )
    assert [s.name for s in many.all_schedules()] == ["s0", "night", "s2"]
    named = ChronosJobSpec.model_validate(spec(schedule={"name": "main", "cron": "0 1 * * *"}))
    assert [s.name for s in named.all_schedules()] == ["main"]


def test_effective_policies_default_to_kubernetes_behaviour() -> None:
    plain = ChronosJobSpec.model_validate(spec())
    assert plain.effective_on_excluded() is t.OnExcluded.SKIP
    assert plain.effective_dst_policy().spring_forward is t.SpringForward.SKIP
    assert plain.effective_dst_policy().fall_back is t.FallBack.RUN_TWICE
    assert plain.effective_catch_up().policy is t.CatchUpPolicy.NONE
    # A partly written dstPolicy or catchUp takes the same defaults field by field.
    partly = ChronosJobSpec.model_validate(
        spec(dstPolicy={"fallBack": "RunOnce"}, catchUp={"policy": "Latest"})
    )
    assert partly.effective_dst_policy().spring_forward is t.SpringForward.SKIP
    assert partly.effective_dst_policy().fall_back is t.FallBack.RUN_ONCE
    assert partly.effective_catch_up() == t.CatchUp(
        policy=t.CatchUpPolicy.LATEST, window_seconds=3600, max=10
    )
    assert t.CatchUp() == t.DEFAULT_CATCH_UP
    assert t.DstPolicy() == t.DEFAULT_DST_POLICY


def test_run_record_carries_the_slot() -> None:
    record = RunRecord.model_validate(
        {
            "runId": "orders-29000000",
            "trigger": "catchup",
            "result": "skipped",
            "scheduledTime": "2026-10-25T00:30:00Z",
            "schedule": "night",
            "calendar": "holidays",
            "slotWallTime": "2026-10-25T02:30:00",
            "slotOffset": "+02:00",
        }
    )
    assert record.trigger is RunTrigger.CATCHUP
    assert record.result is RunResult.SKIPPED
    assert RunTrigger("backfill") is RunTrigger.BACKFILL
    with pytest.raises(ValidationError) as info:
        RunRecord.model_validate(
            {"runId": "r", "trigger": "schedule", "result": "running", "slotOffset": "0100"}
        )
    assert error_fields(info.value) == ["slotOffset"]


def _request(**overrides: Any) -> dict[str, Any]:
    body = {"id": "bf-1", "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
    return {**body, **overrides}


def test_backfill_request_defaults_and_round_trip() -> None:
    request = t.BackfillRequest.model_validate(_request())
    assert request.max == t.MAX_BACKFILL_SLOTS
    assert request.from_ == datetime(2026, 1, 1, tzinfo=UTC)
    assert request.model_dump(mode="json")["from"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"to": "2026-01-01T00:00:00Z"}, "from"),  # empty range
        ({"from": "2026-01-03T00:00:00Z"}, "from"),  # reversed
        ({"from": "2026-01-01T00:00:00"}, "from"),  # no offset
        ({"max": 0}, "max"),
        ({"max": 101}, "max"),
        ({"id": "Bad Id"}, "id"),
        ({"id": "x" * 64}, "id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_backfill_request_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        t.BackfillRequest.model_validate(_request(**overrides))
    assert field in error_fields(info.value)


@pytest.mark.parametrize("plural", list(CRDS))
def test_checked_in_crds_are_generated_from_the_models(plural: str) -> None:
    for where in ("deploy/crd", "charts/chronos/crds"):
        checked_in = (ROOT / where / f"{plural}.yaml").read_text()
        assert checked_in == render(plural), f"{where}/{plural}.yaml is stale: run `make crd`"


def test_calendar_crd_schema_is_structural() -> None:
    crd = build_calendar_crd()
    assert crd["spec"]["names"]["shortNames"] == ["chcal"]
    nodes = schema_nodes(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    assert len(nodes) > 15
    for node in nodes:
        assert "type" in node, node
        for forbidden in ("$ref", "anyOf", "additionalProperties", "title"):
            assert forbidden not in node, (forbidden, node)


def test_crds_have_no_yaml_aliases() -> None:
    """A model used twice (Schedule) is inlined twice, not shared: the YAML holds no
    anchors, which some tools (and readers) do not follow."""
    for plural in CRDS:
        text = render(plural)
        assert "&id" not in text, plural
        assert "*id" not in text, plural
