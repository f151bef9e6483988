"""The operator's housekeeping plan (chronos.operator.housekeeping.plan): pure, no cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from builders import chronosjob, operator_settings, spec

from chronos import contract as c
from chronos.models.chronosjob import ChronosJobStatus
from chronos.models.wire import ChronosJobDict, ConditionDict, StatusDict
from chronos.operator import housekeeping as hk
from chronos.operator import status as st
from chronos.operator.desired import desired_state
from chronos.times import rfc3339

NOW = datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC)
SETTINGS = operator_settings(missed_run_grace_seconds=90)
HOURLY = spec(schedule={"cron": "0 * * * *"}, timeZone="UTC")
READY: ConditionDict = {
    "type": st.READY,
    "status": "True",
    "reason": "Applied",
    "message": "",
    "lastTransitionTime": "2026-11-23T08:00:00Z",
}


#: Ready, and RunsBlocked=False as of now: what an applied job with nothing blocking shows.
IN_STEP = st.blocked_condition(
    [READY], st.Blockers(), cron="0 * * * *", namespace="ns", generation=1, now=NOW
)


def plan(
    status: StatusDict,
    *,
    body: dict[str, Any] = HOURLY,
    jobs: list[dict[str, Any]] | None = None,
    blockers: st.Blockers | None = None,
) -> list[hk.Action]:
    cr = cast(ChronosJobDict, chronosjob(spec=body, status=dict(status)))
    return hk.plan(
        cr,
        desired_state(cr, SETTINGS),
        jobs=jobs or [],
        blockers=blockers or st.Blockers(),
        now=NOW,
        settings=SETTINGS,
    )


def upcoming(body: dict[str, Any] = HOURLY) -> list[str]:
    cr = cast(ChronosJobDict, chronosjob(spec=body))
    return st.next_run_times(desired_state(cr, SETTINGS).schedule, NOW, True)


def job(name: str, created: datetime, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "creationTimestamp": rfc3339(created),
            "annotations": {c.CHRONOSJOB_ANNOTATION: "orders"},
        },
        "status": status,
    }


def test_a_job_in_step_needs_no_write() -> None:
    assert st.condition(IN_STEP, st.RUNS_BLOCKED) is not None
    assert plan({"conditions": IN_STEP, "nextRunTimes": upcoming()}) == []


def test_stale_next_run_times_are_patched() -> None:
    (action,) = plan({"conditions": IN_STEP, "nextRunTimes": ["2026-11-23T09:00:00Z"]})
    assert action == hk.PatchStatus(ChronosJobStatus(next_run_times=upcoming()))
    assert upcoming()[0] == "2026-11-23T11:00:00Z"


def test_a_disabled_job_shows_no_next_runs_and_records_no_missed_slot() -> None:
    since = rfc3339(NOW - timedelta(hours=5))
    body = {**HOURLY, "enabled": False}
    (action,) = plan({"nextRunTimes": upcoming(), "slotsCheckedUntil": since}, body=body)
    assert action == hk.PatchStatus(ChronosJobStatus(next_run_times=[]))


def test_missed_slots_are_recorded_with_an_event_each_and_the_mark_moves() -> None:
    since = "2026-11-23T07:30:00Z"
    actions = plan({"conditions": IN_STEP, "nextRunTimes": upcoming(), "slotsCheckedUntil": since})
    record, *events, patch = actions
    assert isinstance(record, hk.RecordRuns)
    # 10:00 is not missed yet: at 10:00:30 it is still inside the 90 s grace period.
    assert [r.scheduled_time for r in record.records] == [
        datetime(2026, 11, 23, 8, tzinfo=UTC),
        datetime(2026, 11, 23, 9, tzinfo=UTC),
    ]
    assert record.limit == 20
    assert (
        [(e.type, e.reason) for e in events if isinstance(e, hk.PostEvent)]
        == [("Warning", hk.MISSED_RUN)] * len(events)
        == [("Warning", hk.MISSED_RUN)] * 2
    )
    assert isinstance(patch, hk.PatchStatus)
    assert patch.patch.model_fields_set == {"slots_checked_until"}
    assert patch.patch.slots_checked_until is not None
    assert patch.patch.slots_checked_until > datetime.fromisoformat(since)


def test_runs_blocked_is_planned_only_once_the_cronjob_is_applied() -> None:
    missing = st.Blockers(missing_account="chronos-runner")
    (action,) = plan({"conditions": IN_STEP, "nextRunTimes": upcoming()}, blockers=missing)
    assert isinstance(action, hk.UpdateRunsBlocked)
    change = action.change("ns", {"conditions": IN_STEP})
    assert change is not None
    new = cast(StatusDict, change.model_dump(mode="json", exclude_unset=True))
    blocked = st.condition(new["conditions"], st.RUNS_BLOCKED)
    assert blocked is not None
    assert blocked["status"] == "True"
    assert "chronos-runner" in blocked["message"]
    # Already saying so: nothing to write.
    assert action.change("ns", new) is None
    assert (
        plan({"conditions": new["conditions"], "nextRunTimes": upcoming()}, blockers=missing) == []
    )
    # Not applied (no Ready=True): Ready=False explains, RunsBlocked is left alone.
    assert plan({"nextRunTimes": upcoming()}, blockers=missing) == []


def test_only_jobs_without_a_ready_pod_past_the_grace_period_are_checked_for_failed_launches() -> (
    None
):
    overdue = job("orders-1", NOW - timedelta(minutes=5))
    recent = job("orders-2", NOW - timedelta(seconds=30))
    started = job("orders-3", NOW - timedelta(minutes=5), active=1, ready=1)
    # A pod that never became ready (e.g. waiting for an image it cannot get).
    waiting = job("orders-4", NOW - timedelta(minutes=5), active=1)
    waiting_recent = job("orders-5", NOW - timedelta(seconds=30), active=1)
    actions = plan(
        {"conditions": IN_STEP, "nextRunTimes": upcoming()},
        jobs=[overdue, recent, started, waiting, waiting_recent],
    )
    grace = timedelta(seconds=90)
    assert actions == [
        hk.ReportFailedLaunch(overdue, grace, NOW, SETTINGS.history_limit),
        hk.ReportFailedLaunch(waiting, grace, NOW, SETTINGS.history_limit, pods_stuck=True),
    ]
