"""The operator's expectations of its own CronJob writes: a write the watch has not shown
yet is not taken for a lost CronJob (housekeeping) or for drift (an older copy from a
LIST that began before the write), so it is not written again.

Found by tests/test_operator_faults.py [410-and-lists-cut]: with the watches relisting
after a backoff, housekeeping re-created a just-created CronJob twice.

The same for status patches (``StatusWrites``), found by [410-error-event]: a relist
whose LIST began before a status patch was answered put the pre-patch copy back, and
the sync computed and sent the very same patch again."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any, cast

import pytest
from fakeapi import Answer, FakeApiServer, Request, status
from lightkube import ApiError
from support import local_async_client

from chronos.models.chronosjob import GROUP, VERSION, ChronosJobStatus
from chronos.models.wire import ChronosJobDict
from chronos.operator import controller
from chronos.operator.activity import Activity
from chronos.operator.cache import Change, digest
from chronos.operator.context import OperatorContext, patch_status
from chronos.operator.desired import desired_state
from chronos.operator.expectations import Expectations, StatusWrites
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


# ------------------------------------------------------------------ status patches


def copy_of(version: str, uid: str = "cj-1") -> dict[str, Any]:
    return {"uid": uid, "resourceVersion": version}


def test_a_status_patch_is_expected_while_only_the_copy_it_came_from_is_shown() -> None:
    e = StatusWrites(clock=Clock())
    e.wrote(K, D1, copy_of("10"))
    assert e.pending(K, D1)
    assert not e.pending(K, D2)  # another body is never held back
    e.observed(K, copy_of("10"))  # a relist delivering the pre-patch copy again
    assert e.pending(K, D1)
    e.observed(K, copy_of("11"))  # the patch itself, or anything after it
    assert not e.pending(K, D1)
    assert len(e) == 0


@pytest.mark.parametrize(
    ("seen", "why"),
    [
        (copy_of("12"), "a copy newer than the patch (versions are never ordered)"),
        (copy_of("10", uid="cj-2"), "another object of that name"),
    ],
)
def test_any_other_copy_ends_the_status_expectation(seen: dict[str, Any], why: str) -> None:
    e = StatusWrites(clock=Clock())
    e.wrote(K, D1, copy_of("10"))
    e.observed(K, seen)
    assert not e.pending(K, D1), why


def test_a_status_expectation_ends_with_a_deletion_or_the_timeout() -> None:
    clock = Clock()
    e = StatusWrites(timeout=120, clock=clock)
    e.wrote(K, D1, copy_of("10"))
    e.gone(K)
    assert not e.pending(K, D1)
    e.wrote(K, D1, copy_of("10"))
    clock.now += 119.9
    assert e.pending(K, D1)
    clock.now += 0.1
    assert not e.pending(K, D1)
    # Without the version it came from, any copy the watch shows ends it.
    e.wrote(K, D1, {"uid": "cj-1"})
    e.observed(K, copy_of("10"))
    assert not e.pending(K, D1)


def stored(version: str, status: dict[str, Any]) -> dict[str, Any]:
    cr: dict[str, Any] = copy.deepcopy(dict(chronosjob()))
    cr["metadata"]["resourceVersion"] = version
    cr["status"] = status
    return cr


PATCHED = f"/apis/{GROUP}/{VERSION}/namespaces/team/chronosjobs/d/status"


def test_a_relist_of_the_pre_patch_copy_does_not_send_the_same_status_patch_again() -> None:
    """Over real HTTP: the patch answered with success is not sent again while the
    cache shows the copy it was computed from; another patch is; once the watch shows
    the patched copy, the same patch is sent again (a repair, not a repeat)."""
    answers = iter([Answer(stored("11", {"cron": "15 4 * * *"}))] * 4)

    def script(request: Request) -> Answer:
        return next(answers)

    async def scenario() -> list[Request]:
        async with FakeApiServer(script) as server:
            before = cast(ChronosJobDict, stored("10", {"cron": "0 3 * * *"}))
            ctx = OperatorContext(client=local_async_client(server.url), settings=SETTINGS)
            store = controller.ChronosJobs(ctx, WorkQueue(), Activity(ctx.client))
            store.upsert(dict(before))
            patch = ChronosJobStatus(cron="15 4 * * *")
            assert await patch_status(ctx, before, patch)
            store.upsert(dict(before))  # the relist: a LIST begun before the patch
            stale = ctx.cache.chronosjob(*K)
            assert stale is not None
            assert await patch_status(ctx, stale, patch)  # not sent again
            assert await patch_status(ctx, stale, ChronosJobStatus(cron="0 5 * * *"))
            store.upsert(stored("11", {"cron": "15 4 * * *"}))  # the watch shows it
            assert await patch_status(ctx, stale, patch)
            return list(server.requests)

    sent = asyncio.run(scenario())
    assert [(r.method, r.path) for r in sent] == [("PATCH", PATCHED)] * 3
    assert [json.loads(r.body) for r in sent] == [
        {"status": {"cron": "15 4 * * *"}},
        {"status": {"cron": "0 5 * * *"}},
        {"status": {"cron": "15 4 * * *"}},
    ]


@pytest.mark.parametrize("code", [404, 500])
def test_a_status_patch_that_failed_is_sent_again(code: int) -> None:
    def script(request: Request) -> Answer:
        return status(code, "NotFound" if code == 404 else "InternalError")

    async def scenario() -> int:
        async with FakeApiServer(script) as server:
            cr = cast(ChronosJobDict, stored("10", {}))
            ctx = OperatorContext(client=local_async_client(server.url), settings=SETTINGS)
            patch = ChronosJobStatus(cron="15 4 * * *")
            for _ in range(2):
                if code == 404:
                    assert not await patch_status(ctx, cr, patch)  # the job is gone
                else:
                    with pytest.raises(ApiError):  # to the sync's retry
                        await patch_status(ctx, cr, patch)
            assert len(ctx.status_writes) == 0
            return len(server.requests)

    assert asyncio.run(scenario()) == 2
