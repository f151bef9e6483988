"""POST /api/jobs/{id}/backfill and the time-rule fields over HTTP, against the real
API server (no operator: what the facade writes stays as written)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fixtures_api import example_job
from lightkube import Client

from chronos import http
from chronos.api.cache import plain
from chronos.contract import BACKFILL_ANNOTATION
from chronos.kube import ChronosJobResource
from chronos.times import rfc3339

pytestmark = pytest.mark.cluster


def _hourly(api: http.Client, **overrides: Any) -> str:
    body = example_job(schedule=None, cron_expression="0 * * * *", timezone="UTC", **overrides)
    created = api.post("/api/jobs", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _annotation(k8s: Client, namespace: str, job_id: str) -> list[dict[str, Any]] | None:
    obj = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))
    text = (obj["metadata"].get("annotations") or {}).get(BACKFILL_ANNOTATION)
    return None if text is None else list(json.loads(text))


def test_a_backfill_request_lists_its_slots_and_is_written_once(
    api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = _hourly(api)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start, end = hour - timedelta(hours=2, minutes=30), hour - timedelta(minutes=30)
    body = {"from": rfc3339(start), "to": rfc3339(end)}
    key = {"Idempotency-Key": "fill-1"}
    answer = api.post(f"/api/jobs/{job_id}/backfill", json=body, headers=key)
    assert answer.status_code == 202, answer.text
    out = answer.json()
    expected = [rfc3339(hour - timedelta(hours=2)), rfc3339(hour - timedelta(hours=1))]
    assert out["slots"] == expected
    assert out["already_requested"] is False
    stored = _annotation(k8s, namespace, job_id)
    assert stored == [{"id": out["id"], "from": rfc3339(start), "to": rfc3339(end), "max": 100}]
    # The same key again: the same request, nothing written.
    again = api.post(f"/api/jobs/{job_id}/backfill", json=body, headers=key)
    assert again.status_code == 202, again.text
    assert again.json()["already_requested"] is True
    assert again.json()["id"] == out["id"]
    assert _annotation(k8s, namespace, job_id) == stored
    # Another key: a second request beside the first.
    other = api.post(f"/api/jobs/{job_id}/backfill", json={**body, "max": 2})
    assert other.status_code == 202, other.text
    assert [i["id"] for i in _annotation(k8s, namespace, job_id) or []] == [
        out["id"],
        other.json()["id"],
    ]


def test_bad_backfill_ranges_name_the_field(api: http.Client, k8s: Client, namespace: str) -> None:
    """A 422 for what the OpenAPI document states (an RFC 3339 time); a 409 for what no
    schema can (from before to, the clock, the job's slots): docs/api.md, "Errors"."""
    job_id = _hourly(api)
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    answer = api.post(
        f"/api/jobs/{job_id}/backfill",
        json={"from": "last tuesday", "to": rfc3339(hour - timedelta(hours=1))},
    )
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["from"], answer.text
    cases = [
        (
            {"from": rfc3339(hour - timedelta(hours=1)), "to": rfc3339(hour - timedelta(hours=2))},
            "from",
        ),
        (
            {"from": rfc3339(hour - timedelta(hours=3)), "to": rfc3339(now + timedelta(hours=1))},
            "to",
        ),
        (
            {
                "from": rfc3339(hour - timedelta(hours=3, minutes=30)),
                "to": rfc3339(hour - timedelta(minutes=30)),
                "max": 2,
            },
            "max",
        ),
        (
            {
                "from": rfc3339(hour - timedelta(minutes=50)),
                "to": rfc3339(hour - timedelta(minutes=10)),
            },
            "from",
        ),
    ]
    for body, field in cases:
        answer = api.post(f"/api/jobs/{job_id}/backfill", json=body)
        assert answer.status_code == 409, (body, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == [field], answer.text
    assert _annotation(k8s, namespace, job_id) is None
    disabled = _hourly(api, enabled=False)
    answer = api.post(
        f"/api/jobs/{disabled}/backfill",
        json={"from": rfc3339(hour - timedelta(hours=2)), "to": rfc3339(hour)},
    )
    assert answer.status_code == 409, answer.text
    assert "disabled" in answer.json()["detail"]


def test_time_rule_fields_round_trip_and_bad_ones_name_the_field(api: http.Client) -> None:
    body = example_job(
        schedule=None,
        schedules=[{"name": "morning", "cron": "H 6 * * 1-5"}, {"hour": 18, "minute": 0}],
        timezone="Europe/Rome",
        dst_policy={"spring_forward": "RunAtNextValidTime", "fall_back": "RunOnce"},
        jitter_seconds=30,
        active_from="2026-01-01T00:00:00Z",
        active_until="2099-01-01T00:00:00Z",
        catch_up={"policy": "Latest", "window_seconds": 7200, "max": 3},
    )
    created = api.post("/api/jobs", json=body)
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["schedules"] == [
        {"name": "morning", "cron": "H 6 * * 1-5"},
        {"hour": 18, "minute": 0},
    ]
    assert job["dst_policy"] == {"spring_forward": "RunAtNextValidTime", "fall_back": "RunOnce"}
    assert job["catch_up"] == {"policy": "Latest", "window_seconds": 7200, "max": 3}
    resolved = job["resolved_cron_expression"]
    assert resolved is not None
    assert "H" not in resolved
    assert resolved.endswith(" 6 * * 1-5")
    assert len(job["next_run_times"]) == 5
    # Read back and sent again: nothing changes (the echoes are ignored).
    again = api.put(f"/api/jobs/{job['id']}", json=job)
    assert again.status_code == 200, again.text
    assert again.json()["schedules"] == job["schedules"]
    for bad, field in (
        ({"on_excluded": "Sometimes"}, "on_excluded"),
        ({"jitter_seconds": 3601}, "jitter_seconds"),
        ({"catch_up": {"policy": "All", "window_seconds": 1}}, "catch_up.window_seconds"),
        ({"schedules": [{"cron": "H(9-1) * * * *"}]}, "schedules[0].cron"),
        ({"schedules": [{"cron": "0 1 * * *", "hour": 1, "minute": 0}]}, "schedules[0].cron"),
        ({"suspend_reason": "why", "suspend_until": None}, "suspend_reason"),
    ):
        answer = api.put(f"/api/jobs/{job['id']}", json=bad)
        assert answer.status_code == 422, (bad, answer.text)
        fields = [e["field"] for e in answer.json()["errors"]]
        assert field in fields, (bad, fields)
    # What no schema can state: an order between two values, or a field the stored job
    # lacks (this one has no suspend_until, no calendar): a 409 naming the field.
    for conflict, field in (
        (
            {"active_from": "2030-01-01T00:00:00Z", "active_until": "2029-01-01T00:00:00Z"},
            "active_until",
        ),
        ({"suspend_reason": "why"}, "suspend_reason"),
        ({"on_excluded": "Skip"}, "on_excluded"),
    ):
        answer = api.put(f"/api/jobs/{job['id']}", json=conflict)
        assert answer.status_code == 409, (conflict, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == [field], answer.text


def test_a_preview_with_a_calendar_that_cannot_be_read_warns(api: http.Client) -> None:
    """A calendar that does not exist (or that the caller may not get: the same answer)
    is not the body's fault: the preview is shown without its days, and says so."""
    body = {"cron_expression": "0 1 * * *", "calendar": "no-such-calendar", "on_excluded": "Skip"}
    answer = api.post("/api/schedule/preview", json=body)
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert len(out["next_run_times"]) == 5
    assert all(t.endswith("T01:00:00Z") for t in out["next_run_times"]), out
    assert len(out["warnings"]) == 1
    assert 'no ChronosCalendar "no-such-calendar"' in out["warnings"][0]
    plain_preview = api.post("/api/schedule/preview", json={"cron_expression": "0 1 * * *"})
    assert plain_preview.json()["warnings"] == []
