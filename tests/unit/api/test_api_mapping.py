"""The REST facade's two translations, as pure functions: a request onto a ChronosJob spec
(``apply_request``) and a ChronosJob onto the Chronos view (``job_view``)."""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from builders import chronosjob, spec

from chronos.api.answers import JobOut
from chronos.api.mapping import RequestShapeError, apply_request, job_view
from chronos.contract import RUN_NOW_ANNOTATION
from chronos.models.wire import ChronosJobDict

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
README_JOB = {
    "name": "Monday-Wednesday-Friday Job",
    "task_type": "entity_start",
    "schedule": {"days_of_week": ["monday", "wednesday", "friday"], "hour": 8, "minute": 30},
    "pipeline_id": "pipeline-123",
    "entity_id": "entity-456",
}

# ------------------------------------------------------------------ apply_request


def test_a_create_maps_every_field_to_the_camel_case_spec() -> None:
    assert apply_request({}, README_JOB) == {
        "displayName": "Monday-Wednesday-Friday Job",
        "task": {"type": "entity_start", "pipelineId": "pipeline-123", "entityIds": ["entity-456"]},
        "schedule": {"daysOfWeek": ["monday", "wednesday", "friday"], "hour": 8, "minute": 30},
    }


def test_the_given_spec_is_left_unchanged() -> None:
    before = spec()
    kept = copy.deepcopy(before)
    after = apply_request(before, {"pipeline_id": "p2", "enabled": False})
    assert before == kept
    assert after["task"]["pipelineId"] == "p2"
    assert after["enabled"] is False


def test_case_and_repeated_days_are_normalised_as_chronos_did() -> None:
    out = apply_request(
        {},
        {
            "task_type": "ENTITY_SNAPSHOT",
            "snapshot_write_method": "upsert",
            "schedule": {"days_of_week": ["Monday", "monday", "FRIDAY"], "hour": 1, "minute": 0},
        },
    )
    assert out["task"]["type"] == "entity_snapshot"
    assert out["task"]["snapshotWriteMethod"] == "UPSERT"
    assert (out.get("schedule") or {}).get("daysOfWeek") == ["monday", "friday"]


def test_entity_id_and_entity_ids_together_are_refused_naming_the_field() -> None:
    with pytest.raises(RequestShapeError) as info:
        apply_request({}, {"entity_id": "a", "entity_ids": ["b"]})
    assert info.value.field == "entity_id"
    # An empty list next to entity_id is not a second answer.
    assert apply_request({}, {"entity_id": "a", "entity_ids": []})["task"]["entityIds"] == ["a"]


def test_null_and_empty_values_remove_the_field() -> None:
    base = spec(displayName="Orders", description="d", enabled=False)
    out = apply_request(base, {"name": None, "description": None, "entity_ids": []})
    assert "displayName" not in out
    assert "description" not in out
    assert "entityIds" not in out["task"]
    assert out["enabled"] is False  # not sent: kept


def test_a_new_task_type_drops_the_ids_of_another_scope_unless_sent() -> None:
    base = spec(task={"type": "entity_start", "pipelineId": "p", "entityIds": ["e"]})
    assert apply_request(base, {"task_type": "pipeline_start"})["task"] == {
        "type": "pipeline_start",
        "pipelineId": "p",
    }
    moved = apply_request(base, {"task_type": "group_start", "group_ids": ["g"]})
    assert moved["task"] == {"type": "group_start", "pipelineId": "p", "groupIds": ["g"]}
    # Another entity task keeps the entities.
    assert apply_request(base, {"task_type": "entity_stop"})["task"]["entityIds"] == ["e"]


def test_wait_for_maps_to_the_task_and_leaves_with_a_non_wait_type() -> None:
    wait = {"state": "Hold", "timeout_seconds": 90}
    out = apply_request({}, {"task_type": "GROUP_WAIT", "group_ids": ["g"], "wait_for": wait})
    assert out["task"]["waitFor"] == {"state": "Hold", "timeoutSeconds": 90}
    assert out["task"]["type"] == "group_wait"
    # Another wait type keeps it; any other type drops it unless sent (then refused).
    assert apply_request(out, {"task_type": "entity_wait"})["task"]["waitFor"]
    assert "waitFor" not in apply_request(out, {"task_type": "group_stop"})["task"]
    assert "waitFor" not in apply_request(out, {"wait_for": None})["task"]


def test_a_chain_only_job_shows_no_cron_whatever_the_status_still_says() -> None:
    """Made chain-only by a PUT: the status still holds the old schedule's cron until the
    operator catches up (CI: the PUT's answer showed it)."""
    chained = spec(schedule=None, after=[{"job": "up"}])
    stale = {"cron": "30 8 * * 1-5", "description": "At 08:30, Monday through Friday"}
    shown, _ = job_view(cast(ChronosJobDict, chronosjob(spec=chained, status=stale)), "UTC", NOW)
    assert (shown["schedule"], shown["cron_expression"]) == (None, None)
    assert shown["resolved_cron_expression"] is None
    assert shown["next_run_times"] == []


def test_a_wait_task_is_shown_with_what_it_waits_for() -> None:
    task = {
        "type": "entity_wait",
        "pipelineId": "p",
        "entityIds": ["e"],
        "waitFor": {"state": "Active", "timeoutSeconds": 30},
    }
    shown, _ = job_view(cast(ChronosJobDict, chronosjob(spec=spec(task=task))), "UTC", NOW)
    assert shown["wait_for"] == {"state": "Active", "timeout_seconds": 30}
    assert shown["task_type"] == "entity_wait"
    plain, _ = job_view(cast(ChronosJobDict, chronosjob()), "UTC", NOW)
    assert plain["wait_for"] is None


def test_a_view_sent_back_with_both_schedule_forms_keeps_the_friendly_one() -> None:
    friendly = {"days_of_week": ["monday"], "hour": 8, "minute": 30}
    expected = {"daysOfWeek": ["monday"], "hour": 8, "minute": 30}
    agree = apply_request({}, {"schedule": friendly, "cron_expression": "30 8 * * 1"})
    assert agree["schedule"] == expected
    # Beside the friendly form, cron_expression is the read-only echo: ignored, even
    # when it differs (the response shows the cron the schedule makes) ...
    other = apply_request({}, {"schedule": friendly, "cron_expression": "0 9 * * *"})
    assert other["schedule"] == expected
    # ... yet held to what the document allows there.
    for bad in ("0", "61 * * * *", 5):
        with pytest.raises(RequestShapeError) as refused:
            apply_request({}, {"schedule": friendly, "cron_expression": bad})
        assert refused.value.field == "cron_expression"
    # Alone, a cron expression is the schedule.
    assert apply_request({}, {"cron_expression": "0 9 * * *"})["schedule"] == {"cron": "0 9 * * *"}


@pytest.mark.parametrize(
    ("old", "sent", "expected"),
    [
        # Clearing the form the job does not use keeps the one it uses.
        ({"cron": "0 3 * * *"}, {"schedule": None}, {"cron": "0 3 * * *"}),
        ({"hour": 1, "minute": 2}, {"cron_expression": None}, {"hour": 1, "minute": 2}),
        # Clearing the form it uses leaves no schedule (the model then says so, unless
        # the job runs after others: chain-only).
        ({"cron": "0 3 * * *"}, {"cron_expression": None}, None),
        ({"hour": 1, "minute": 2}, {"schedule": None}, None),
        ({"cron": "0 3 * * *"}, {"schedule": None, "cron_expression": None}, None),
        # A new form replaces the old one entirely.
        ({"cron": "0 3 * * *"}, {"schedule": {"hour": 4, "minute": 5}}, {"hour": 4, "minute": 5}),
        ({"hour": 1, "minute": 2}, {"cron_expression": "@daily"}, {"cron": "@daily"}),
    ],
)
def test_a_partial_update_of_the_schedule(
    old: dict[str, Any], sent: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    assert apply_request(spec(schedule=old), sent).get("schedule") == expected


def test_fields_not_sent_are_left_alone() -> None:
    base = spec()
    assert apply_request(base, {}) == base


# ----------------------------------------------------------------------- job_view


def view(obj: dict[str, Any], zone: str = "UTC") -> tuple[dict[str, Any], float]:
    return job_view(cast(ChronosJobDict, obj), zone, NOW)


def test_a_friendly_schedule_is_shown_with_its_cron_and_next_runs() -> None:
    body = spec(
        displayName="Orders",
        schedule={"daysOfWeek": ["monday", "friday"], "hour": 8, "minute": 30},
        timeZone="Europe/Rome",
    )
    shown, valid_until = view(chronosjob(spec=body))
    assert shown["name"] == "Orders"
    assert shown["id"] == "orders"
    assert shown["schedule"] == {"days_of_week": ["monday", "friday"], "hour": 8, "minute": 30}
    assert shown["is_cron_expression"] is False
    assert shown["cron_expression"] == "30 8 * * 1,5"
    assert shown["timezone"] == "Europe/Rome"
    # 10:00 UTC on Monday is 11:00 in Rome: the next run is Friday 08:30 Rome time,
    # shown with the zone's offset.
    assert shown["next_run"] == "2026-11-27T08:30:00+01:00"
    assert len(shown["next_run_times"]) == 5
    assert valid_until == datetime(2026, 11, 27, 7, 30, tzinfo=UTC).timestamp()
    assert shown["entity_ids"] == ["e1"]
    assert shown["snapshot_write_method"] == "UPSERT"
    assert shown["enabled"] is True


def test_a_disabled_job_has_no_next_run_and_holds_for_ever() -> None:
    shown, valid_until = view(chronosjob(spec=spec(enabled=False)))
    assert shown["next_run"] is None
    assert shown["next_run_times"] == []
    assert valid_until == math.inf
    assert shown["cron_expression"] == "30 8 * * 1-5"  # still described
    assert shown["schedule_description"]


def test_the_zone_falls_back_to_the_status_then_the_default() -> None:
    body = {k: v for k, v in spec().items() if k != "timeZone"}
    assert view(chronosjob(spec=body), "Asia/Tokyo")[0]["timezone"] == "Asia/Tokyo"
    seen = chronosjob(spec=body, status={"timeZone": "America/New_York"})
    assert view(seen, "Asia/Tokyo")[0]["timezone"] == "America/New_York"


def test_runs_are_summarised_from_last_run_and_history() -> None:
    failed = {"runId": "r2", "result": "failed", "message": "boom", "endTime": "T2"}
    succeeded = {"runId": "r1", "result": "succeeded", "startTime": "S1", "endTime": "T1"}
    last = {"runId": "r3", "result": "running", "startTime": "S3"}
    status = {"lastRun": last, "history": [last, failed, succeeded]}
    shown, _ = view(chronosjob(status=status))
    assert (shown["last_run"], shown["last_run_status"]) == ("S3", "running")
    assert shown["last_successful_run"] == "T1"
    assert (shown["last_error_message"], shown["last_run_error_time"]) == ("boom", "T2")


def test_a_missed_run_is_an_error_and_its_reason_stands_in_for_a_message() -> None:
    missed = {"runId": "m", "result": "missed", "reason": "NotStarted", "scheduledTime": "S"}
    shown, _ = view(chronosjob(status={"history": [missed]}))
    assert (shown["last_run"], shown["last_run_status"]) == ("S", "missed")
    assert (shown["last_error_message"], shown["last_run_error_time"]) == ("NotStarted", "S")
    assert shown["last_successful_run"] is None


def test_an_invalid_spec_shows_the_operators_verdict() -> None:
    body = spec(schedule={"cron": "61 * * * *"})
    refused = {"type": "Ready", "status": "False", "reason": "InvalidSchedule", "message": "bad"}
    shown, valid_until = view(chronosjob(spec=body, status={"conditions": [refused]}))
    assert shown["cron_expression"] == "61 * * * *"
    assert shown["next_run"] is None
    assert valid_until == math.inf
    assert (shown["ready"], shown["status_message"]) == (False, "bad")


def test_updated_at_is_the_latest_spec_write_not_a_status_write() -> None:
    obj = chronosjob()
    obj["metadata"]["creationTimestamp"] = "2026-11-01T00:00:00Z"
    assert view(obj)[0]["updated_at"] == "2026-11-01T00:00:00Z"
    obj["metadata"]["managedFields"] = [
        {"manager": "kubectl", "time": "2026-11-02T00:00:00Z"},
        {"manager": "facade", "time": "2026-11-03T00:00:00Z"},
        {"manager": "operator", "time": "2026-11-09T00:00:00Z", "subresource": "status"},
    ]
    assert view(obj)[0]["updated_at"] == "2026-11-03T00:00:00Z"


def test_resource_version_and_run_now_token_come_from_the_metadata() -> None:
    obj = chronosjob()
    obj["metadata"]["annotations"] = {RUN_NOW_ANNOTATION: "tok-1"}
    shown, _ = view(obj)
    assert (shown["resource_version"], shown["run_now_token"]) == ("1", "tok-1")


def test_queued_runs_are_in_the_jobs_answer_without_a_run_nows_token() -> None:
    queued = [
        {
            "runId": "orders-29400000",
            "trigger": "schedule",
            "schedule": "s0",
            "scheduledTime": "2026-11-23T10:00:00Z",
            "queuedAt": "2026-11-23T10:00:01Z",
        },
        {
            "runId": "orders-now-0123456789abcdef",
            "trigger": "run-now",
            "queuedAt": "2026-11-23T10:00:02Z",
            "token": "t1",
        },
    ]
    body = spec(concurrencyPolicy="Enqueue", maxQueued=2)
    shown, _ = view(chronosjob(spec=body, status={"queued": queued, "queuedCount": 2}))
    out = JobOut.model_validate(shown)
    assert [q.model_dump(exclude_none=True) for q in out.queued or []] == [
        {
            "run_id": "orders-29400000",
            "trigger": "schedule",
            "schedule": "s0",
            "scheduled_time": "2026-11-23T10:00:00Z",
            "queued_at": "2026-11-23T10:00:01Z",
        },
        {
            "run_id": "orders-now-0123456789abcdef",
            "trigger": "run-now",
            "queued_at": "2026-11-23T10:00:02Z",
        },
    ]
    assert view(chronosjob(spec=spec()))[0]["queued"] is None
