"""The operator's published figures (issue 22): schedule lag, its summary, rates,
stale entries; pure, no cluster."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from chronos import contract as c
from chronos.models.figures import (
    ReplicaFigures,
    entry_key,
    figures_config_map,
    parse_figures,
)
from chronos.operator.figures import Figures, per_minute, schedule_lag, stale_keys, summarize
from chronos.operator.workqueue import WorkQueue

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
OWNER = ("team-a", "nightly")


def job(
    created: datetime, slot: datetime | None, trigger: str | None = None, cronjob: bool = True
) -> dict[str, Any]:
    annotations = {}
    if slot is not None:
        annotations[c.SCHEDULED_TIMESTAMP_ANNOTATION] = slot.isoformat().replace("+00:00", "Z")
    if trigger is not None:
        annotations[c.TRIGGER_ANNOTATION] = trigger
    return {
        "metadata": {
            "name": "nightly-123",
            "creationTimestamp": created.isoformat().replace("+00:00", "Z"),
            "annotations": annotations,
            "ownerReferences": [{"kind": "CronJob", "name": "nightly"}] if cronjob else [],
        }
    }


def test_schedule_lag_is_slot_to_creation_and_says_who_created_the_job() -> None:
    lag = schedule_lag(OWNER, job(T0 + timedelta(seconds=2.5), T0))
    assert lag is not None
    assert (lag.namespace, lag.job, lag.lag_seconds, lag.by) == (
        "team-a",
        "nightly",
        2.5,
        "cronjob-controller",
    )
    own = schedule_lag(OWNER, job(T0 + timedelta(seconds=1), T0, trigger="schedule", cronjob=False))
    assert own is not None
    assert own.by == "operator"


def test_runs_that_are_late_on_purpose_or_have_no_slot_have_no_lag() -> None:
    for trigger in ("run-now", "catchup", "backfill"):
        assert schedule_lag(OWNER, job(T0 + timedelta(hours=3), T0, trigger=trigger)) is None
    assert schedule_lag(OWNER, job(T0, None)) is None
    # Clock noise never shows as a run created before its slot.
    early = schedule_lag(OWNER, job(T0 - timedelta(milliseconds=300), T0))
    assert early is not None
    assert early.lag_seconds == 0.0


def test_summary_keeps_the_worst_and_its_percentiles() -> None:
    lags = [
        schedule_lag((f"ns{i % 3}", f"job{i}"), job(T0 + timedelta(seconds=i), T0))
        for i in range(1, 21)
    ]
    summary = summarize([x for x in lags if x], limit=5)
    assert summary.jobs == 20
    assert (summary.p50_seconds, summary.p95_seconds, summary.max_seconds) == (10.0, 19.0, 20.0)
    assert [w.lag_seconds for w in summary.worst] == [20.0, 19.0, 18.0, 17.0, 16.0]
    assert summarize([]).jobs == 0
    assert summarize([]).max_seconds is None


def test_figures_keep_the_newest_slot_of_each_job_and_forget_a_deleted_job() -> None:
    figures = Figures("op-1", "op")
    figures.job_seen(OWNER, job(T0 + timedelta(days=1, seconds=1), T0 + timedelta(days=1)))
    figures.job_seen(OWNER, job(T0 + timedelta(seconds=30), T0))  # an older Job's event
    figures.watch(lambda: 7, lambda: 3)
    figures.leader_since = T0
    snap = figures.snapshot(T0, 100.0)
    assert snap.schedule_lag is not None
    assert snap.schedule_lag.max_seconds == 1.0
    assert snap.queue_depth == 7
    assert snap.leader
    figures.forget(OWNER)
    assert figures.snapshot(T0, 101.0).schedule_lag.jobs == 0  # type: ignore[union-attr]


def test_a_standby_publishes_no_work_figures() -> None:
    snap = Figures("op-2", "op").snapshot(T0, 0.0)
    assert not snap.leader
    assert snap.queue_depth is None
    assert snap.syncs_per_minute is None
    assert snap.schedule_lag is None


def test_rate_per_minute_over_the_window() -> None:
    samples: deque[tuple[float, float]] = deque()
    assert per_minute(samples, 0.0, 0) is None
    assert per_minute(samples, 30.0, 10) == 20.0
    assert per_minute(samples, 60.0, 40) == 40.0
    # Samples older than the window drop out: the rate follows the last minute.
    assert per_minute(samples, 120.0, 40) == 0.0


def test_stale_and_unreadable_entries_are_pruned_but_never_ones_own() -> None:
    def entry(identity: str, age: float) -> str:
        return ReplicaFigures(
            identity=identity,
            pod="p",
            leader=False,
            started_at=T0,
            updated_at=T0 - timedelta(seconds=age),
            version="1",
        ).model_dump_json()

    data = {
        entry_key("fresh-1"): entry("fresh-1", 5),
        entry_key("dead-2"): entry("dead-2", 600),
        entry_key("me-3"): entry("me-3", 600),
        "garbage": "{not json",
    }
    assert stale_keys(data, entry_key("me-3"), T0) == ["dead-2", "garbage"]


def test_the_wire_shape_round_trips_and_names_bad_entries_without_quoting_them() -> None:
    snap = ReplicaFigures(
        identity="a.b:c/1", pod="a", leader=True, started_at=T0, updated_at=T0, version="0.1.0"
    )
    text = snap.model_dump_json(exclude_none=True)
    assert json.loads(text)["updatedAt"].startswith("2026-03-02T08:30")
    found, bad = parse_figures(
        {entry_key(snap.identity): text, "x": "<img src=x onerror=alert(1)>"}
    )
    assert found == [snap]
    assert bad == ["x"]
    assert entry_key("a.b:c/1") == "a.b_c_1"
    assert figures_config_map("chronos-operator") == "chronos-operator-figures"


def test_leading_wakes_the_publisher() -> None:
    async def check() -> None:
        figures = Figures("op", "op")
        assert not figures.changed.is_set()
        figures.leading(T0)
        assert figures.changed.is_set()
        assert figures.leader_since == T0

    asyncio.run(check())


def test_the_work_queue_counts_the_keys_it_served() -> None:
    async def check() -> None:
        queue = WorkQueue()
        queue.add(("a", "1"))
        queue.add(("a", "2"))
        for _ in range(2):
            key, _reason = await queue.get()
            queue.done(key)
        assert queue.served == 2
        figures = Figures("op", "op")
        figures.watch(queue.__len__, lambda: queue.served)
        figures.leading(T0)
        snap = figures.snapshot(T0, 10.0)
        assert snap.queue_depth == 0

    asyncio.run(check())
