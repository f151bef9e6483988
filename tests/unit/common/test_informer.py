"""The shared informer against a tiny real API server (tests/fakeapi.py): paging,
expired continue tokens, bookmarks, relists, store errors, backoff and stalled watches.

The backoff's sleeps are injected (recorded, not waited); only the stalled-watch test
waits, for a deadline shortened to half a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fakeapi import Answer, FakeApiServer, Request, Stream, event, obj, page, status
from lightkube.resources.batch_v1 import CronJob
from support import local_async_client

from chronos import http
from chronos import informer as inf
from chronos.informer import Informer, Key, Scope, WatchHealth
from chronos.operator.probe import probe_loop
from chronos.readiness import Readiness

Response = Answer | Stream


class Scripted:
    """Answers in order; once they run out, every watch hangs (a quiet resource)."""

    def __init__(self, *answers: Response) -> None:
        self.answers = list(answers)

    def __call__(self, request: Request) -> Response:
        if self.answers:
            return self.answers.pop(0)
        assert request.watch, f"unscripted LIST {request.params}"
        return Stream(hang=True)


class DictStore:
    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.objects: dict[Key, str] = {}
        self.refuse = refuse
        self.calls = 0
        self.kinds: set[tuple[str | None, str | None]] = set()

    def upsert(self, o: dict[str, Any]) -> None:
        self.calls += 1
        self.kinds.add((o.get("apiVersion"), o.get("kind")))
        meta = o["metadata"]
        if meta["name"] in self.refuse:
            raise ValueError(f"cannot store {meta['name']}")
        self.objects[(meta["namespace"], meta["name"])] = meta["resourceVersion"]

    def delete(self, o: dict[str, Any]) -> None:
        self.objects.pop((o["metadata"]["namespace"], o["metadata"]["name"]), None)

    def resync(self, namespace: str | None, seen: set[Key]) -> None:
        for key in set(self.objects) - seen:
            del self.objects[key]


class Harness:
    def __init__(self, script: Scripted, store: DictStore | None = None) -> None:
        self.server = FakeApiServer(script)
        self.store = store or DictStore()
        self.sleeps: list[float] = []
        self.errors: list[Exception] = []
        self.healthy = 0
        #: WatchHealth's answer right after each failure.
        self.problems: list[str | None] = []
        self.health = WatchHealth()

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)

    def _error(self, kind: str, exc: Exception) -> None:
        self.errors.append(exc)
        self.health.failed(kind, exc)
        self.problems.append(self.health.problem())

    def _healthy(self, kind: str) -> None:
        self.healthy += 1
        self.health.healthy(kind)

    async def run_until(self, done: Callable[[], bool], timeout: float = 5.0) -> Informer:
        async with self.server:
            informer = Informer(
                local_async_client(self.server.url),
                CronJob,
                self.store,
                Scope(),
                on_error=self._error,
                on_healthy=self._healthy,
                sleep=self._sleep,
                rand=lambda: 0.0,
            )
            task = asyncio.create_task(informer.run())
            try:
                async with asyncio.timeout(timeout):
                    while not done():
                        if task.done():
                            task.result()  # raises what stopped it
                            raise AssertionError("the informer stopped")
                        await asyncio.sleep(0.01)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            return informer

    @property
    def lists(self) -> list[Request]:
        return [r for r in self.server.requests if not r.watch]

    @property
    def watches(self) -> list[Request]:
        return [r for r in self.server.requests if r.watch]


def test_a_list_is_read_page_by_page_and_watched_from_its_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inf, "PAGE", 2)
    h = Harness(
        Scripted(
            page([obj("a", "1"), obj("b", "2")], "9", cont="c1"),
            page([obj("c", "3"), obj("d", "4")], "9", cont="c2"),
            page([obj("e", "5")], "9"),
        )
    )
    informer = asyncio.run(h.run_until(lambda: len(h.watches) == 1))
    assert [r.params.get("continue") for r in h.lists] == [None, "c1", "c2"]
    assert {r.params["limit"] for r in h.lists} == {"2"}
    assert len(h.store.objects) == 5
    # Listed items are given the apiVersion and kind that LIST leaves out of each item,
    # so they compare with desired manifests as watched objects do.
    assert h.store.kinds == {("batch/v1", "CronJob")}
    assert h.watches[0].params["resourceVersion"] == "9"
    assert h.watches[0].params["allowWatchBookmarks"] == "true"
    assert 45 <= int(h.watches[0].params["timeoutSeconds"]) <= 60
    assert informer.synced.is_set()
    assert (h.sleeps, h.errors) == ([], [])


def test_an_expired_continue_token_starts_the_list_over_at_once() -> None:
    h = Harness(
        Scripted(
            page([obj("a", "1")], "9", cont="c1"),
            status(410, "Expired"),  # the continue token outlived its compaction
            page([obj("a", "1")], "12", cont="c3"),
            page([obj("b", "11")], "12"),
        )
    )
    asyncio.run(h.run_until(lambda: len(h.watches) == 1))
    assert [r.params.get("continue") for r in h.lists] == [None, "c1", None, "c3"]
    assert set(h.store.objects) == {("team", "a"), ("team", "b")}
    assert h.watches[0].params["resourceVersion"] == "12"
    assert h.sleeps == []  # not a failure: no backoff


def test_bookmarks_move_the_resume_point_without_touching_the_store() -> None:
    h = Harness(
        Scripted(
            page([obj("a", "1")], "5"),
            Stream([event("ADDED", obj("b", "6")), event("BOOKMARK", obj("", "20"))]),
        )
    )
    asyncio.run(h.run_until(lambda: len(h.watches) == 2))
    assert [w.params["resourceVersion"] for w in h.watches] == ["5", "20"]
    assert h.store.objects == {("team", "a"): "1", ("team", "b"): "6"}
    assert len(h.lists) == 1  # the watch ended normally: no relist


def test_an_expired_watch_relists_and_the_relist_drops_what_vanished() -> None:
    h = Harness(
        Scripted(
            page([obj("a", "1"), obj("b", "2")], "5"),
            Stream([event("ERROR", {"code": 410, "reason": "Expired"})]),
            page([obj("a", "1")], "30"),  # b was deleted while unwatched
        )
    )
    asyncio.run(h.run_until(lambda: len(h.watches) == 2))
    assert h.store.objects == {("team", "a"): "1"}
    assert h.watches[1].params["resourceVersion"] == "30"
    assert (h.sleeps, h.errors) == ([], [])


def test_a_watch_expiring_again_before_any_event_relists_after_a_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One 410 is compaction: listed again at once. A 410 again to the watch from the
    fresh list's version, before any event, is a server answering every watch so:
    each further relist waits the backoff (it was a hot loop of LISTs), quietly — it
    is not a failure, each LIST brings the store up to date."""
    gone = Stream([event("ERROR", {"code": 410, "reason": "Expired"})])
    h = Harness(
        Scripted(
            page([obj("a", "1")], "5"),
            gone,  # compaction: at once
            page([obj("a", "1")], "6"),
            status(410, "Expired"),  # expired again, on the request: backed off
            page([obj("a", "1")], "7"),
            gone,
            page([obj("a", "1")], "8"),
            Stream([event("ADDED", obj("b", "9")), event("ERROR", {"code": 410})]),
            page([obj("a", "1"), obj("b", "9")], "10"),  # the watch worked: at once
            gone,
            page([obj("a", "1"), obj("b", "9")], "11"),
        )
    )
    with caplog.at_level(logging.DEBUG, logger="chronos.informer"):
        asyncio.run(h.run_until(lambda: len(h.watches) == 6))
    assert len(h.lists) == 6
    assert [round(s, 2) for s in h.sleeps] == [0.8, 1.6, 3.2]
    assert (h.errors, h.healthy) == ([], 0)
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert said == [
        ("INFO", "CronJob: resourceVersion expired; listing again"),
        ("INFO", "CronJob: resourceVersion expired again; listing again in 0.8 s"),
        ("DEBUG", "CronJob: resourceVersion expired again; listing again in 1.6 s"),
        ("INFO", "CronJob: resourceVersion expired; listing again"),
        ("INFO", "CronJob: resourceVersion expired again; listing again in 3.2 s"),
    ]


def test_retry_after_is_waited_when_longer_than_the_backoff_step() -> None:
    h = Harness(
        Scripted(
            page([obj("a", "1")], "5"),
            status(429, "TooManyRequests", {"Retry-After": "5"}),
            status(503, "ServiceUnavailable", {"Retry-After": "1"}),  # the step is longer
            status(503, "ServiceUnavailable", {"Retry-After": "3600"}),  # capped
            status(500, "InternalError", {"Retry-After": "9"}),  # not a 429 or 503
            Stream([event("ADDED", obj("b", "8"))]),
        )
    )
    asyncio.run(h.run_until(lambda: len(h.watches) == 6))
    assert [round(s, 2) for s in h.sleeps] == [5.0, 1.6, 30.0, 6.4]


def test_an_object_the_store_refuses_is_skipped_and_logged_once_not_relisted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = obj("bad", "2")
    h = Harness(
        Scripted(
            page([obj("a", "1"), bad], "5"),
            Stream(
                [
                    event("MODIFIED", {**bad, "metadata": {**bad["metadata"]}}),
                    event("ADDED", obj("c", "7")),
                ]
            ),
        ),
        DictStore(refuse=frozenset({"bad"})),
    )
    with caplog.at_level(logging.WARNING, logger="chronos.informer"):
        informer = asyncio.run(h.run_until(lambda: len(h.watches) == 2))
    assert set(h.store.objects) == {("team", "a"), ("team", "c")}
    assert (len(h.lists), h.errors, h.sleeps) == (1, [], [])
    assert informer.store_errors == 2
    refusals = [r for r in caplog.records if "could not be stored" in r.getMessage()]
    assert len(refusals) == 1


def test_failing_lists_back_off_exponentially_and_log_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(
        Scripted(
            *[status(500, "InternalError")] * 4,
            page([obj("a", "1")], "5"),
        )
    )
    with caplog.at_level(logging.WARNING, logger="chronos.informer"):
        asyncio.run(h.run_until(lambda: len(h.watches) == 1))
    assert [round(s, 2) for s in h.sleeps] == [0.8, 1.6, 3.2, 6.4]
    assert (len(h.errors), h.healthy) == (4, 1)
    assert h.health.problem() is None
    warnings = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


def test_a_busy_or_failing_watch_resumes_from_its_version_without_a_list() -> None:
    h = Harness(
        Scripted(
            page([obj("a", "1")], "5"),
            status(429, "TooManyRequests"),
            status(503, "ServiceUnavailable"),
            Stream([event("ADDED", obj("b", "8"))]),
        )
    )
    asyncio.run(h.run_until(lambda: len(h.watches) == 4))
    assert len(h.lists) == 1
    assert [w.params["resourceVersion"] for w in h.watches] == ["5", "5", "5", "8"]
    assert [round(s, 2) for s in h.sleeps] == [0.8, 1.6]


def test_a_watch_ending_at_once_without_events_is_backed_off() -> None:
    h = Harness(Scripted(page([], "5"), Stream(), Stream(), Stream()))
    asyncio.run(h.run_until(lambda: len(h.watches) == 4))
    assert [round(s, 2) for s in h.sleeps] == [0.8, 1.6, 3.2]


def test_a_silent_watch_is_taken_for_half_open_and_watched_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server ends every watch after timeoutSeconds; a connection silent for longer
    than that plus a grace is dead, however long TCP would take to notice."""
    monkeypatch.setattr(inf, "WATCH_SECONDS", (0.3, 0.3))
    monkeypatch.setattr(inf, "WATCH_GRACE", 0.2)
    h = Harness(Scripted(page([obj("a", "1")], "5"), Stream(hang=True)))
    # Until the second watch is answered (asked for is not enough: health turns good
    # only on its answer); times out, and fails, if that never comes.
    asyncio.run(h.run_until(lambda: len(h.watches) == 2 and h.health.problem() is None))
    assert len(h.lists) == 1
    assert [w.params["resourceVersion"] for w in h.watches] == ["5", "5"]
    assert len(h.errors) == 1
    assert isinstance(h.errors[0], TimeoutError | http.TimeoutException)
    assert h.problems == ["CronJob watch broken: TimeoutError"]


def test_readiness_is_false_while_a_watch_is_cut_off_though_the_api_server_answers() -> None:
    clock = [0.0]
    readiness = Readiness(grace=0.0, clock=lambda: clock[0])
    problem: list[str | None] = [None]

    async def scenario() -> list[tuple[bool, str]]:
        states = []
        async with FakeApiServer(lambda _: page([], "1")) as server:
            may_sync = asyncio.Event()
            may_sync.set()
            loop = asyncio.create_task(
                probe_loop(
                    local_async_client(server.url),
                    readiness,
                    namespace=None,
                    may_sync=may_sync,
                    watch_problem=lambda: problem[0],
                )
            )
            for value in (None, "CronJob watch broken: TimeoutError", None):
                problem[0] = value
                before = len(server.requests)
                while len(server.requests) < before + 2:  # a whole probe since the change
                    await asyncio.sleep(0.05)
                states.append(readiness.state())
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        return states

    states = asyncio.run(scenario())
    assert states[0] == (True, "ok")
    assert states[1][0] is False
    assert "CronJob watch broken" in states[1][1]
    assert states[2] == (True, "ok")


def test_a_watch_whose_headers_never_come_is_given_up_quickly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reconnect to a server that accepts but never answers (half-open, or an API
    server not serving yet) fails after the headers timeout, not the stream's."""
    monkeypatch.setattr(inf, "WATCH_HEADERS_SECONDS", 0.3)
    answered = asyncio.Event()

    class Silent(Scripted):
        def __call__(self, request: Request) -> Response:
            if request.watch and not answered.is_set():
                answered.set()
                return Stream(hang=True, headers=False)
            return super().__call__(request)

    h = Harness(Silent(page([obj("a", "1")], "5")))
    started = asyncio.run(_timed(h.run_until(lambda: len(h.watches) == 2)))
    assert started < 3  # the stream's own deadline would be 60-75 s
    assert len(h.errors) == 1
    assert isinstance(h.errors[0], TimeoutError)


async def _timed(work: Any) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await work
    return loop.time() - start
