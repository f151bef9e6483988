"""Informers: a paginated LIST, then a WATCH from its resourceVersion, into a store.

The operator's caches and the REST facade's job cache both stay current through them.
Why not Kopf's watches (docs/architecture.md, "Own informers"): Kopf parses every event
into a whole object, queues it per object with no bound and builds a deep-copied
"essence" of it even for raw handlers — after a restart with 10,000 jobs its initial
LIST had 20,000 parsed objects in flight (756 MiB). Here each object arrives as a plain
dict, one page or one event at a time, and is handed at once to a ``Store`` that keeps
what its component needs (the operator: only what reconciling needs,
``chronos.operator.cache``; the facade: the object and its rendered view,
``chronos.api.cache``); nothing is parsed into lightkube's models.

The HTTP requests go through lightkube's own connection (its URL building, TLS, token
refresh); only the decoding is skipped, since lightkube would parse into models.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from lightkube import ApiError, AsyncClient

from chronos import http, kubewire
from chronos.backoff import Backoff, at_least

log = logging.getLogger(__name__)

Key = tuple[str, str]

PAGE = 500
_GLOB = frozenset("*?[!")


class Store(Protocol):
    """Where an informer puts what it sees (called synchronously, in event order)."""

    def upsert(self, obj: dict[str, Any]) -> None: ...

    def delete(self, obj: dict[str, Any]) -> None: ...

    def resync(self, namespace: str | None, seen: set[Key]) -> None:
        """A fresh LIST of ``namespace`` (None: all) is complete: forget the objects of
        that scope not in ``seen`` (deleted while the watch was broken)."""
        ...


@dataclass(frozen=True)
class Scope:
    """The namespaces watched: CHRONOS_NAMESPACES, with Kopf's pattern language kept.

    Comma-separated globs, left to right: the first inclusive glob matches, ``!glob``
    excludes, a later inclusive glob re-includes only what the first one matched; a
    leading exclusion implies a ``*`` before it. Empty: the whole cluster.
    """

    pattern: str = ""

    @property
    def globs(self) -> list[str]:
        globs = [g.strip() for g in self.pattern.split(",") if g.strip()]
        if globs and globs[0].startswith("!"):
            globs.insert(0, "*")
        return globs

    @property
    def names(self) -> list[str] | None:
        """The namespaces to watch one by one, if the pattern names them exactly;
        None: watch the cluster and keep what ``includes`` accepts."""
        globs = self.globs
        if not globs or any(_GLOB & set(g) for g in globs):
            return None
        return list(dict.fromkeys(globs))

    def includes(self, namespace: str) -> bool:
        globs = self.globs
        if not globs:
            return True
        matches = first = fnmatch.fnmatchcase(namespace, globs[0])
        for glob in globs[1:]:
            if glob.startswith("!"):
                matches = matches and not fnmatch.fnmatchcase(namespace, glob[1:])
            else:
                matches = matches or (first and fnmatch.fnmatchcase(namespace, glob))
        return matches


class WatchHealth:
    """Which informers are cut off now (a LIST or WATCH failing), for readiness: an API
    server that answers a probe says nothing about a watch stuck on a dead connection."""

    def __init__(self) -> None:
        self._broken: dict[str, str] = {}

    def failed(self, kind: str, exc: Exception) -> None:
        self._broken[kind] = f"{kind} watch broken: {_describe(exc)}"

    def healthy(self, kind: str) -> None:
        self._broken.pop(kind, None)

    def problem(self) -> str | None:
        """Why some watch is not current; None: all are."""
        return next(iter(self._broken.values()), None)


class _ExpiredError(Exception):
    """The resourceVersion is too old (410 Gone): list afresh.

    ``after_events``: the watch delivered events before it expired (so it worked)."""

    def __init__(self, *, after_events: bool = False) -> None:
        super().__init__("resourceVersion expired")
        self.after_events = after_events


class _WatchEndedEarlyError(Exception):
    """The server ended a watch at once without an event: retried after a backoff, so a
    proxy that answers every watch with an empty stream cannot make a busy loop."""


#: The server ends each watch after a random 45-60 s (``timeoutSeconds``; random, so
#: informers restarted together do not reconnect together). Nothing may be silent for
#: longer than that plus ``WATCH_GRACE``: then the connection is taken for half-open
#: (an API-server restart behind a load balancer, a NAT entry dropped) and watched
#: afresh. So a stalled watch is detected within 75 s; a rewatch costs one request.
WATCH_SECONDS = (45.0, 60.0)
WATCH_GRACE = 15.0
WATCH_HEADERS_SECONDS = 10.0
#: A watch shorter than this that brought nothing counts as a failure (backoff).
WATCH_MIN_SECONDS = 1.0


class Informer:
    """Keep ``store`` in step with every ``resource`` in ``scope`` matching ``labels``.

    ``on_error`` hears of every failed LIST or WATCH before it is tried again (after an
    exponential backoff with jitter, ``chronos.backoff.Backoff``); ``on_healthy`` of
    the first success after failures; a 429 or 503 waits at least its ``Retry-After``.
    A watch that ends or expires is not a failure: an expired one is listed again at
    once, but one that expires again before any event is listed again after the backoff.
    A failed WATCH resumes from the last resourceVersion seen (no LIST, unless the server
    says it is too old). An object the store cannot take is logged once and skipped:
    it is the store's problem, not the connection's, and listing again would not help.
    """

    def __init__(
        self,
        client: AsyncClient,
        resource: Any,
        store: Store,
        scope: Scope,
        *,
        labels: str | None = None,
        on_error: Callable[[str, Exception], None] | None = None,
        on_healthy: Callable[[str], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self._resource = resource
        self._store = store
        self._scope = scope
        self._labels = labels
        self._on_error = on_error
        self._on_healthy = on_healthy
        self._sleep, self._clock, self._rand = sleep, clock, rand
        self.kind = kubewire.resource_kind(resource)
        #: Set once every watched namespace has been listed (and stays set).
        self.synced = asyncio.Event()
        #: The namespaces (None: all) whose LIST or WATCH is failing now.
        self.broken: set[str | None] = set()
        #: Objects the store refused (logged once each until one is stored again).
        self._refused: set[Key] = set()
        self.store_errors = 0

    async def run(self) -> None:
        """Until cancelled (a broken watch is watched or listed again)."""
        namespaces: Iterable[str | None] = self._scope.names or [None]
        listed = [asyncio.Event() for _ in namespaces]
        loops = [self._loop(ns, done) for ns, done in zip(namespaces, listed, strict=True)]

        async def all_listed() -> None:
            for done in listed:
                await done.wait()
            self.synced.set()

        await asyncio.gather(all_listed(), *loops)

    async def _loop(self, namespace: str | None, listed: asyncio.Event) -> None:
        backoff = Backoff(clock=self._clock, rand=self._rand)
        version: str | None = None
        #: 410s in a row with no watch event between them.
        expired = 0
        while True:
            try:
                listing = version is None
                if version is None:
                    version = await self._list(namespace)
                    listed.set()
                    self._healthy(namespace)
                listing = False
                version = await self._watch(namespace, version)
                expired = 0
                continue
            except asyncio.CancelledError:
                raise
            except _ExpiredError as exc:
                version = None
                expired = 1 if exc.after_events else expired + 1
                if expired == 1:
                    # Routine: history was compacted past the version resumed from.
                    log.info("%s: resourceVersion expired; listing again", self.kind)
                    continue
                # Expired again before any event: not compaction but a server (or a
                # proxy) answering every watch so. Listing again at once would be a hot
                # loop of full LISTs (80-150 requests/s seen); back off as for failures,
                # as client-go's reflector does between list-and-watch rounds.
                delay = backoff.next()
                log.log(
                    logging.INFO if expired == 2 else logging.DEBUG,
                    "%s: resourceVersion expired again; listing again in %.1f s",
                    self.kind,
                    delay,
                )
                await self._sleep(delay)
                continue
            except Exception as exc:  # noqa: BLE001 - each failure is reported, then retried
                error = exc
                if not _resumable(exc):
                    version = None  # an answer not understood: start from a LIST
            # A server that is busy (429) or not serving yet (503) may say how long to
            # wait; the backoff's step is kept when it is longer.
            delay = at_least(backoff.next(), kubewire.retry_after(error), backoff.cap)
            self._failed(namespace, error, delay, listing=listing)
            await self._sleep(delay)

    def _failed(
        self, namespace: str | None, exc: Exception, delay: float, *, listing: bool
    ) -> None:
        what = "list" if listing else "watch"
        if namespace not in self.broken:
            # Once per outage at WARNING; the retries of the same outage at DEBUG.
            log.warning(
                "%s %s failed (%s); retrying in %.1f s",
                self.kind,
                what,
                _describe(exc),
                delay,
                exc_info=not isinstance(exc, http.TransportError | TimeoutError),
            )
        else:
            log.debug("%s %s failed again (%s)", self.kind, what, _describe(exc))
        self.broken.add(namespace)
        if self._on_error is not None:
            self._on_error(self.kind, exc)

    def _healthy(self, namespace: str | None) -> None:
        if namespace not in self.broken:
            return
        self.broken.discard(namespace)
        log.info("%s watch working again", self.kind)
        if not self.broken and self._on_healthy is not None:
            self._on_healthy(self.kind)

    def _request(
        self, namespace: str | None, params: dict[str, Any], *, watch: bool, read: float | None
    ) -> Any:
        timeout = kubewire.default_timeout(self._client)
        return kubewire.list_request(
            self._client,
            self._resource,
            namespace=namespace,
            params={**params, "labelSelector": self._labels},
            watch=watch,
            timeout=timeout if read is None else http.Timeout(timeout.connect, read=read),
        )

    async def _send(self, request: Any) -> Any:
        response = await kubewire.send(self._client, request)
        await kubewire.raise_for_status(response)
        return response

    def _store_call(self, method: Callable[[dict[str, Any]], None], obj: dict[str, Any]) -> None:
        """Hand ``obj`` to the store; a refusal is logged once per object and skipped."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta.get("name", ""))
        try:
            method(obj)
        except Exception:
            self.store_errors += 1
            if key not in self._refused:
                self._refused.add(key)
                log.exception("%s %s/%s could not be stored; skipped", self.kind, *key)
            return
        self._refused.discard(key)

    async def _list(self, namespace: str | None) -> str:
        """One page at a time into the store; returns the list's resourceVersion.

        A continue token that expired (410 on a later page) starts the LIST over."""
        seen: set[Key] = set()
        params: dict[str, Any] = {"limit": PAGE}
        while True:
            try:
                response = await self._send(
                    self._request(namespace, params, watch=False, read=None)
                )
            except ApiError as exc:
                if exc.status.code == 410 and "continue" in params:
                    raise _ExpiredError from exc
                raise
            try:
                page = json.loads(await response.aread())
            finally:
                await response.aclose()
            # LIST items come without apiVersion and kind (a watch event's object has
            # them): set them, so a listed object compares as a watched one does (a
            # CronJob listed at start-up was taken for drifted, costing a GET each).
            api_version = page.get("apiVersion")
            kind = str(page.get("kind") or "").removesuffix("List") or None
            for obj in page.get("items") or []:
                if api_version and kind:
                    obj.setdefault("apiVersion", api_version)
                    obj.setdefault("kind", kind)
                meta = obj["metadata"]
                if self._scope.includes(meta["namespace"]):
                    seen.add((meta["namespace"], meta["name"]))
                    self._store_call(self._store.upsert, obj)
            del page["items"]
            # Let the workers and the lease renewal run between pages.
            await asyncio.sleep(0)
            if not (cont := page["metadata"].get("continue")):
                try:
                    self._store.resync(namespace, seen)
                except Exception:
                    self.store_errors += 1
                    log.exception("%s: forgetting vanished objects failed", self.kind)
                version: str = page["metadata"]["resourceVersion"]
                return version
            params["continue"] = cont

    async def _watch(self, namespace: str | None, version: str) -> str:
        """Watch from ``version`` until the server ends the request; returns the last
        version seen (the next watch starts there).

        Read with a deadline: the server ends the watch after ``timeoutSeconds``, so a
        connection silent for longer is dead (half-open) and raises TimeoutError."""
        seconds = WATCH_SECONDS[0] + (WATCH_SECONDS[1] - WATCH_SECONDS[0]) * self._rand()
        params = {
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": int(seconds),
        }
        started, events = self._clock(), 0
        async with asyncio.timeout(seconds + WATCH_GRACE):
            request = self._request(namespace, params, watch=True, read=seconds + WATCH_GRACE)
            try:
                # The API server answers a watch's headers at once; a server that does
                # not within this is unreachable (the stream's long read timeout would
                # leave a reconnect to a dead address waiting up to 75 s).
                async with asyncio.timeout(WATCH_HEADERS_SECONDS):
                    response = await self._send(request)
            except ApiError as exc:
                if exc.status.code == 410:
                    raise _ExpiredError from exc
                raise
            self._healthy(namespace)
            try:
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    version = self._event(json.loads(line), version)
                    events += 1
                    # Lines already received are read without waiting; a backlog of
                    # thousands must not hold the event loop (workers, probes, the lease).
                    await asyncio.sleep(0)
            except _ExpiredError as exc:
                raise _ExpiredError(after_events=events > 0) from exc
            finally:
                await response.aclose()
        if not events and self._clock() - started < WATCH_MIN_SECONDS:
            raise _WatchEndedEarlyError(f"{self.kind} watch ended at once")
        return version

    def _event(self, event: dict[str, Any], version: str) -> str:
        """Apply one watch event; returns the resourceVersion to resume from."""
        kind, obj = event["type"], event["object"]
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _ExpiredError
            raise RuntimeError(f"{self.kind} watch: error event {obj.get('code')}")
        seen: str = obj["metadata"]["resourceVersion"]
        if kind == "BOOKMARK" or not self._scope.includes(obj["metadata"]["namespace"]):
            return seen
        if kind == "DELETED":
            self._store_call(self._store.delete, obj)
        else:
            self._store_call(self._store.upsert, obj)
        return seen


def _resumable(exc: Exception) -> bool:
    """Can a watch that failed so resume from its resourceVersion? Yes after a broken
    or silent connection and when the server was busy or down (429, 5xx); an answer not
    understood starts over from a LIST."""
    if isinstance(exc, ApiError):
        return exc.status.code == 429 or (exc.status.code or 0) >= 500
    return isinstance(exc, http.TransportError | TimeoutError | _WatchEndedEarlyError)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        return f"{exc.status.code} {exc.status.reason or ''}".strip()
    return type(exc).__name__
