"""The operator's expectations of its own CronJob writes: a write the watch has not shown
yet is not taken for a lost CronJob (housekeeping) or for drift (an older copy from a
LIST that began before the write), so it is not written again.

Found by tests/test_operator_faults.py [410-and-lists-cut]: with the watches relisting
after a backoff, housekeeping re-created a just-created CronJob twice."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest

from chronos.models.wire import ChronosJobDict
from chronos.operator import controller
from chronos.operator.cache import Change, digest
from chronos.operator.context import OperatorContext
from chronos.operator.desired import desired_state
from chronos.operator.expectations import Expectations
from chronos.operator.settings import OperatorSettings
from chronos.operator.workqueue import WorkQueue

K = ("team", "d")
D1, D2 = b"digest-1", b"digest-2"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def written(uid: str = "u1", generation: int = 2) -> dict[str, Any]:
    return {"uid": uid, "generation": generation}


def test_a_write_is_expected_until_the_watch_shows_it_at_its_generation() -> None:
    e = Expectations(clock=Clock())
    assert not e.pending(K)
    e.wrote(K, D1, written(generation=2))
    assert e.pending(K, D1)
    assert e.pending(K)  # some write is on its way
    assert not e.pending(K, D2)  # but not of that manifest
    e.observed(K, written(generation=1))  # an older copy of the same object
    assert e.pending(K, D1)
    e.observed(K, written(generation=2))
    assert not e.pending(K)
    assert len(e) == 0


@pytest.mark.parametrize(
    ("seen", "why"),
    [
        (written(generation=3), "a later generation"),
        (written(uid="u2", generation=1), "another object of that name"),
        ({}, "no generation to compare"),
    ],
)
def test_any_newer_or_other_object_satisfies_the_expectation(
    seen: dict[str, Any], why: str
) -> None:
    e = Expectations(clock=Clock())
    e.wrote(K, D1, written(generation=2))
    e.observed(K, seen)
    assert not e.pending(K), why


def test_a_deletion_or_the_timeout_ends_the_expectation() -> None:
    clock = Clock()
    e = Expectations(timeout=120, clock=clock)
    e.wrote(K, D1, written())
    e.gone(K)
    assert not e.pending(K)
    e.wrote(K, D1, written())
    clock.now += 119.9
    assert e.pending(K, D1)
    clock.now += 0.1  # the watch must have missed it: the cache decides again
    assert not e.pending(K, D1)
    assert len(e) == 0
    e.observed(K, written())  # nothing expected: nothing happens
    e.gone(K)


# ------------------------------------------------- as the control loop consults them

SETTINGS = OperatorSettings(corehub_url="https://hub:1717", corehub_credentials_secret="hub")


def chronosjob(cron: str = "0 3 * * *") -> ChronosJobDict:
    obj: dict[str, Any] = {
        "apiVersion": "chronos.gluesync.com/v1alpha1",
        "kind": "ChronosJob",
        "metadata": {"name": "d", "namespace": "team", "uid": "cj-1", "generation": 1},
        "spec": {
            "task": {"type": "pipeline_start", "pipelineId": "p1"},
            "schedule": {"cron": cron},
        },
    }
    return cast(ChronosJobDict, obj)


def context(cr: ChronosJobDict) -> OperatorContext:
    # No request is made by what is tested here: no client.
    ctx = OperatorContext(client=cast(Any, None), settings=SETTINGS)
    ctx.cache.chronosjob_event(Change.UPSERTED, cr)
    ctx.cache.mark_reconciled(cr)
    return ctx


def test_housekeeping_leaves_a_cronjob_it_wrote_and_the_cache_has_not_seen() -> None:
    cr = chronosjob()
    manifest = desired_state(cr, SETTINGS).cronjob
    ctx = context(cr)
    ctx.expectations.wrote(K, digest(manifest), {"uid": "u1", "generation": 1})
    controller._check_cronjob(ctx, cr)
    assert not ctx.cache.needs_reconcile(cr)  # not taken for lost: no second write
    # A write of another manifest (the spec changed since) is no excuse.
    other = context(cr)
    other.expectations.wrote(K, b"older manifest", {"uid": "u1", "generation": 1})
    controller._check_cronjob(other, cr)
    assert other.cache.needs_reconcile(cr)
    # Nothing written, nothing in the cache: lost, reconciled again.
    lost = context(cr)
    controller._check_cronjob(lost, cr)
    assert lost.cache.needs_reconcile(cr)


def test_an_older_copy_than_the_write_is_not_drift_and_the_written_one_is_seen() -> None:
    old, new = chronosjob("0 3 * * *"), chronosjob("15 4 * * *")
    new["metadata"]["generation"] = 2
    ctx = context(new)
    queue = WorkQueue()
    store = controller.CronJobs(ctx, queue)
    listed = copy.deepcopy(desired_state(old, SETTINGS).cronjob)  # from before the write
    listed["metadata"].update(uid="u1", generation=1)
    ctx.expectations.wrote(
        K, digest(desired_state(new, SETTINGS).cronjob), {"uid": "u1", "generation": 2}
    )
    store.upsert(listed)
    assert (len(queue), ctx.cache.needs_reconcile(new)) == (0, False)
    assert len(ctx.expectations) == 1
    shown = copy.deepcopy(desired_state(new, SETTINGS).cronjob)
    shown["metadata"].update(uid="u1", generation=2)
    store.upsert(shown)
    assert len(ctx.expectations) == 0
    rec = ctx.cache.cronjob(*K)
    assert rec is not None
    assert rec.holds(desired_state(new, SETTINGS).cronjob)
    # Once seen, an older copy is drift again (someone wrote the old spec back).
    store.upsert(listed)
    assert (len(queue), ctx.cache.needs_reconcile(new)) == (1, True)


def test_a_deletion_seen_by_the_watch_ends_the_expectation() -> None:
    cr = chronosjob()
    ctx = context(cr)
    store = controller.CronJobs(ctx, WorkQueue())
    manifest = copy.deepcopy(desired_state(cr, SETTINGS).cronjob)
    manifest["metadata"].update(uid="u1", generation=1)
    ctx.expectations.wrote(K, digest(desired_state(cr, SETTINGS).cronjob), manifest["metadata"])
    store.delete(manifest)
    assert len(ctx.expectations) == 0
    assert ctx.cache.needs_reconcile(cr)  # restored at its next visit
