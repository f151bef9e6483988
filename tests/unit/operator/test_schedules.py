"""Issue 19 in the operator, without a cluster: one CronJob per schedule, H resolved,
the active window and suspendUntil, status.suspension, missed slots per schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from builders import chronosjob, operator_settings, spec

from chronos import contract as c
from chronos.models.timing import ScheduleMode
from chronos.models.wire import ChronosJobDict, RunRecordDict
from chronos.operator import housekeeping as hk
from chronos.operator import schedules as sch
from chronos.operator.desired import RejectedError, desired_state, next_runs
from chronos.operator.naming import schedule_cronjob_name
from chronos.schedule.hashed import resolve_hashed
from chronos.timerules import schedule_mode, time_rules
from chronos.times import rfc3339

NOW = datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC)
SETTINGS = operator_settings()
TWO = [{"cron": "0 * * * *"}, {"name": "evening", "cron": "30 18 * * *"}]


def job(name: str = "orders", **overrides: Any) -> ChronosJobDict:
    body = spec(timeZone="UTC", **overrides)
    if "schedules" in overrides:
        body.pop("schedule", None)
    return cast(ChronosJobDict, chronosjob(name, spec=body))


def env(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    pod = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return {e["name"]: e for e in pod["containers"][0]["env"]}


def test_each_schedule_gets_its_own_cronjob_the_first_keeps_the_jobs_name() -> None:
    desired = desired_state(job(schedules=TWO), SETTINGS, NOW)
    names = [m["metadata"]["name"] for m in desired.cronjobs]
    assert names == ["orders", schedule_cronjob_name("orders", "evening", 1)]
    assert names[1].startswith("orders-evening-")
    assert [m["spec"]["schedule"] for m in desired.cronjobs] == ["0 * * * *", "30 18 * * *"]
    assert desired.cronjob is desired.cronjobs[0]
    assert desired.cronjob_named(names[1]) is desired.cronjobs[1]
    assert desired.cronjob_named("orders-gone") is None
    for manifest, name in zip(desired.cronjobs, ["s0", "evening"], strict=True):
        template = manifest["spec"]["jobTemplate"]
        assert template["metadata"]["annotations"][c.SCHEDULE_ANNOTATION] == name
        assert env(manifest)[c.ENV_SCHEDULE]["value"] == name
        assert env(manifest)[c.ENV_TIME_ZONE]["value"] == "UTC"
        assert env(manifest)[c.ENV_SCHEDULED_TIME]["valueFrom"]["fieldRef"]["fieldPath"] == (
            f"metadata.annotations['{c.SCHEDULED_TIMESTAMP_ANNOTATION}']"
        )
        assert c.ENV_JITTER_SECONDS not in env(manifest)
    assert [s.status().model_dump(mode="json", exclude_none=True) for s in desired.schedules] == [
        {"name": "s0", "cron": "0 * * * *", "mode": "CronJob", "cronJobName": "orders"},
        {
            "name": "evening",
            "cron": "30 18 * * *",
            "mode": "CronJob",
            "cronJobName": schedule_cronjob_name("orders", "evening", 1),
        },
    ]
    # A single schedule keeps today's CronJob: name and schedule unchanged.
    single = desired_state(job(schedule={"cron": "0 * * * *"}), SETTINGS, NOW)
    assert [m["metadata"]["name"] for m in single.cronjobs] == ["orders"]


def test_schedule_cronjob_names_stay_valid_and_distinct() -> None:
    long = "x" * 60
    names = {schedule_cronjob_name(long, f"s{i}", i) for i in range(10)}
    assert len(names) == 10
    assert all(len(n) <= 52 for n in names)
    assert schedule_cronjob_name("a", "b", 0) == "a"
    assert schedule_cronjob_name("a", "b", 1).startswith("a-b-")


def test_schedule_cronjob_names_never_collide_across_jobs() -> None:
    # "a" + "b-x" and "a-b" + "x" join alike; the hash of job/schedule keeps them apart.
    assert schedule_cronjob_name("a", "b-x", 1) != schedule_cronjob_name("a-b", "x", 1)
    # Not by accident of length either: every split of one hyphenated text differs.
    text = "orders-eu-west-night"
    parts = text.split("-")
    names = {
        schedule_cronjob_name("-".join(parts[:i]), "-".join(parts[i:]), 1)
        for i in range(1, len(parts))
    }
    assert len(names) == len(parts) - 1
    assert all(len(n) <= 52 and n.startswith(text[:20]) for n in names)


def test_jitter_reaches_the_runner() -> None:
    desired = desired_state(job(schedule={"cron": "0 2 * * *"}, jitterSeconds=120), SETTINGS, NOW)
    assert env(desired.cronjob)[c.ENV_JITTER_SECONDS]["value"] == "120"


def test_h_is_resolved_from_namespace_name_and_schedule_name() -> None:
    body = [{"cron": "H 2 * * *"}, {"name": "b", "cron": "H 2 * * *"}]
    desired = desired_state(job(schedules=body), SETTINGS, NOW)
    crons = [m["spec"]["schedule"] for m in desired.cronjobs]
    assert crons == [
        resolve_hashed("H 2 * * *", "ns/orders/s0"),
        resolve_hashed("H 2 * * *", "ns/orders/b"),
    ]
    assert all("H" not in cron for cron in crons)
    # Stable: the same job decides the same minute again; another job another seed.
    again = desired_state(job(schedules=body), SETTINGS, NOW)
    assert [m["spec"]["schedule"] for m in again.cronjobs] == crons
    other = desired_state(job("billing", schedules=body), SETTINGS, NOW)
    assert other.schedules[0].cron == resolve_hashed("H 2 * * *", "ns/billing/s0")


def test_a_bad_h_or_a_too_frequent_schedule_names_its_place_in_the_list() -> None:
    with pytest.raises(RejectedError) as bad:
        desired_state(job(schedules=[{"cron": "0 3 * * *"}, {"cron": "H(5-1) * * * *"}]), SETTINGS)
    assert bad.value.reason == "InvalidSchedule"
    assert bad.value.message.startswith("spec.schedules[1].cron:")
    fast = [{"cron": "0 3 * * *"}, {"cron": "*/2 * * * *"}]
    with pytest.raises(RejectedError) as frequent:
        desired_state(job(schedules=fast), operator_settings(min_interval_seconds=300))
    assert frequent.value.reason == "ScheduleTooFrequent"
    assert "spec.schedules[1].cron" in frequent.value.message


def test_next_run_times_merge_every_schedule() -> None:
    desired = desired_state(job(schedules=TWO), SETTINGS, NOW)
    assert next_runs(desired, NOW) == [
        "2026-11-23T11:00:00Z",
        "2026-11-23T12:00:00Z",
        "2026-11-23T13:00:00Z",
        "2026-11-23T14:00:00Z",
        "2026-11-23T15:00:00Z",
    ]
    late = NOW.replace(hour=17, minute=10)
    assert next_runs(desired, late)[:3] == [
        "2026-11-23T18:00:00Z",
        "2026-11-23T18:30:00Z",
        "2026-11-23T19:00:00Z",
    ]


# ------------------------------------------------------------------ the window


def window(now: datetime, **times: datetime | None) -> sch.Window:
    return sch.window(
        enabled=True,
        active_from=times.get("active_from"),
        active_until=times.get("active_until"),
        suspend_until=times.get("suspend_until"),
        suspend_reason="upgrade",
        now=now,
    )


def test_the_window_says_whether_runs_happen_and_when_that_changes() -> None:
    soon, later = NOW + timedelta(minutes=5), NOW + timedelta(hours=1)
    before = window(NOW, active_from=soon, active_until=later)
    assert (before.running, before.reason, before.next_change) == (False, sch.INACTIVE, soon)
    inside = window(soon, active_from=soon, active_until=later)  # activeFrom is inclusive
    assert (inside.running, inside.next_change) == (True, later)
    after = window(later, active_from=soon, active_until=later)  # activeUntil is not
    assert (after.running, after.reason, after.next_change) == (False, sch.INACTIVE, None)
    paused = window(NOW, suspend_until=soon)
    assert (paused.running, paused.reason, paused.next_change) == (
        False,
        sch.SUSPENDED_UNTIL,
        soon,
    )
    assert "upgrade" in paused.message
    assert window(soon, suspend_until=soon).running
    off = sch.window(
        enabled=False,
        active_from=None,
        active_until=None,
        suspend_until=soon,
        suspend_reason=None,
        now=NOW,
    )
    assert (off.running, off.reason, off.next_change) == (False, sch.SUSPENDED, soon)


def test_outside_the_window_every_cronjob_is_suspended() -> None:
    until = rfc3339(NOW + timedelta(minutes=1))
    cr = job(schedules=TWO, suspendUntil=until, suspendReason="upgrade")
    paused = desired_state(cr, SETTINGS, NOW)
    assert [m["spec"]["suspend"] for m in paused.cronjobs] == [True, True]
    assert not paused.running
    # Nothing is shown before the suspension ends; a slot at its end runs.
    assert next_runs(paused, NOW)[0] == "2026-11-23T11:00:00Z"
    resumed = desired_state(cr, SETTINGS, NOW + timedelta(minutes=1))
    assert [m["spec"]["suspend"] for m in resumed.cronjobs] == [False, False]
    closed = job(schedules=TWO, activeUntil=rfc3339(NOW - timedelta(seconds=1)))
    assert [m["spec"]["suspend"] for m in desired_state(closed, SETTINGS, NOW).cronjobs] == [
        True,
        True,
    ]
    assert next_runs(desired_state(closed, SETTINGS, NOW), NOW) == []


def test_the_next_boundary_is_read_from_the_raw_spec() -> None:
    soon = NOW + timedelta(seconds=30)
    raw = {"activeFrom": rfc3339(NOW - timedelta(days=1)), "suspendUntil": rfc3339(soon)}
    assert sch.next_boundary(raw, NOW) == soon
    assert sch.next_boundary({"activeUntil": "not a time"}, NOW) is None
    assert sch.next_boundary({}, NOW) is None


def test_a_resume_at_its_boundary_lets_the_slot_at_the_boundary_run() -> None:
    grace = timedelta(seconds=60)
    boundary = NOW.replace(second=0)
    # The timer fires a little after the boundary: the clock goes to just before it.
    assert sch.clock_reset_time(boundary + timedelta(seconds=0.2), boundary, grace) == (
        boundary - timedelta(seconds=1)
    )
    # Resumed long after (the operator was down): no slot that passed fires.
    late = boundary + timedelta(minutes=10)
    assert sch.clock_reset_time(late, boundary, grace) == late
    assert sch.clock_reset_time(late, None, grace) == late


def test_status_suspension_records_the_resume_once() -> None:
    until = NOW + timedelta(minutes=1)

    def state(now: datetime, **stored: str | None) -> sch.SuspensionState | None:
        return sch.suspension(
            until=stored.pop("until_", until),  # type: ignore[arg-type]
            reason="upgrade",
            stored_until=stored.get("until"),
            stored_reason=stored.get("reason"),
            stored_resumed_at=stored.get("resumed"),
            now=now,
        )

    pending = state(NOW)
    assert pending == sch.SuspensionState(until, "upgrade", None, False)
    ended = state(until + timedelta(seconds=1), until=rfc3339(until))
    assert ended == sch.SuspensionState(until, "upgrade", until + timedelta(seconds=1), True)
    kept = state(until + timedelta(hours=1), until=rfc3339(until), resumed=rfc3339(until))
    assert kept == sch.SuspensionState(until, "upgrade", until, False)
    # suspendUntil removed before its time: resumed then, once.
    removed = state(NOW, until_=None, until=rfc3339(until), reason="upgrade")
    assert removed == sch.SuspensionState(until, "upgrade", NOW, True)
    assert state(NOW, until_=None) is None


# ------------------------------------------------------------------ missed slots


def test_missed_slots_are_counted_per_schedule_and_named_apart() -> None:
    """Both schedules at 10:00; only s0's CronJob ran it: the other's slot is missed, with
    its own runId, though a Job exists for that instant."""
    both = [{"cron": "0 * * * *"}, {"name": "twin", "cron": "0 * * * *"}]
    desired = desired_state(job(schedules=both), SETTINGS, NOW)
    ran = {
        "metadata": {
            "name": "orders-29400000",
            "namespace": "ns",
            "creationTimestamp": "2026-11-23T10:00:01Z",
            "annotations": {
                c.SCHEDULED_TIMESTAMP_ANNOTATION: "2026-11-23T10:00:00Z",
                c.SCHEDULE_ANNOTATION: "s0",
            },
        },
        "status": {"startTime": "2026-11-23T10:00:01Z", "completionTime": "2026-11-23T10:00:09Z"},
    }
    history: list[RunRecordDict] = []
    records, mark = hk.missed_per_schedule(
        desired,
        since=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
        now=NOW + timedelta(minutes=5),
        jobs=[ran],
        history=history,
        grace=timedelta(seconds=60),
    )
    assert [(r.run_id, r.schedule) for r in records] == [
        ("missed-twin-2026-11-23T10:00:00Z", "twin")
    ]
    assert mark == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_every_schedule_gets_the_mode_and_rules_of_the_one_shared_resolution() -> None:
    body = [{"cron": "H 2 * * *"}, {"name": "rule", "rrule": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"}]
    cr = job(schedules=body)
    planned = sch.plan_schedules(
        desired_state(cr, SETTINGS, NOW).spec,
        namespace="ns",
        name="orders",
        zone="UTC",
        min_interval_seconds=60,
    )
    spec_ = desired_state(cr, SETTINGS, NOW).spec
    shared = time_rules(spec_, job=("ns", "orders"), zone="UTC", calendar=None)
    assert [p.rule for p in planned] == list(shared.schedules)
    assert (
        [p.mode for p in planned]
        == [schedule_mode(shared, r) for r in shared.schedules]
        == [ScheduleMode.CRON_JOB, ScheduleMode.OPERATOR]
    )
