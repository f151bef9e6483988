"""The operator's control loop pieces without a cluster: the work queue, the namespace
scope of the informers, the health endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chronos.backoff import RateLimiter
from chronos.informer import Key, Scope
from chronos.operator import controller
from chronos.operator.metrics import Health
from chronos.operator.workqueue import Reason, WorkQueue
from chronos.readiness import Readiness

A, B, C = ("team", "a"), ("team", "b"), ("team", "c")


def test_a_key_added_twice_is_served_once_with_both_reasons() -> None:
    async def scenario() -> None:
        queue = WorkQueue()
        queue.add(A, Reason.HOUSEKEEPING)
        queue.add(A)
        queue.add(A)
        assert len(queue) == 1
        key, reason = await queue.get()
        assert (key, reason) == (A, Reason.EVENT | Reason.HOUSEKEEPING)
        queue.done(A)
        assert len(queue) == 0

    asyncio.run(scenario())


def test_events_go_before_housekeeping_even_when_promoted() -> None:
    async def scenario() -> list[tuple[str, str]]:
        queue = WorkQueue()
        for key in (A, B, C):
            queue.add(key, Reason.HOUSEKEEPING)
        queue.add(C)  # an event for a job waiting for housekeeping: served first
        order = []
        while len(queue):
            key, _ = await queue.get()
            queue.done(key)
            order.append(key)
        return order

    assert asyncio.run(scenario()) == [C, A, B]


def test_a_key_is_never_served_twice_at_once_and_a_change_meanwhile_is_served_after() -> None:
    async def scenario() -> None:
        queue = WorkQueue()
        queue.add(A)
        assert await queue.get() == (A, Reason.EVENT)
        queue.add(A)  # changed while a worker holds it
        assert len(queue) == 0  # not handed to a second worker
        second = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        assert not second.done()
        queue.done(A)  # the first worker finishes: now it is served again
        assert await asyncio.wait_for(second, 1) == (A, Reason.EVENT)
        queue.done(A)
        assert len(queue) == 0

    asyncio.run(scenario())


def test_waiting_workers_are_woken_one_per_key() -> None:
    async def scenario() -> None:
        queue = WorkQueue()
        workers = [asyncio.create_task(queue.get()) for _ in range(3)]
        await asyncio.sleep(0)
        queue.add(A)
        queue.add(B)
        await asyncio.sleep(0)
        done = [w for w in workers if w.done()]
        assert sorted(w.result()[0] for w in done) == [A, B]
        pending = [w for w in workers if not w.done()]
        assert len(pending) == 1
        pending[0].cancel()
        await asyncio.sleep(0)
        queue.add(C)  # the cancelled waiter does not swallow it
        assert await asyncio.wait_for(queue.get(), 1) == (C, Reason.EVENT)

    asyncio.run(scenario())


def test_a_cancelled_waiter_passes_its_wake_up_on() -> None:
    async def scenario() -> None:
        queue = WorkQueue()
        first = asyncio.create_task(queue.get())
        second = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        queue.add(A)  # wakes ``first`` …
        first.cancel()  # … which is cancelled before it runs
        result = await asyncio.wait_for(second, 1)
        assert result == (A, Reason.EVENT)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("pattern", "included", "excluded"),
    [
        ("", ["default", "team-a"], []),
        ("team-a", ["team-a"], ["team-b", "team-a-x"]),
        ("team-*,!team-sandbox", ["team-a", "team-b"], ["team-sandbox", "default"]),
        ("!kube-*", ["default", "team"], ["kube-system", "kube-public"]),
        # Kopf's documented examples (kopf._cogs.structs.references.match_namespace):
        ("myapp-*, !*-pr-*, *pr-123", ["myapp-test", "myapp-pr-123"], ["myapp-pr-456"]),
        ("myapp-*, !*-pr-*, *pr-123", [], ["otherapp-pr-123"]),
        ("!*-pr-*, *pr-123", ["anyapp-x", "otherapp-pr-123"], ["myapp-pr-456"]),
        ("*,!solo-*", ["default"], ["solo-1234"]),
    ],
)
def test_the_namespace_scope_keeps_kopfs_pattern_language(
    pattern: str, included: list[str], excluded: list[str]
) -> None:
    scope = Scope(pattern)
    assert [n for n in included if scope.includes(n)] == included
    assert [n for n in excluded if scope.includes(n)] == []


def test_exact_names_are_watched_one_by_one_and_globs_across_the_cluster() -> None:
    assert Scope("team-a").names == ["team-a"]
    assert Scope(" team-a , team-b,team-a").names == ["team-a", "team-b"]
    assert Scope("").names is None
    assert Scope("team-*").names is None
    assert Scope("team-a,!team-b").names is None


def test_health_endpoints_answer_as_the_probes_expect() -> None:
    readiness = Readiness(grace=0)
    health = Health(readiness)
    assert health.answer("GET", "/healthz")[0] == 200
    readiness.unsynced("leader: starting the watches")
    code, kind, body = health.answer("GET", "/readyz")
    assert (code, kind) == (503, "application/json")
    assert json.loads(body) == {"ready": False, "reason": "leader: starting the watches"}
    readiness.synced()
    assert health.answer("GET", "/readyz?verbose")[0] == 200
    code, kind, body = health.answer("GET", "/metrics")
    assert code == 200
    assert kind.startswith("text/plain")
    assert b"chronos_operator_queued_jobs" in body
    assert health.answer("POST", "/healthz")[0] == 405
    assert health.answer("GET", "/nothing")[0] == 404


def test_the_health_server_speaks_http() -> None:
    async def scenario() -> tuple[bytes, bytes]:
        health = Health(Readiness(grace=0))
        server = await health.serve("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        answers = []
        for request in (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            b"HEAD /healthz HTTP/1.0\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            answers.append(await reader.read())
            writer.close()
        server.close()
        await server.wait_closed()
        return answers[0], answers[1]

    get, head = asyncio.run(scenario())
    assert get.startswith(b"HTTP/1.1 200 OK\r\n")
    assert get.endswith(b'\r\n\r\n{"status":"ok"}')
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert head.endswith(b"\r\n\r\n")


def test_a_failed_key_comes_back_rate_limited_with_its_reason_not_as_an_event() -> None:
    async def scenario() -> None:
        limiter = RateLimiter(base=0.05, jitter=0.0)
        queue = WorkQueue(limiter)
        queue.add(A, Reason.HOUSEKEEPING)
        queue.add(B)
        key, reason = await queue.get()
        assert key == B
        queue.done(B)
        key, reason = await queue.get()
        assert (key, reason) == (A, Reason.HOUSEKEEPING)
        delay = queue.add_rate_limited(A, reason)
        queue.done(A)
        assert delay == 0.05
        assert len(queue) == 0  # not before its delay
        queue.add(C, Reason.HOUSEKEEPING)
        await asyncio.sleep(0.08)
        queue.add(B)
        # B (an event) goes first; the retry waits in the routine lane behind C.
        served = []
        for _ in range(3):
            key, reason = await queue.get()
            served.append((key, reason))
            queue.done(key)
        assert served == [
            (B, Reason.EVENT),
            (C, Reason.HOUSEKEEPING),
            (A, Reason.HOUSEKEEPING | Reason.RETRY),
        ]
        assert queue.add_rate_limited(A, Reason.EVENT) == 0.1  # its second failure
        # A 429/503's Retry-After when longer than the step (up to the limiter's cap).
        assert queue.add_rate_limited(A, Reason.EVENT, retry_after=2.0) == 2.0
        assert queue.add_rate_limited(A, Reason.EVENT, retry_after=0.01) == 0.4
        assert queue.add_rate_limited(A, Reason.EVENT, retry_after=3600) == limiter.cap
        queue.forget(A)
        assert queue.failures(A) == 0

    asyncio.run(scenario())


def test_a_failing_sync_warns_once_per_run_of_failures_and_says_when_it_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """In an outage every job fails at every backoff step: one WARNING per job (the
    first failure), the retries at DEBUG, an INFO when it works again; a new run of
    failures after that warns again."""
    outcomes = {A: [False, False, False, True, False, True], B: [True]}

    async def serve(_ctx: Any, key: Key, _reason: Reason) -> None:
        if not outcomes[key].pop(0):
            raise ConnectionRefusedError

    async def scenario() -> None:
        queue = WorkQueue(RateLimiter(base=0.001, jitter=0.0))
        worker = asyncio.create_task(controller._worker(None, queue, serve))  # type: ignore[arg-type]
        queue.add(A)
        queue.add(B)
        async with asyncio.timeout(5):
            while len(outcomes[A]) > 2:
                await asyncio.sleep(0.005)
            queue.add(A)  # a new change: it fails once more
            while outcomes[A] or outcomes[B]:
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.01)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    with caplog.at_level(logging.DEBUG, logger="chronos.operator.controller"):
        asyncio.run(scenario())
    said = [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records]
    assert said == [
        ("WARNING", "sync of team/a failed"),
        ("DEBUG", "sync of team/a failed"),
        ("DEBUG", "sync of team/a failed"),
        ("INFO", "sync of team/a succeeded again after 3 failures"),
        ("WARNING", "sync of team/a failed"),
        ("INFO", "sync of team/a succeeded again after 1 failures"),
    ]
    assert caplog.records[0].exc_info is not None  # the traceback once
    assert not caplog.records[1].exc_info


def test_a_key_is_queued_at_the_instant_asked_for_and_the_earliest_timer_wins() -> None:
    async def scenario() -> None:
        queue = WorkQueue()
        now = datetime.now(UTC)
        loop = asyncio.get_running_loop()
        queue.add_at(A, now + timedelta(seconds=30), now=now)
        queue.add_at(A, now + timedelta(seconds=0.2), now=now)  # earlier: replaces
        queue.add_at(A, now + timedelta(seconds=10), now=now)  # later: the earlier stays
        queue.add_at(B, now + timedelta(seconds=0.2), now=now)
        queue.add_at(B, now + timedelta(seconds=0.2), now=now)  # the same instant: once
        assert queue.timer(A) == now + timedelta(seconds=0.2)
        assert len(queue) == 0  # nothing before its time
        started = loop.time()
        served = []
        for _ in range(2):
            key, reason = await asyncio.wait_for(queue.get(), 5)
            served.append(key)
            assert reason == Reason.EVENT | Reason.TIMER
            queue.done(key)
        assert sorted(served) == [A, B]
        assert 0.15 <= loop.time() - started < 5
        assert queue.timer(A) is None
        assert queue.timer(B) is None
        # Nothing else comes: the replaced 30 s timer and the ignored 10 s one are gone.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(queue.get(), 0.4)

    asyncio.run(scenario())


def test_an_instant_already_past_queues_the_key_at_once() -> None:
    async def scenario() -> None:
        queue = WorkQueue()
        queue.add_at(A, datetime.now(UTC) - timedelta(seconds=5))
        key, reason = await asyncio.wait_for(queue.get(), 1)
        assert (key, reason) == (A, Reason.EVENT | Reason.TIMER)

    asyncio.run(scenario())
