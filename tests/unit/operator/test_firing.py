"""Operator mode, catch-up and backfill decided by pure functions (no cluster): which
Jobs start, which slots are recorded, and that serving a pass twice starts nothing twice.
Times are fixed instants, never the wall clock."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from chronos.models.chronosjob import ConcurrencyPolicy, RunResult, RunTrigger
from chronos.models.timing import BackfillState, CatchUpPolicy
from chronos.operator import backfill, firing
from chronos.operator.naming import backfill_job_name
from chronos.schedule.calendar import Calendar
from chronos.schedule.occurrences import ScheduleRule, TimeRules

NOW = datetime(2026, 3, 4, 10, 0, 5, tzinfo=UTC)  # a Wednesday
EVERY_5 = TimeRules(schedules=(ScheduleRule("s0", "*/5 * * * *", None),), zone="UTC")
CRONJOBS = {"s0": "sync"}
LATE = timedelta(seconds=15)


def plan(rules: TimeRules = EVERY_5, **kw: object) -> firing.FiringPlan:
    args: dict[str, object] = {
        "cronjobs": CRONJOBS,
        "since": NOW - timedelta(minutes=1),
        "now": NOW,
        "known": set(),
        "active": [],
        "policy": ConcurrencyPolicy.FORBID,
        "late": LATE,
    }
    args.update(kw)
    return firing.plan(rules, **args)  # type: ignore[arg-type]


def test_the_slot_job_is_named_as_the_cronjob_controller_names_it() -> None:
    slot = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    assert firing.slot_job_name("sync", slot) == f"sync-{int(slot.timestamp()) // 60}"


def test_a_due_slot_fires_once_and_the_mark_moves_to_it() -> None:
    result = plan()
    slot = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    assert [(f.job, f.trigger) for f in result.fire] == [
        (firing.slot_job_name("sync", slot), RunTrigger.SCHEDULE)
    ]
    assert result.fired_until == slot
    assert result.wake_at == slot + timedelta(minutes=5)
    # The same pass again, its Job now known (created, or found after a restart):
    again = plan(known={result.fire[0].job})
    assert again.fire == []
    assert again.records == []


def test_a_slot_older_than_the_deadline_is_missed_not_fired_late() -> None:
    result = plan(since=NOW - timedelta(minutes=11), now=NOW + timedelta(minutes=1))
    assert result.fire == []
    assert [r.result for r in result.records] == [RunResult.MISSED] * 3
    assert {r.reason for r in result.records} == {"StartingDeadlineExceeded"}


def test_forbid_skips_a_slot_while_a_run_is_active_replace_deletes_it() -> None:
    forbid = plan(active=["sync-1"])
    assert forbid.fire == []
    assert forbid.records[0].reason == "ConcurrencyForbid"
    replace = plan(active=["sync-1"], policy=ConcurrencyPolicy.REPLACE)
    assert replace.fire[0].replace == ("sync-1",)


def test_an_excluded_day_is_recorded_once_as_skipped_with_the_calendar() -> None:
    holidays = Calendar(name="holidays", dates=frozenset({date(2026, 3, 4)}))
    rules = TimeRules(
        schedules=EVERY_5.schedules, zone="UTC", calendar=holidays, on_excluded="Skip"
    )
    result = plan(rules)
    assert result.fire == []
    [record] = result.records
    assert (record.result, record.calendar, record.schedule) == (
        RunResult.SKIPPED,
        "holidays",
        "s0",
    )
    assert record.run_id == firing.slot_job_name("sync", datetime(2026, 3, 4, 10, tzinfo=UTC))
    assert record.slot_wall_time == "2026-03-04T10:00:00"
    assert record.slot_offset == "+00:00"
    assert result.fired_until == datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    # Recorded: its runId is in the history now, so the next pass records nothing.
    assert plan(rules, known={record.run_id}).records == []


def catch_up(policy: CatchUpPolicy, window: int = 3600, most: int = 10) -> firing.CatchUp:
    return firing.CatchUp(policy, timedelta(seconds=window), most)


def outage(**kw: object) -> firing.FiringPlan:
    """The operator was down from 09:42 to 10:00:05: slots 09:45, 09:50, 09:55 missed,
    10:00 due."""
    kw.setdefault("since", datetime(2026, 3, 4, 9, 42, tzinfo=UTC))
    return plan(EVERY_5, **kw)


def test_catch_up_all_starts_every_missed_slot_oldest_first() -> None:
    result = outage(catch_up=catch_up(CatchUpPolicy.ALL), policy=ConcurrencyPolicy.ALLOW)
    triggers = [(f.slot.instant.minute, f.trigger) for f in result.fire]
    assert triggers == [
        (0, RunTrigger.SCHEDULE),
        (45, RunTrigger.CATCHUP),
        (50, RunTrigger.CATCHUP),
        (55, RunTrigger.CATCHUP),
    ]
    assert result.records == []
    # A restart during catch-up: whatever was created is known, nothing starts twice.
    done = {f.job for f in result.fire[:2]}
    again = outage(catch_up=catch_up(CatchUpPolicy.ALL), policy=ConcurrencyPolicy.ALLOW, known=done)
    assert {f.job for f in again.fire} == {f.job for f in result.fire} - done


def test_catch_up_latest_starts_only_the_newest_and_records_the_others() -> None:
    result = outage(
        catch_up=catch_up(CatchUpPolicy.LATEST), policy=ConcurrencyPolicy.ALLOW, now=NOW
    )
    assert [f.slot.instant.minute for f in result.fire if f.trigger == RunTrigger.CATCHUP] == [55]
    assert sorted(r.scheduled_time.minute for r in result.records if r.scheduled_time) == [45, 50]
    assert {r.reason for r in result.records} == {"CatchUpLimit"}


def test_catch_up_respects_max_and_the_window() -> None:
    result = outage(
        catch_up=catch_up(CatchUpPolicy.ALL, window=900, most=1), policy=ConcurrencyPolicy.ALLOW
    )
    # 09:45 is outside the 15-minute window; of 09:50 and 09:55 only the oldest runs.
    assert [f.slot.instant.minute for f in result.fire if f.trigger == RunTrigger.CATCHUP] == [50]
    reasons = {r.scheduled_time.minute: r.reason for r in result.records if r.scheduled_time}
    assert reasons == {45: "StartingDeadlineExceeded", 55: "CatchUpLimit"}


def test_under_forbid_catch_up_runs_one_after_another_and_holds_the_mark() -> None:
    result = outage(catch_up=catch_up(CatchUpPolicy.ALL), now=NOW - timedelta(seconds=30))
    assert [f.slot.instant.minute for f in result.fire] == [45]
    assert result.fired_until == datetime(2026, 3, 4, 9, 45, tzinfo=UTC)
    # The run ended (its Job known, none active): the next one starts.
    after = outage(
        catch_up=catch_up(CatchUpPolicy.ALL),
        now=NOW - timedelta(seconds=30),
        since=result.fired_until,
        known={result.fire[0].job},
    )
    assert [f.slot.instant.minute for f in after.fire] == [50]


def test_native_schedules_wait_for_the_controller_then_catch_up() -> None:
    native = frozenset({"s0"})
    within = plan(native=native, catch_up=catch_up(CatchUpPolicy.ALL))
    assert within.fire == []
    assert within.fired_until is None
    later = plan(
        native=native, catch_up=catch_up(CatchUpPolicy.ALL), now=NOW + timedelta(seconds=30)
    )
    assert [(f.trigger, f.slot.instant.minute) for f in later.fire] == [(RunTrigger.CATCHUP, 0)]
    started = plan(
        native=native,
        catch_up=catch_up(CatchUpPolicy.ALL),
        now=NOW + timedelta(seconds=30),
        known={later.fire[0].job},  # the controller (or we) created it
    )
    assert started.fire == []


# ------------------------------------------------------------------------ backfill


def request(**fields: object) -> str:
    return json.dumps([{"id": "march", **fields}])


def backfill_plan(annotation: str, **kw: object) -> backfill.BackfillPlan:
    args: dict[str, object] = {
        "job": "sync",
        "annotation": annotation,
        "status": [],
        "cronjobs": CRONJOBS,
        "known": set(),
        "active": [],
        "policy": ConcurrencyPolicy.ALLOW,
        "now": NOW,
    }
    args.update(kw)
    return backfill.plan(EVERY_5, **args)  # type: ignore[arg-type]


def test_backfill_creates_one_job_per_slot_in_the_range_each_once() -> None:
    text = request(**{"from": "2026-03-04T09:00:00Z", "to": "2026-03-04T09:20:00Z"})
    result = backfill_plan(text)
    slots = [datetime(2026, 3, 4, 9, m, tzinfo=UTC) for m in (0, 5, 10, 15, 20)]
    assert [f.job for f in result.fire] == [backfill_job_name("sync", "march", s) for s in slots]
    assert {f.trigger for f in result.fire} == {RunTrigger.BACKFILL}
    [entry] = result.entries or []
    assert (entry.state, entry.slots, entry.created) == (BackfillState.CREATED, 5, 5)
    assert result.served == ["march"]
    # Served again (an operator restart before the annotation was trimmed): nothing new.
    status = [entry.model_dump(mode="json", by_alias=True)]
    again = backfill_plan(text, status=status, known={f.job for f in result.fire})
    assert again.fire == []
    assert again.entries is None
    assert again.served == ["march"]


def test_backfill_max_takes_the_oldest_and_forbid_starts_one_at_a_time() -> None:
    text = request(**{"from": "2026-03-04T09:00:00Z", "to": "2026-03-04T09:20:00Z", "max": 2})
    result = backfill_plan(text, policy=ConcurrencyPolicy.FORBID)
    assert [f.slot.instant.minute for f in result.fire] == [0]
    [entry] = result.entries or []
    assert (entry.state, entry.slots, entry.created) == (BackfillState.PENDING, 2, 1)
    assert result.served == []


def test_a_bad_backfill_range_is_rejected_with_the_field() -> None:
    future = backfill_plan(
        request(**{"from": "2026-03-04T09:00:00Z", "to": "2026-03-05T09:00:00Z"})
    )
    assert future.fire == []
    assert "to (2026-03-05T09:00:00Z) is in the future" in future.rejected[0][1]
    reversed_ = backfill_plan(
        request(**{"from": "2026-03-04T09:00:00Z", "to": "2026-03-01T00:00:00Z"})
    )
    assert reversed_.fire == []
    assert "from must be before to" in reversed_.rejected[0][1]
    garbage = backfill_plan("{not json")
    assert garbage.rejected[0][0] == "annotation"
    assert (garbage.entries or [])[0].state is BackfillState.REJECTED
