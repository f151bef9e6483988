"""The notification events (issue 21) decided by pure functions: which events a job's
channels hear of, their stable ids, the dead-man, the delivery ledger and the per-job
gauges. ``now`` is a fixed instant, never the wall clock; the schedule is the real
engine (``slot_finder``) or a stand-in function where a test is about something else."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from support import ROOT

from chronos.models.base import MAX_TEXT
from chronos.models.notify import (
    LEDGER_SIZE,
    UNDELIVERED_SIZE,
    Alerting,
    NotifyOn,
    Undelivered,
    ledger_key,
)
from chronos.models.wire import ChronosJobDict, NotificationsStatusDict, RunRecordDict
from chronos.operator import metrics, notices
from chronos.schedule.calendar import Calendar
from chronos.schedule.occurrences import ScheduleRule, TimeRules
from chronos.times import rfc3339

NOW = datetime(2031, 5, 6, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=2)
UID = "0b5f2c1e-1111-2222-3333-444455556666"
HOURLY = TimeRules(schedules=(ScheduleRule("s0", "0 * * * *", None),), zone="UTC")
EVERYTHING = [e.value for e in NotifyOn]


def at(minutes: float) -> str:
    """``minutes`` before NOW, as status writes it."""
    return rfc3339(NOW - timedelta(minutes=minutes))


def run(
    run_id: str,
    result: str,
    end_minutes_ago: float | None,
    *,
    took: float = 1.0,
    by: str = "runner",
    **extra: Any,
) -> RunRecordDict:
    record: dict[str, Any] = {"runId": run_id, "trigger": "schedule", "result": result}
    if end_minutes_ago is not None:
        record["endTime"] = at(end_minutes_ago)
        record["startTime"] = at(end_minutes_ago + took)
        record["durationSeconds"] = took * 60
    record["reportedBy"] = by
    record.update(extra)
    return record  # type: ignore[return-value]


def job(
    history: list[RunRecordDict] | None = None,
    *,
    on: list[str] | None = None,
    notify: list[dict[str, Any]] | None = None,
    alerting: dict[str, Any] | None = None,
    since: str | None = rfc3339(SINCE),
    created: str = rfc3339(SINCE - timedelta(days=30)),
    delivered: list[str] | None = None,
    undelivered: list[dict[str, Any]] | None = None,
    **status: Any,
) -> ChronosJobDict:
    spec: dict[str, Any] = {
        "notify": notify if notify is not None else [{"channel": "ops", "on": on or EVERYTHING}]
    }
    if alerting is not None:
        spec["alerting"] = alerting
    ledger: dict[str, Any] = {"since": since}
    if delivered is not None:
        ledger["delivered"] = delivered
    if undelivered is not None:
        ledger["undelivered"] = undelivered
    whole = {
        "metadata": {"namespace": "team", "name": "sync", "uid": UID, "creationTimestamp": created},
        "spec": spec,
        "status": {"history": list(reversed(history or [])), "notifications": ledger, **status},
    }
    return cast(ChronosJobDict, whole)


def ids(pending: list[notices.Pending], channel: str | None = None) -> list[str]:
    return [n.id for ch, n in pending if channel is None or ch == channel]


def events_of(pending: list[notices.Pending], event: NotifyOn) -> list[str]:
    return [n.id for _, n in pending if n.event is event]


def no_slot(after: datetime) -> datetime | None:
    return None


# ------------------------------------------------------------------ failures and streaks


def test_every_failure_fires_with_the_default_streak_and_carries_its_count() -> None:
    cr = job([run("a", "failed", 50), run("b", "failed", 40)], on=["failed"])
    pending = notices.plan(cr, now=NOW)
    assert ids(pending) == [f"{UID}.a.failed", f"{UID}.b.failed"]
    assert [n.consecutive_failures for _, n in pending] == [1, 2]
    assert pending[1][1].end_time == datetime.fromisoformat(at(40))
    assert pending[1][1].occurred_at == datetime.fromisoformat(at(40))


def test_failed_fires_from_the_streak_threshold_on() -> None:
    history = [run(r, "failed", 60 - i) for i, r in enumerate("abcd")]
    cr = job(history, on=["failed"], alerting={"failureStreak": 3})
    assert ids(notices.plan(cr, now=NOW)) == [f"{UID}.c.failed", f"{UID}.d.failed"]


def test_a_success_resets_the_streak_and_missed_skipped_aborted_do_not() -> None:
    history = [
        run("a", "failed", 90),
        run("b", "succeeded", 80),
        run("c", "failed", 70),
        run("m", "missed", 65),
        run("s", "skipped", 64),
        run("x", "aborted", 63),
        run("d", "failed", 60),
    ]
    cr = job(history, on=["failed"], alerting={"failureStreak": 2})
    pending = notices.plan(cr, now=NOW)
    assert ids(pending) == [f"{UID}.d.failed"]
    assert pending[0][1].consecutive_failures == 2
    assert notices.consecutive_failures(notices.runs(cr)) == 2


def test_recovered_fires_on_the_first_success_after_a_streak_that_reached_the_threshold() -> None:
    history = [
        run("a", "failed", 90),
        run("b", "succeeded", 80),  # one failure only: below the threshold
        run("c", "failed", 70),
        run("d", "failed", 60),
        run("e", "succeeded", 50),  # recovered
        run("f", "succeeded", 40),  # not again
    ]
    cr = job(history, on=["recovered"], alerting={"failureStreak": 2})
    pending = notices.plan(cr, now=NOW)
    assert ids(pending) == [f"{UID}.e.recovered"]
    assert pending[0][1].consecutive_failures == 2  # the streak it ended


def test_recovered_after_a_single_failure_with_the_default_streak() -> None:
    cr = job([run("a", "failed", 90), run("b", "succeeded", 80)], on=["recovered", "succeeded"])
    assert ids(notices.plan(cr, now=NOW)) == [f"{UID}.b.recovered", f"{UID}.b.succeeded"]


# ------------------------------------------------------------------------- unreported


def test_a_failure_the_operator_recorded_is_unreported_and_heard_once_by_a_channel_with_both() -> (
    None
):
    history = [run("a", "failed", 30, by="operator", reason="FailedLaunch")]
    both = {"channel": "both", "on": ["failed", "unreported"]}
    failed_only = {"channel": "pager", "on": ["failed"]}
    cr = job(history, notify=[both, failed_only])
    pending = notices.plan(cr, now=NOW)
    assert ids(pending, "both") == [f"{UID}.a.unreported"]
    assert ids(pending, "pager") == [f"{UID}.a.failed"]
    unreported = pending[[ch for ch, _ in pending].index("both")][1]
    assert unreported.reason == "FailedLaunch"


def test_a_runner_reported_failure_is_not_unreported_nor_is_an_operator_success() -> None:
    history = [run("a", "failed", 30), run("b", "succeeded", 20, by="operator")]
    cr = job(history, on=["unreported"])
    assert notices.plan(cr, now=NOW) == []


# ----------------------------------------------------------------- succeeded, missed


def test_succeeded_and_missed_each_fire_per_record() -> None:
    history = [
        run("a", "succeeded", 30),
        run("missed-x", "missed", None, by="operator", scheduledTime=at(25)),
    ]
    cr = job(history, on=["succeeded", "missed"])
    pending = notices.plan(cr, now=NOW)
    assert ids(pending) == [f"{UID}.a.succeeded", f"{UID}.missed-x.missed"]
    assert pending[1][1].occurred_at == datetime.fromisoformat(at(25))


def test_last_run_counts_once_with_its_history_entry() -> None:
    record = run("a", "failed", 10)
    cr = job([record], on=["failed"], lastRun=record)
    assert ids(notices.plan(cr, now=NOW)) == [f"{UID}.a.failed"]
    only_last = job([], on=["failed"], lastRun=run("b", "failed", 5))
    assert ids(notices.plan(only_last, now=NOW)) == [f"{UID}.b.failed"]


# ---------------------------------------------------------------------- started, slow


def test_started_fires_for_an_active_run_and_keeps_its_id_once_it_finished() -> None:
    active = job(
        [],
        on=["started"],
        activeRunStarts=[{"runId": "r", "trigger": "run-now", "startTime": at(3)}],
    )
    (first,) = notices.plan(active, now=NOW)
    assert first[1].id == f"{UID}.r.started"
    assert first[1].trigger == "run-now"
    done = job([run("r", "succeeded", 1, took=2)], on=["started"])
    assert ids(notices.plan(done, now=NOW)) == [first[1].id]


def test_slow_fires_when_an_active_run_passes_the_expected_duration_not_before() -> None:
    alerting = {"expectedDurationSeconds": 600}
    active = [{"runId": "r", "trigger": "schedule", "startTime": at(10)}]
    cr = job([], on=["slow"], alerting=alerting, activeRunStarts=active)
    (slow,) = notices.plan(cr, now=NOW)
    assert slow[1].id == f"{UID}.r.slow"
    assert slow[1].occurred_at == NOW  # start + 600 s, exactly now
    assert notices.plan(cr, now=NOW - timedelta(seconds=1)) == []


def test_slow_fires_for_a_finished_run_longer_than_expected_with_the_active_runs_id() -> None:
    alerting = {"expectedDurationSeconds": 600}
    history = [run("quick", "succeeded", 30, took=10), run("r", "failed", 5, took=10.5)]
    cr = job(history, on=["slow"], alerting=alerting)
    pending = notices.plan(cr, now=NOW)
    assert ids(pending) == [f"{UID}.r.slow"]
    assert pending[0][1].occurred_at == datetime.fromisoformat(at(15.5)) + timedelta(minutes=10)


def test_nothing_is_slow_without_an_expected_duration() -> None:
    cr = job([run("r", "succeeded", 5, took=600)], on=["slow"])
    assert notices.plan(cr, now=NOW) == []


# --------------------------------------------------------------------------- absent


def hourly_job(history: list[RunRecordDict], **kw: Any) -> ChronosJobDict:
    return job(history, on=["absent"], **kw)


def test_absent_fires_once_the_first_slot_after_the_last_success_plus_grace_passed() -> None:
    # Last success 11:00:00 + a few seconds (10:59 start); next slot 12:00 (NOW);
    # grace 1 h: due at 13:00.
    cr = hourly_job([run("ok", "succeeded", 59, took=1)])
    finder = notices.slot_finder(HOURLY)
    assert notices.plan(cr, now=NOW + timedelta(minutes=59, seconds=59), next_slot=finder) == []
    (absent,) = notices.plan(cr, now=NOW + timedelta(hours=1), next_slot=finder)
    assert absent[1].id == f"{UID}.absent-{rfc3339(NOW)}.absent"
    assert absent[1].scheduled_time == NOW
    assert absent[1].occurred_at == NOW + timedelta(hours=1)
    assert absent[1].reason == notices.NO_SUCCESS
    # Hours later, still absent: the same episode, the same id (no alert per slot).
    later = notices.plan(cr, now=NOW + timedelta(hours=9), next_slot=finder)
    assert ids(later) == [absent[1].id]


def test_failures_do_not_stop_absent_and_a_success_starts_a_new_episode() -> None:
    finder = notices.slot_finder(HOURLY)
    failing = hourly_job([run("ok", "succeeded", 179), run("bad", "failed", 119)])
    (absent,) = notices.plan(failing, now=NOW, next_slot=finder)
    assert absent[1].scheduled_time == NOW - timedelta(hours=2)
    assert absent[1].consecutive_failures == 1
    recovered = hourly_job(
        [run("ok", "succeeded", 179), run("bad", "failed", 119), run("ok2", "succeeded", 30)]
    )
    assert notices.plan(recovered, now=NOW, next_slot=finder) == []


def test_absent_counts_from_creation_since_and_the_end_of_a_suspension() -> None:
    finder = notices.slot_finder(HOURLY)
    # Never succeeded, created 90 min ago: slot at -60 min, due now.
    created = hourly_job([], created=at(90))
    assert ids(notices.plan(created, now=NOW, next_slot=finder)) == [
        f"{UID}.absent-{at(60)}.absent"
    ]
    # Notify configured (since) 30 min ago: the first slot after it is NOW; due in an hour.
    fresh = hourly_job([], since=at(30))
    assert notices.plan(fresh, now=NOW, next_slot=finder) == []
    resumed = hourly_job([], suspension={"until": at(30), "resumedAt": at(30)})
    assert notices.plan(resumed, now=NOW, next_slot=finder) == []


def test_absent_needs_a_schedule_and_an_open_window() -> None:
    cr = hourly_job([], created=at(600))
    assert notices.plan(cr, now=NOW) == []  # no next_slot: a job without slots
    assert notices.plan(cr, now=NOW, next_slot=no_slot) == []
    closed = hourly_job([], created=at(600))
    closed["spec"]["activeUntil"] = at(1)
    assert notices.plan(closed, now=NOW, next_slot=notices.slot_finder(HOURLY)) == []


def test_absent_honours_the_grace_period() -> None:
    cr = hourly_job([], created=at(90), alerting={"absentGraceSeconds": 7200})
    finder = notices.slot_finder(HOURLY)
    assert notices.plan(cr, now=NOW, next_slot=finder) == []
    assert len(notices.plan(cr, now=NOW + timedelta(hours=1), next_slot=finder)) == 1


def test_a_job_suspended_longer_than_the_bound_is_absent_once() -> None:
    finder = notices.slot_finder(HOURLY)
    history = [run("ok", "succeeded", 600)]
    bound = {"suspendedForSeconds": 3600 * 9}
    disabled = hourly_job(history, alerting=bound)
    disabled["spec"]["enabled"] = False
    # Suspended: no slot-based absent; 10 h since the last run > 9 h.
    (absent,) = notices.plan(disabled, now=NOW, next_slot=finder)
    assert absent[1].id == f"{UID}.suspended-{at(600)}.absent"
    assert absent[1].reason == notices.SUSPENDED_TOO_LONG
    assert absent[1].occurred_at == NOW - timedelta(hours=1)
    assert notices.plan(disabled, now=NOW - timedelta(hours=1, seconds=1), next_slot=finder) == []
    no_bound = hourly_job(history)
    no_bound["spec"]["enabled"] = False
    assert notices.plan(no_bound, now=NOW, next_slot=finder) == []
    until = hourly_job(history, alerting=bound)
    until["spec"]["suspendUntil"] = rfc3339(NOW + timedelta(days=1))
    assert ids(notices.plan(until, now=NOW, next_slot=finder)) == [absent[1].id]


def test_slot_finder_is_the_schedule_engine() -> None:
    """An @every anchor and the active window apply, as for every slot the job runs."""
    every = TimeRules(schedules=(ScheduleRule("s0", "@every 2h", None),), zone="UTC")
    anchor = NOW - timedelta(minutes=30)
    assert notices.slot_finder(every, anchor)(NOW) == NOW + timedelta(minutes=90)
    ended = TimeRules(
        schedules=(ScheduleRule("s0", "0 * * * *", None),), zone="UTC", active_until=NOW
    )
    assert notices.slot_finder(ended)(NOW - timedelta(minutes=1)) is None


# ------------------------------------------------------------------ since and the rules


def test_nothing_before_since_and_nothing_without_since_or_rules() -> None:
    history = [run("old", "failed", 60 * 24 * 3), run("new", "failed", 10)]
    assert ids(notices.plan(job(history, on=["failed"]), now=NOW)) == [f"{UID}.new.failed"]
    assert notices.plan(job(history, on=["failed"], since=None), now=NOW) == []
    assert notices.plan(job(history, notify=[]), now=NOW) == []


def test_each_channel_hears_what_its_rules_ask_once_even_when_named_twice() -> None:
    rules = [
        {"channel": "ops", "on": ["failed"]},
        {"channel": "ops", "on": ["failed", "succeeded"]},
        {"channel": "team", "on": ["succeeded"]},
    ]
    cr = job([run("a", "failed", 20), run("b", "succeeded", 10)], notify=rules)
    pending = notices.plan(cr, now=NOW)
    assert sorted((ch, n.id) for ch, n in pending) == [
        ("ops", f"{UID}.a.failed"),
        ("ops", f"{UID}.b.succeeded"),
        ("team", f"{UID}.b.succeeded"),
    ]


def test_delivered_and_given_up_keys_are_not_offered_again() -> None:
    history = [run("a", "failed", 20), run("b", "failed", 10)]
    delivered = [ledger_key(f"{UID}.a.failed", "ops")]
    gave_up = [{"id": f"{UID}.b.failed", "channel": "ops", "reason": "HTTP503", "at": at(1)}]
    cr = job(history, on=["failed"], delivered=delivered, undelivered=gave_up)
    assert notices.plan(cr, now=NOW) == []
    other = job(history, notify=[{"channel": "mail", "on": ["failed"]}], delivered=delivered)
    assert len(notices.plan(other, now=NOW)) == 2  # the ledger is per channel


def test_plan_offers_at_most_the_newest_window() -> None:
    history = [run(f"r{i}", "failed", 2000 - i) for i in range(notices.PLAN_WINDOW + 30)]
    cr = job(history, on=["failed"])
    pending = notices.plan(cr, now=NOW)
    assert len(pending) == notices.PLAN_WINDOW
    assert pending[-1][1].id == f"{UID}.r{notices.PLAN_WINDOW + 29}.failed"


def test_events_in_the_future_of_now_wait() -> None:
    cr = job([run("a", "failed", -5)], on=["failed"])
    assert notices.plan(cr, now=NOW) == []
    assert len(notices.plan(cr, now=NOW + timedelta(minutes=5))) == 1


def test_a_rule_or_thresholds_the_model_refuses_are_left_out_not_raised() -> None:
    cr = job(
        [run("a", "failed", 5)],
        notify=[{"channel": "Bad Name", "on": ["failed"]}, {"channel": "ok", "on": ["failed"]}],
        alerting={"failureStreak": 0},
    )
    assert ids(notices.plan(cr, now=NOW)) == [f"{UID}.a.failed"]


# ------------------------------------------------------------------------ the ledger


def test_since_mark_is_written_once_and_cleared_without_rules() -> None:
    cr = job([], since=None)
    assert notices.since_mark(cr, NOW + timedelta(microseconds=7)) == NOW
    assert notices.since_mark(job([]), NOW) == SINCE
    assert notices.since_mark(job([], notify=[]), NOW) is None


def test_record_delivered_is_newest_first_bounded_and_settles_given_up_keys() -> None:
    old = [f"k{i}" for i in range(LEDGER_SIZE)]
    ledger = notices.record_delivered({"since": rfc3339(SINCE), "delivered": old}, ["new", "k5"])
    assert ledger.delivered is not None
    assert ledger.delivered[:3] == ["new", "k5", "k0"]
    assert len(ledger.delivered) == LEDGER_SIZE
    assert ledger.delivered.count("k5") == 1
    assert ledger.since == SINCE
    gave = [
        Undelivered(id=f"e{i}", channel="ops", reason="Timeout", message="", at=NOW)
        for i in range(UNDELIVERED_SIZE + 3)
    ]
    out = notices.record_delivered(None, [], given_up=gave)
    assert out.undelivered is not None
    assert len(out.undelivered) == UNDELIVERED_SIZE
    assert out.delivered is not None
    assert ledger_key("e0", "ops") in out.delivered
    # Delivered later after all: it leaves undelivered.
    again = notices.record_delivered(
        cast(NotificationsStatusDict, out.model_dump(by_alias=True, mode="json")),
        [ledger_key("e0", "ops")],
    )
    assert again.undelivered is not None
    assert "e0" not in [u.id for u in again.undelivered]


# ------------------------------------------------------------------------ gauges


def test_job_gauges_from_the_status() -> None:
    history = [
        run("a", "succeeded", 50),
        run("m", "missed", None, by="operator", scheduledTime=at(45)),
        run("b", "failed", 40),
        run("c", "failed", 30),
    ]
    cr = job(history, nextRunTimes=[rfc3339(NOW + timedelta(minutes=5))])
    gauges = notices.job_gauges(cr)
    assert gauges.last_success == datetime.fromisoformat(at(50)).timestamp()
    assert gauges.consecutive_failures == 2
    assert gauges.next_run == (NOW + timedelta(minutes=5)).timestamp()
    assert gauges.missed == frozenset({"m"})
    empty = notices.job_gauges(job([]))
    assert (empty.last_success, empty.consecutive_failures, empty.next_run) == (None, 0, None)


def sample(name: str, ns: str = "gauge-ns", job_name: str = "g") -> float | None:
    return REGISTRY.get_sample_value(name, {"namespace": ns, "job": job_name})


def test_metrics_follow_the_job_and_leave_with_it() -> None:
    first = metrics.JobGauges(100.0, 2, 200.0, frozenset({"m1"}))
    metrics.observe_job("gauge-ns", "g", first)
    assert sample("chronos_job_last_success_timestamp_seconds") == 100.0
    assert sample("chronos_job_consecutive_failures") == 2
    assert sample("chronos_job_next_run_timestamp_seconds") == 200.0
    # The missed runs known at the first sight count as none (no jump after a restart).
    assert sample("chronos_job_missed_runs_total") == 0
    metrics.observe_job("gauge-ns", "g", metrics.JobGauges(None, 0, None, frozenset({"m1", "m2"})))
    metrics.observe_job("gauge-ns", "g", metrics.JobGauges(None, 0, None, frozenset({"m2", "m3"})))
    assert sample("chronos_job_missed_runs_total") == 2
    assert sample("chronos_job_last_success_timestamp_seconds") is None
    assert sample("chronos_job_next_run_timestamp_seconds") is None
    metrics.forget_job("gauge-ns", "g")
    assert sample("chronos_job_consecutive_failures") is None
    assert sample("chronos_job_missed_runs_total") is None
    metrics.forget_job("gauge-ns", "g")  # twice: nothing to remove, no error


def test_notification_counters_exist_for_the_notifier() -> None:
    metrics.NOTIFICATIONS.labels("webhook", metrics.DELIVERED).inc()
    metrics.NOTIFICATIONS_UNDELIVERED.labels("email").inc()
    assert REGISTRY.get_sample_value(
        "chronos_notifications_total", {"type": "webhook", "result": "delivered"}
    )
    assert REGISTRY.get_sample_value("chronos_notifications_undelivered_total", {"type": "email"})


# ------------------------------------------------------------------ properties

RESULTS = st.sampled_from(["succeeded", "failed", "missed", "aborted", "skipped"])


@st.composite
def lives(draw: st.DrawFn) -> list[tuple[str, str, bool]]:
    """A job's runs in order: (result, reportedBy, delivered-this-round)."""
    steps = draw(st.lists(st.tuples(RESULTS, st.booleans(), st.booleans()), max_size=160))
    return [(r, "operator" if op else "runner", deliver) for r, op, deliver in steps]


def simulate(
    life: list[tuple[str, str, bool]], *, streak: int, history_limit: int, channels: int
) -> set[str]:
    """Runs arrive one by one (history trimmed to its limit); each round plans, delivers
    all or every other pending key, and records them, as the notifier does. Asserts at
    every round; returns the keys delivered."""
    notify = [{"channel": f"c{i}", "on": EVERYTHING} for i in range(channels)]
    alerting = {"failureStreak": streak, "expectedDurationSeconds": 90}
    history: list[RunRecordDict] = []
    ledger: dict[str, Any] = {"since": rfc3339(SINCE)}
    sent: set[str] = set()
    start = SINCE + timedelta(minutes=1)
    finder = notices.slot_finder(HOURLY)
    for step, (result, by, deliver_all) in enumerate(life):
        end = start + timedelta(minutes=10 * step)
        record: dict[str, Any] = {
            "runId": f"r{step}",
            "trigger": "schedule",
            "result": result,
            "endTime": rfc3339(end),
            "startTime": rfc3339(end - timedelta(seconds=60 + step % 3 * 30)),
            "reportedBy": by,
        }
        history = [cast(RunRecordDict, record), *history][:history_limit]
        now = end + timedelta(minutes=5)
        whole = {
            "metadata": {
                "namespace": "n",
                "name": "j",
                "uid": UID,
                "creationTimestamp": rfc3339(SINCE),
            },
            "spec": {"notify": notify, "alerting": alerting},
            "status": {"history": history, "notifications": ledger},
        }
        cr = cast(ChronosJobDict, whole)
        pending = notices.plan(cr, now=now, next_slot=finder)
        keys = [ledger_key(n.id, ch) for ch, n in pending]
        assert len(keys) == len(set(keys))
        chosen = keys if deliver_all else keys[::2]
        assert not set(chosen) & sent, f"delivered twice: {set(chosen) & sent}"
        sent |= set(chosen)
        ledger = notices.record_delivered(ledger, chosen).model_dump(  # type: ignore[arg-type]
            by_alias=True, mode="json", exclude_none=True
        )
        assert len(ledger.get("delivered") or []) <= LEDGER_SIZE
        for n in (n for _, n in pending):
            assert n.id.startswith(f"{UID}.")
            assert n.id.endswith(f".{n.event.value}")
    return sent


@settings(max_examples=60, deadline=None)
@given(
    life=lives(),
    streak=st.integers(1, 4),
    history_limit=st.integers(1, 100),
    channels=st.integers(1, 3),
)
def test_a_simulated_life_delivers_each_key_once_with_stable_unique_ids(
    life: list[tuple[str, str, bool]], streak: int, history_limit: int, channels: int
) -> None:
    simulate(life, streak=streak, history_limit=history_limit, channels=channels)


def test_a_busy_job_with_a_full_history_never_has_a_key_delivered_twice() -> None:
    """More events than the ledger holds are in history at once (100 runs, three
    channels, each run started + failed + unreported + slow): the plan window keeps a
    key the ledger forgot from being offered again."""
    life = [("failed", "operator", step % 5 != 0) for step in range(150)]
    sent = simulate(life, streak=1, history_limit=100, channels=3)
    assert len(sent) > LEDGER_SIZE  # the ledger did overflow


@settings(max_examples=40, deadline=None)
@given(minutes=st.lists(st.integers(0, 3000), min_size=1, max_size=30), extra=st.integers(0, 600))
def test_plan_is_stable_as_time_passes(minutes: list[int], extra: int) -> None:
    """The same status planned later offers a superset of the same ids (an id never
    changes as time goes on; only new events join)."""
    history = [run(f"r{i}", "failed" if m % 2 else "succeeded", m) for i, m in enumerate(minutes)]
    cr = job(history, alerting={"expectedDurationSeconds": 30})
    finder = notices.slot_finder(HOURLY)
    first = set(ids(notices.plan(cr, now=NOW, next_slot=finder)))
    later = set(ids(notices.plan(cr, now=NOW + timedelta(minutes=extra), next_slot=finder)))
    absent_first = {i for i in first if ".absent-" in i}
    assert first - absent_first <= later
    assert len({i for i in later if i.endswith(".absent")}) <= 1


@pytest.mark.parametrize("event", list(NotifyOn))
def test_every_event_type_can_fire(event: NotifyOn) -> None:
    """No event of NotifyOn is dead code: a status that produces each one."""
    history = [
        run("a", "failed", 300, took=20, by="operator"),
        run("m", "missed", None, by="operator", scheduledTime=at(250)),
        run("b", "succeeded", 200),
    ]
    cr = job(
        history,
        on=[event.value],
        alerting={"expectedDurationSeconds": 60},
        created=at(400),
        activeRunStarts=[{"runId": "c", "trigger": "schedule", "startTime": at(2)}],
    )
    pending = notices.plan(cr, now=NOW, next_slot=notices.slot_finder(HOURLY))
    assert events_of(pending, event), event


# ------------------------------------------------------------------ the docs


def test_the_docs_state_every_event_threshold_metric_and_alert() -> None:
    """docs/notifications.md "When events fire" is the rules in words: every event has
    its row, every spec.alerting field, per-job metric and chart alert is named."""
    text = (ROOT / "docs" / "notifications.md").read_text()
    section = text[text.index("## When events fire") :]
    for event in NotifyOn:
        assert f"| `{event.value}` |" in section, event
    for field in Alerting.model_fields.values():
        assert f"`{field.alias}`" in section, field.alias
    for metric in (
        metrics.LAST_SUCCESS,
        metrics.CONSECUTIVE_FAILURES,
        metrics.NEXT_RUN,
        metrics.MISSED_RUNS,
        metrics.NOTIFICATIONS,
        metrics.NOTIFICATIONS_UNDELIVERED,
    ):
        (family,) = metric.describe()
        name = family.name + ("_total" if family.type == "counter" else "")
        assert f"`{name}" in section, name
    template = (ROOT / "charts" / "chronos" / "templates" / "prometheusrule.yaml").read_text()
    alerts = re.findall(r"- alert: (\w+)", template)
    assert alerts
    for alert in alerts:
        assert f"| `{alert}` |" in section, alert


def test_history_wins_over_a_last_run_that_still_says_running() -> None:
    running = run("a", "running", None, startTime=at(10))
    cr = job([run("a", "failed", 5)], on=["failed", "started"], lastRun=running)
    assert ids(notices.plan(cr, now=NOW)) == [f"{UID}.a.started", f"{UID}.a.failed"]
    assert notices.consecutive_failures(notices.runs(cr)) == 1


def test_a_record_the_model_refuses_still_gives_its_event_with_what_is_sure() -> None:
    bad = run("a", "failed", 5, message="x" * (MAX_TEXT + 1))
    (pending,) = notices.plan(job([bad], on=["failed"]), now=NOW)
    assert pending[1].id == f"{UID}.a.failed"
    assert pending[1].message is None
    assert pending[1].consecutive_failures == 1


def test_a_duration_missing_from_the_record_is_taken_from_its_times() -> None:
    record = run("a", "succeeded", 5, took=2)
    del record["durationSeconds"]
    (pending,) = notices.plan(job([record], on=["succeeded"]), now=NOW)
    assert pending[1].duration_seconds == 120.0


def test_a_suspension_that_just_ended_does_not_count_its_slots_before_the_resume_is_recorded() -> (
    None
):
    """suspendUntil passed 30 min ago, status.suspension not written yet: the slots of the
    suspension are not due (the first slot after its end is NOW, due in an hour)."""
    cr = hourly_job([], created=at(600))
    cr["spec"]["suspendUntil"] = at(30)
    assert notices.plan(cr, now=NOW, next_slot=notices.slot_finder(HOURLY)) == []
    later = NOW + timedelta(hours=1)
    assert ids(notices.plan(cr, now=later, next_slot=notices.slot_finder(HOURLY))) == [
        f"{UID}.absent-{rfc3339(NOW)}.absent"
    ]


def test_a_day_the_calendar_excludes_is_no_slot_for_the_dead_man() -> None:
    """Daily at 03:00, the last success on the 5th; the 6th is a holiday: nothing is due
    until 03:00 on the 7th, so no absent on the 6th however late."""
    holiday = (NOW + timedelta(days=0)).date()  # 2031-05-06
    daily = TimeRules(
        schedules=(ScheduleRule("s0", "0 3 * * *", None),),
        zone="UTC",
        calendar=Calendar(name="holidays", dates=frozenset({holiday})),
    )
    success_end = datetime(2031, 5, 5, 3, 5, tzinfo=UTC)
    cr = job(
        [run("ok", "succeeded", (NOW - success_end).total_seconds() / 60)],
        on=["absent"],
        since=rfc3339(success_end - timedelta(days=1)),
    )
    finder = notices.slot_finder(daily)
    assert notices.plan(cr, now=datetime(2031, 5, 6, 23, 59, tzinfo=UTC), next_slot=finder) == []
    (absent,) = notices.plan(cr, now=datetime(2031, 5, 7, 4, 0, tzinfo=UTC), next_slot=finder)
    assert absent[1].scheduled_time == datetime(2031, 5, 7, 3, 0, tzinfo=UTC)
    # Without the calendar the 6th's slot would have been due at 04:00 on the 6th.
    plain = notices.slot_finder(TimeRules(schedules=daily.schedules, zone="UTC"))
    assert notices.plan(cr, now=datetime(2031, 5, 6, 23, 59, tzinfo=UTC), next_slot=plain)
