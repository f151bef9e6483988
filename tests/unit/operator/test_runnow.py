"""Run-now bookkeeping and decisions as pure functions (chronos.runnow and the operator's)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from chronos import contract as c
from chronos import runnow as rn
from chronos.models.chronosjob import ConcurrencyPolicy, RunRecord
from chronos.models.history import merge_run
from chronos.operator.runnow import Action, active_runs, decide, refused_record

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def stored(
    pending: dict[str, str] | None = None,
    served: dict[str, datetime] | list[str] | None = None,
    hand: str | None = None,
) -> dict[str, str]:
    out: dict[str, str] = {}
    if pending is not None:
        out[c.RUN_NOW_PENDING_ANNOTATION] = json.dumps(pending)
    if isinstance(served, list):
        out[c.RUN_NOW_DONE_ANNOTATION] = json.dumps(served)
    elif served is not None:
        out[c.RUN_NOW_DONE_ANNOTATION] = json.dumps({t: rn.stamp(at) for t, at in served.items()})
    if hand is not None:
        out[c.RUN_NOW_ANNOTATION] = hand
    return out


def apply(current: dict[str, str], patch: Mapping[str, str | None]) -> dict[str, str]:
    """A JSON merge patch of annotations, as the API server applies it."""
    merged: dict[str, str | None] = {**current, **patch}
    return {k: v for k, v in merged.items() if v is not None}


def test_a_burst_of_distinct_keys_all_wait_and_are_served_in_order() -> None:
    ann: dict[str, str] = {}
    for i in range(6):
        state = rn.parse(ann, NOW + timedelta(milliseconds=i))
        assert not rn.is_known(state, f"k{i}", NOW)
        ann = apply(ann, rn.request_patch(state, f"k{i}", NOW + timedelta(milliseconds=i)))
    state = rn.parse(ann, NOW)
    assert [t for t, _ in rn.queue(state, NOW)] == [f"k{i}" for i in range(6)]
    assert all(rn.is_known(state, f"k{i}", NOW) for i in range(6))

    # Served in two writes; a token is never in neither annotation.
    ann = apply(ann, rn.served_patch(state, ["k0", "k1"], NOW))
    state = rn.parse(ann, NOW)
    assert [t for t, _ in rn.queue(state, NOW)] == ["k2", "k3", "k4", "k5"]
    assert all(rn.is_known(state, f"k{i}", NOW) for i in range(6))
    ann = apply(ann, rn.served_patch(state, ["k2", "k3", "k4", "k5"], NOW))
    state = rn.parse(ann, NOW)
    assert rn.queue(state, NOW) == []
    assert c.RUN_NOW_PENDING_ANNOTATION not in ann
    assert set(state.served) == {f"k{i}" for i in range(6)}


def test_served_tokens_are_remembered_for_the_window_and_then_pruned() -> None:
    state = rn.parse(stored(served={"old": NOW - timedelta(hours=23)}), NOW)
    assert rn.is_known(state, "old", NOW)
    later = NOW + timedelta(hours=2)
    assert not rn.is_known(state, "old", later)
    patch = rn.served_patch(rn.parse(stored(served={"old": NOW}), later), ["new"], later)
    assert rn.parse(apply({}, patch), later).served == {"new": later, "old": NOW}
    patch = rn.served_patch(state, ["new"], later)
    assert set(rn.parse(apply({}, patch), later).served) == {"new"}


def test_served_tokens_are_bounded_newest_first() -> None:
    many = {f"t{i}": NOW - timedelta(seconds=i) for i in range(rn.SERVED_KEPT + 10)}
    kept = rn.prune(many, NOW)
    assert len(kept) == rn.SERVED_KEPT
    assert "t0" in kept
    assert f"t{rn.SERVED_KEPT}" not in kept


def test_the_hand_set_token_is_adopted_once_and_never_fires_again() -> None:
    ann = stored(hand="manual-1")
    state = rn.parse(ann, NOW)
    assert rn.unadopted(state, NOW) == "manual-1"
    ann = apply(ann, rn.request_patch(state, "manual-1", NOW))
    state = rn.parse(ann, NOW)
    assert rn.unadopted(state, NOW) is None
    assert [t for t, _ in rn.queue(state, NOW)] == ["manual-1"]
    ann = apply(ann, rn.served_patch(state, ["manual-1"], NOW))
    # A week later the annotation still holds the token: it stays served, not re-run.
    week = NOW + timedelta(days=7)
    state = rn.parse(ann, week)
    assert rn.unadopted(state, week) is None
    ann = apply(ann, rn.served_patch(state, ["other"], week))
    assert "manual-1" in rn.parse(ann, week).served


def test_the_old_served_list_format_counts_as_served() -> None:
    state = rn.parse(stored(served=["a", "b"]), NOW)
    assert rn.is_known(state, "a", NOW)
    assert rn.is_known(state, "b", NOW)
    assert not rn.is_known(state, "c", NOW)


def test_malformed_annotations_are_ignored_not_fatal() -> None:
    state = rn.parse(
        {
            c.RUN_NOW_PENDING_ANNOTATION: "{not json",
            c.RUN_NOW_DONE_ANNOTATION: '{"a": "yesterday", "b": 3}',
        },
        NOW,
    )
    assert state.pending == {}
    assert state.served == {}


def test_decide_follows_the_concurrency_policy() -> None:
    forbid, allow, replace = (
        ConcurrencyPolicy.FORBID,
        ConcurrencyPolicy.ALLOW,
        ConcurrencyPolicy.REPLACE,
    )
    assert decide(forbid, "j", active=[], known=set()).action == Action.CREATE
    refused = decide(forbid, "j", active=["sched-1"], known=set())
    assert (refused.action, refused.blocking) == (Action.REFUSE, ["sched-1"])
    assert decide(allow, "j", active=["sched-1"], known=set()).action == Action.CREATE
    replaced = decide(replace, "j", active=["sched-1"], known=set())
    assert (replaced.action, replaced.blocking) == (Action.REPLACE, ["sched-1"])
    # Its own Job (created before a restart), or a runId in the history: served already.
    assert decide(forbid, "j", active=["j"], known={"j"}).action == Action.SERVED
    assert decide(allow, "j", active=[], known={"j"}).action == Action.SERVED


def test_a_refused_run_now_is_recorded_like_a_skipped_slot() -> None:
    record = refused_record("orders-now-1", ["orders-29000000"], NOW)
    assert (record.result, record.trigger, record.reason) == (
        "missed",
        "run-now",
        "ConcurrencyForbid",
    )
    assert record.scheduled_time is None  # it must not count as a scheduled slot
    assert "orders-29000000" in (record.message or "")


def test_the_operator_never_replaces_the_runners_record_of_a_run() -> None:
    runner = RunRecord.model_validate(
        {"runId": "j1", "trigger": "run-now", "result": "succeeded", "reportedBy": "runner"}
    )
    operator = RunRecord.model_validate(
        {"runId": "j1", "trigger": "run-now", "result": "failed", "reportedBy": "operator"}
    )
    assert merge_run([runner], operator, 10) == [runner]
    # The runner's account replaces the operator's (it knows more), still one entry.
    assert merge_run([operator], runner, 10) == [runner]


def test_active_runs_are_the_unfinished_jobs_by_name_with_their_starts() -> None:
    def job(name: str, created: str, trigger: str = "schedule", **status: Any) -> dict[str, Any]:
        annotations = {c.TRIGGER_ANNOTATION: trigger}
        meta = {"name": name, "creationTimestamp": created, "annotations": annotations}
        return {"metadata": meta, "status": status}

    done: dict[str, Any] = {"conditions": [{"type": "Complete", "status": "True"}]}
    runs = active_runs(
        [
            job("b", "2026-11-29T10:00:00Z", "run-now", startTime="2026-11-29T10:00:02Z"),
            job("a", "2026-11-29T10:05:00Z"),  # suspended or not yet started
            job("c", "2026-11-29T09:00:00Z", startTime="2026-11-29T09:00:01Z", **done),
        ]
    )
    assert [(r.run_id, r.trigger, r.start_time) for r in runs] == [
        ("a", "schedule", datetime(2026, 11, 29, 10, 5, tzinfo=UTC)),
        ("b", "run-now", datetime(2026, 11, 29, 10, 0, 2, tzinfo=UTC)),
    ]
