"""concurrencyPolicy Enqueue decided by pure functions (no cluster): slots arriving while
a run is active wait, the oldest starts when it ends, beyond maxQueued the oldest waiting
is dropped and recorded missed (QueueFull), and run-now queues too. Times are fixed
instants, never the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chronos.models.chronosjob import (
    ChronosJobSpec,
    ConcurrencyPolicy,
    RunResult,
    RunTrigger,
)
from chronos.models.jobstatus import QueuedRun
from chronos.models.queue import DEFAULT_MAX_QUEUED, QUEUE_FULL, enqueues, max_queued
from chronos.models.timing import ScheduleMode
from chronos.operator import firing, queue, runnow
from chronos.operator.schedules import plan_schedules
from chronos.schedule.occurrences import ScheduleRule, TimeRules
from chronos.timerules import schedule_mode

NOW = datetime(2026, 3, 4, 10, 0, 5, tzinfo=UTC)
EVERY_MINUTE = TimeRules(schedules=(ScheduleRule("s0", "* * * * *", None),), zone="UTC")
CRONJOBS = {"s0": "sync"}


def slot(minute: int) -> QueuedRun:
    at = datetime(2026, 3, 4, 10, minute, tzinfo=UTC)
    return queue.slot_arrival(
        firing.slot_job_name("sync", at),
        trigger=RunTrigger.SCHEDULE,
        schedule="s0",
        scheduled_time=at,
        now=at,
    )


def test_a_slot_with_nothing_active_and_nothing_queued_starts_at_once() -> None:
    result = queue.plan([], [slot(0)], active=[], known=set(), limit=1, now=NOW)
    assert result.start == slot(0)
    assert result.queued == []
    assert result.dropped == []


def test_a_slot_arriving_while_a_run_is_active_waits() -> None:
    result = queue.plan([], [slot(1)], active=["sync-0"], known=set(), limit=1, now=NOW)
    assert result.start is None
    assert result.queued == [slot(1)]
    assert result.changed


def test_the_oldest_queued_starts_when_the_run_ends_the_rest_keep_waiting() -> None:
    result = queue.plan([slot(1), slot(2)], [], active=[], known=set(), limit=5, now=NOW)
    assert result.start == slot(1)
    assert result.queued == [slot(2)]


def test_beyond_max_queued_the_oldest_waiting_is_dropped_as_queue_full() -> None:
    result = queue.plan([slot(1)], [slot(2)], active=["sync-0"], known=set(), limit=1, now=NOW)
    assert result.start is None
    assert result.queued == [slot(2)]
    [record] = result.dropped
    assert record.run_id == slot(1).run_id
    assert record.result == RunResult.MISSED
    assert record.reason == QUEUE_FULL
    assert record.scheduled_time == slot(1).scheduled_time
    assert record.schedule == "s0"
    assert "maxQueued 1" in (record.message or "")


def test_a_queued_run_already_served_leaves_the_queue_without_a_second_start() -> None:
    # A restart between creating its Job and writing the queue: its name is known.
    result = queue.plan([slot(1), slot(2)], [], active=[], known={slot(1).run_id}, limit=5, now=NOW)
    assert result.start == slot(2)
    assert result.queued == []
    # An arrival already queued (its slot listed again) is not queued twice.
    again = queue.plan([slot(1)], [slot(1)], active=["x"], known=set(), limit=5, now=NOW)
    assert again.queued == [slot(1)]
    assert not again.changed


def test_three_overlapping_slots_under_max_queued_1_run_two_and_drop_one() -> None:
    """The issue's scenario, pass by pass as the operator serves it: firing plans each
    minute's slot as under Allow, the queue decides."""
    stored: list[QueuedRun] = []
    active: list[str] = []
    known: set[str] = set()
    started: list[str] = []
    dropped: list[str] = []
    since = datetime(2026, 3, 4, 9, 59, 30, tzinfo=UTC)
    for minute in range(3):  # 10:00, 10:01, 10:02; the first run lasts all three minutes
        now = datetime(2026, 3, 4, 10, minute, 5, tzinfo=UTC)
        fire = firing.plan(
            EVERY_MINUTE,
            cronjobs=CRONJOBS,
            since=since,
            now=now,
            known=known,
            active=active,
            policy=ConcurrencyPolicy.ALLOW,
            late=timedelta(seconds=15),
        )
        arrivals = [
            queue.slot_arrival(
                f.job,
                trigger=f.trigger,
                schedule=f.slot.schedule,
                scheduled_time=f.slot.instant,
                now=now,
            )
            for f in fire.fire
        ]
        result = queue.plan(stored, arrivals, active=active, known=known, limit=1, now=now)
        if result.start is not None:
            started.append(result.start.run_id)
            active.append(result.start.run_id)
            known.add(result.start.run_id)
        dropped += [r.run_id for r in result.dropped]
        known |= {r.run_id for r in result.dropped}
        stored = result.queued
        since = fire.fired_until or since
    # The first run ends: the newest slot, queued, starts; the middle one was dropped.
    result = queue.plan(stored, [], active=[], known=known, limit=1, now=NOW)
    assert result.start is not None
    started.append(result.start.run_id)
    names = [
        firing.slot_job_name("sync", datetime(2026, 3, 4, 10, m, tzinfo=UTC)) for m in (0, 1, 2)
    ]
    assert started == [names[0], names[2]]
    assert dropped == [names[1]]
    assert result.queued == []


def test_a_lower_max_queued_drops_the_oldest_at_the_next_pass() -> None:
    result = queue.plan(
        [slot(1), slot(2), slot(3)], [], active=["x"], known=set(), limit=1, now=NOW
    )
    assert [r.run_id for r in result.dropped] == [slot(1).run_id, slot(2).run_id]
    assert result.queued == [slot(3)]


def test_run_now_under_enqueue_queues_while_a_run_is_active_or_others_wait() -> None:
    enqueue = ConcurrencyPolicy.ENQUEUE
    assert runnow.decide(enqueue, "j-now", active=["j-1"], known=set()).action == (
        runnow.Action.ENQUEUE
    )
    # Nothing active, but runs wait: it queues behind them (oldest first).
    assert runnow.decide(enqueue, "j-now", active=[], known=set(), queued=["j-2"]).action == (
        runnow.Action.ENQUEUE
    )
    # Nothing active, nothing waiting: it starts at once.
    assert runnow.decide(enqueue, "j-now", active=[], known=set()).action == runnow.Action.CREATE
    # Already queued (a restart before the token was marked served): served.
    assert runnow.decide(
        enqueue, "j-now", active=["j-1"], known=set(), queued=["j-now"]
    ).action == (runnow.Action.SERVED)


def test_a_queued_run_now_starts_under_its_own_name_and_token() -> None:
    at = datetime(2026, 3, 4, 10, 0, 1, 250000, tzinfo=UTC)
    run = queue.run_now_arrival("sync-now-abc", token="t1", requested_at=at)
    result = queue.plan([slot(1), run], [], active=[], known=set(), limit=5, now=NOW)
    assert result.start == slot(1)
    assert result.queued == [run]
    later = queue.plan(result.queued, [], active=[], known={slot(1).run_id}, limit=5, now=NOW)
    assert later.start is not None
    assert (later.start.trigger, later.start.token) == (RunTrigger.RUN_NOW, "t1")
    assert later.start.queued_at == at


SPEC = {"task": {"type": "pipeline_start", "pipelineId": "p1"}, "schedule": {"cron": "* * * * *"}}


def test_max_queued_defaults_to_10_and_needs_enqueue() -> None:
    spec = ChronosJobSpec.model_validate({**SPEC, "concurrencyPolicy": "Enqueue"})
    assert enqueues(spec)
    assert max_queued(spec) == DEFAULT_MAX_QUEUED == 10
    assert max_queued(spec.model_copy(update={"max_queued": 1})) == 1
    with pytest.raises(ValueError, match="maxQueued needs concurrencyPolicy Enqueue"):
        ChronosJobSpec.model_validate({**SPEC, "maxQueued": 3})
    with pytest.raises(ValueError, match="less than or equal to 100"):
        ChronosJobSpec.model_validate({**SPEC, "concurrencyPolicy": "Enqueue", "maxQueued": 101})


def test_enqueue_puts_a_plain_cron_schedule_in_operator_mode() -> None:
    rule = EVERY_MINUTE.schedules[0]
    assert schedule_mode(EVERY_MINUTE, rule) == ScheduleMode.CRON_JOB
    assert schedule_mode(EVERY_MINUTE, rule, queues=True) == ScheduleMode.OPERATOR


def test_a_queue_left_by_a_policy_no_longer_enqueue_is_recorded_missed_not_started() -> None:
    result = queue.abandon([slot(1), slot(2)], known={slot(1).run_id}, now=NOW)
    assert result.start is None
    assert result.queued == []
    assert result.changed
    assert [(r.run_id, r.result, r.reason) for r in result.dropped] == [
        (slot(2).run_id, RunResult.MISSED, queue.QUEUE_ABANDONED)
    ]


def test_an_enqueue_jobs_schedules_are_the_operators_to_fire() -> None:
    spec = ChronosJobSpec.model_validate({**SPEC, "concurrencyPolicy": "Enqueue"})
    planned = plan_schedules(
        spec, namespace="ns", name="orders", zone="UTC", min_interval_seconds=60
    )
    assert [p.mode for p in planned] == [ScheduleMode.OPERATOR]
    forbid = ChronosJobSpec.model_validate(SPEC)
    planned = plan_schedules(
        forbid, namespace="ns", name="orders", zone="UTC", min_interval_seconds=60
    )
    assert [p.mode for p in planned] == [ScheduleMode.CRON_JOB]


def test_a_run_now_joining_a_full_queue_drops_the_oldest_waiting() -> None:
    """runnow's write of status.queued is bounded by the same rule as the planner's (the
    CRD caps the list at 100: an unbounded write would be refused for ever)."""
    run = queue.run_now_arrival("sync-now-abc", token="t1", requested_at=NOW)
    kept, dropped = queue.bound([slot(1), slot(2), run], limit=2, now=NOW)
    assert kept == [slot(2), run]
    assert [(r.run_id, r.reason) for r in dropped] == [(slot(1).run_id, QUEUE_FULL)]
