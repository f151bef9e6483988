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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from lightkube import AsyncClient

from chronos import http, kubewire

log = logging.getLogger(__name__)

Key = tuple[str, str]

PAGE = 500
WATCH_SERVER_TIMEOUT = 300
RETRY_SECONDS = 1.0
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


class _ExpiredError(Exception):
    """The watch's resourceVersion is too old (410 Gone): list afresh."""


class Informer:
    """Keep ``store`` in step with every ``resource`` in ``scope`` matching ``labels``.

    ``on_error`` hears of every failed LIST or WATCH before it is tried again (a second
    later); a watch that ends or expires is not a failure.
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
    ) -> None:
        self._client = client
        self._resource = resource
        self._store = store
        self._scope = scope
        self._labels = labels
        self._on_error = on_error
        self.kind = kubewire.resource_kind(resource)
        #: Set once every watched namespace has been listed (and stays set).
        self.synced = asyncio.Event()

    async def run(self) -> None:
        """Until cancelled (a broken watch is listed and watched again)."""
        namespaces: Iterable[str | None] = self._scope.names or [None]
        listed = [asyncio.Event() for _ in namespaces]
        loops = [self._loop(ns, done) for ns, done in zip(namespaces, listed, strict=True)]

        async def all_listed() -> None:
            for done in listed:
                await done.wait()
            self.synced.set()

        await asyncio.gather(all_listed(), *loops)

    async def _loop(self, namespace: str | None, listed: asyncio.Event) -> None:
        while True:
            try:
                version = await self._list(namespace)
                listed.set()
                while True:
                    version = await self._watch(namespace, version)
            except asyncio.CancelledError:
                raise
            except _ExpiredError:
                log.info("%s watch expired; listing again", self.kind)
            except Exception as exc:
                log.warning("%s watch failed; listing again", self.kind, exc_info=True)
                if self._on_error is not None:
                    self._on_error(self.kind, exc)
                await asyncio.sleep(RETRY_SECONDS)

    def _request(self, namespace: str | None, params: dict[str, Any], *, watch: bool) -> Any:
        return kubewire.list_request(
            self._client,
            self._resource,
            namespace=namespace,
            params={**params, "labelSelector": self._labels},
            watch=watch,
            # A watch waits for events without a read timeout (lightkube's own setting).
            timeout=self._timeout(watch),
        )

    def _timeout(self, watch: bool) -> http.Timeout:
        timeout = kubewire.default_timeout(self._client)
        return http.Timeout(timeout.connect, read=None) if watch else timeout

    async def _send(self, request: Any) -> Any:
        response = await kubewire.send(self._client, request)
        await kubewire.raise_for_status(response)
        return response

    async def _list(self, namespace: str | None) -> str:
        """One page at a time into the store; returns the list's resourceVersion."""
        seen: set[Key] = set()
        params: dict[str, Any] = {"limit": PAGE}
        while True:
            response = await self._send(self._request(namespace, params, watch=False))
            try:
                page = json.loads(await response.aread())
            finally:
                await response.aclose()
            for obj in page.get("items") or []:
                meta = obj["metadata"]
                if self._scope.includes(meta["namespace"]):
                    seen.add((meta["namespace"], meta["name"]))
                    self._store.upsert(obj)
            del page["items"]
            # Let the workers and the lease renewal run between pages.
            await asyncio.sleep(0)
            if not (cont := page["metadata"].get("continue")):
                self._store.resync(namespace, seen)
                version: str = page["metadata"]["resourceVersion"]
                return version
            params["continue"] = cont

    async def _watch(self, namespace: str | None, version: str) -> str:
        """Watch from ``version`` until the server ends the request; returns the last
        version seen (the next watch starts there)."""
        params = {
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": WATCH_SERVER_TIMEOUT,
        }
        response = await self._send(self._request(namespace, params, watch=True))
        try:
            async for line in response.aiter_lines():
                if not line:
                    continue
                event = json.loads(line)
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _ExpiredError
                    raise RuntimeError(f"{self.kind} watch: {obj.get('message')}")
                version = obj["metadata"]["resourceVersion"]
                if kind == "BOOKMARK" or not self._scope.includes(obj["metadata"]["namespace"]):
                    continue
                if kind == "DELETED":
                    self._store.delete(obj)
                else:
                    self._store.upsert(obj)
                # Lines already received are read without waiting; a backlog of
                # thousands must not hold the event loop (workers, probes, the lease).
                await asyncio.sleep(0)
        finally:
            await response.aclose()
        return version
