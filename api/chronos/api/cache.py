"""A watch-backed cache of every ChronosJob the facade can see, and its rendered views.

Kept current by the shared informer (``chronos.informer``, as the operator's caches
are): a paginated LIST, then a WATCH from its resourceVersion; a broken or expired watch
lists again, and what the new LIST lacks is forgotten. Writes made through the facade
are applied from their responses at once, so a caller reads its own writes; a watch
event older than what the cache holds is ignored (resource versions compared as
integers, which is what etcd gives them).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from lightkube import AsyncClient

from chronos.informer import Informer, Scope
from chronos.kube import ChronosJobResource
from chronos.models.wire import ChronosJobDict
from chronos.readiness import Readiness

log = logging.getLogger(__name__)

Key = tuple[str, str]
Render = Callable[[ChronosJobDict, datetime], tuple[dict[str, Any], float]]

#: List responses kept per namespace (each up to the largest page of rendered jobs).
MAX_PAGES = 8


def plain(resource: Any) -> dict[str, Any]:
    """A lightkube resource as the plain dict the API server sent."""
    out: dict[str, Any] = resource.to_dict()
    return out


def decode(obj: dict[str, Any]) -> ChronosJobDict:
    """A ChronosJob as the API server sent it (a LIST item, a watch event, an answer),
    typed for mypy: the one place its dict becomes a ``ChronosJobDict`` (no copy, no
    check; readers ``.get`` every key, as the shape allows any to be missing)."""
    return cast(ChronosJobDict, obj)


def chronosjob(resource: Any) -> ChronosJobDict:
    """A ChronosJob answer of the API server (a lightkube resource) as its plain dict."""
    return decode(resource.to_dict())


def _newer(candidate: str | None, current: str | None) -> bool:
    if not current or not candidate:
        return True
    if candidate.isdigit() and current.isdigit():
        return int(candidate) > int(current)
    return candidate != current


@dataclass
class Entry:
    obj: ChronosJobDict
    view: dict[str, Any] | None = None
    body: bytes = b""
    valid_until: float = 0.0

    @property
    def resource_version(self) -> str:
        return str(self.obj.get("metadata", {}).get("resourceVersion") or "")


@dataclass
class _Namespace:
    entries: dict[str, Entry] = field(default_factory=dict)
    order: list[str] | None = None
    #: Encoded list responses by query, with the time until which they hold; emptied
    #: by every change to the namespace's jobs.
    pages: dict[Hashable, tuple[float, bytes]] = field(default_factory=dict)


class JobCache:
    def __init__(
        self, client: AsyncClient, render: Render, readiness: Readiness | None = None
    ) -> None:
        self._client = client
        self._render = render
        self._namespaces: dict[str, _Namespace] = {}
        #: Resource versions of objects deleted through the facade, until the watch agrees.
        self._tombstones: dict[Key, str] = {}
        #: Ready once listed; not ready while the API server cannot be reached (after a
        #: grace) or the watch is broken and the relist has not succeeded yet.
        self.readiness = readiness or Readiness()
        self.events = 0
        self.relists = 0
        #: Bumped by every change of the contents (the dashboard's live updates).
        self.changes = 0

    # ------------------------------------------------------------------------ reads

    def get(self, namespace: str, name: str) -> Entry | None:
        ns = self._namespaces.get(namespace)
        return ns.entries.get(name) if ns else None

    def namespaces(self) -> list[str]:
        return sorted(n for n, ns in self._namespaces.items() if ns.entries)

    def exists(self, namespace: str, name: str) -> bool:
        return self.get(namespace, name) is not None

    def entries(self, namespace: str) -> list[Entry]:
        """Entries of ``namespace``, oldest first (then by name)."""
        ns = self._namespaces.get(namespace)
        if ns is None:
            return []
        if ns.order is None:
            ns.order = sorted(
                ns.entries,
                key=lambda n: (ns.entries[n].obj["metadata"].get("creationTimestamp") or "", n),
            )
        return [ns.entries[n] for n in ns.order]

    def rendered(self, entry: Entry, now: float | None = None) -> Entry:
        """``entry`` with its view and JSON body current (re-rendered when stale)."""
        now = time.time() if now is None else now
        if entry.view is None or now >= entry.valid_until:
            entry.view, entry.valid_until = self._render(
                entry.obj, datetime.fromtimestamp(now, UTC)
            )
            entry.body = json.dumps(entry.view, separators=(",", ":")).encode()
        return entry

    def page(
        self,
        namespace: str,
        query: Hashable,
        select: Callable[[list[Entry]], tuple[list[Entry], int]],
        now: float | None = None,
    ) -> bytes:
        """The list response ``{"items": [...], "total": N}`` for ``query``, encoded.

        ``select`` picks the page and counts the matches among the namespace's entries.
        The encoded response is kept until a job of the namespace changes or one of its
        views goes stale, so repeated lists cost a dictionary lookup: no filtering, no
        joining of thousands of bodies per request.
        """
        now = time.time() if now is None else now
        ns = self._namespaces.get(namespace)
        if ns is not None and (hit := ns.pages.get(query)) is not None and now < hit[0]:
            return hit[1]
        chosen, total = select(self.entries(namespace))
        rendered = [self.rendered(e, now) for e in chosen]
        items = b",".join(e.body for e in rendered)
        body = b'{"items":[' + items + b'],"total":' + str(total).encode() + b"}"
        if ns is not None:
            if len(ns.pages) >= MAX_PAGES:
                ns.pages.clear()
            ns.pages[query] = (min((e.valid_until for e in rendered), default=float("inf")), body)
        return body

    def __len__(self) -> int:
        return sum(len(ns.entries) for ns in self._namespaces.values())

    # ----------------------------------------------------------------------- writes

    def put(self, obj: ChronosJobDict) -> Entry:
        """Insert or replace ``obj`` unless the cache already holds a newer version."""
        metadata = obj["metadata"]
        key = (metadata["namespace"], metadata["name"])
        rv = metadata.get("resourceVersion")
        tomb = self._tombstones.get(key)
        ns = self._namespaces.setdefault(key[0], _Namespace())
        current = ns.entries.get(key[1])
        if tomb is not None:
            if not _newer(rv, tomb):
                return current or Entry(obj)
            del self._tombstones[key]
        if current is not None and not _newer(rv, current.resource_version):
            return current
        entry = Entry(obj)
        if current is None:
            ns.order = None
        ns.entries[key[1]] = entry
        ns.pages.clear()
        self.changes += 1
        return entry

    def remove(self, namespace: str, name: str, resource_version: str | None = None) -> None:
        """Forget an object: deleted through the facade (no version), or by a watch event.

        A deletion through the facade leaves a tombstone so that a late watch event for
        the deleted object cannot bring it back; a watch event at ``resource_version``
        never removes a newer object of the same name.
        """
        ns = self._namespaces.get(namespace)
        current = ns.entries.get(name) if ns else None
        if ns is None or current is None:
            return
        if resource_version is not None and _newer(current.resource_version, resource_version):
            return
        del ns.entries[name]
        ns.order = None
        ns.pages.clear()
        self.changes += 1
        if resource_version is None:
            self._tombstones[(namespace, name)] = current.resource_version

    # -------------------------------------------------------- the informer's store

    def upsert(self, obj: dict[str, Any]) -> None:
        self.events += 1
        self.put(decode(obj))

    def delete(self, obj: dict[str, Any]) -> None:
        self.events += 1
        md = obj["metadata"]
        self._tombstones.pop((md["namespace"], md["name"]), None)
        self.remove(md["namespace"], md["name"], md.get("resourceVersion") or None)

    def resync(self, namespace: str | None, seen: set[Key]) -> None:
        """A LIST of every namespace is complete: forget what it lacks (deleted while
        the watch was broken); the cache is ready."""
        for ns_name, ns in list(self._namespaces.items()):
            gone = [name for name in ns.entries if (ns_name, name) not in seen]
            for name in gone:
                del ns.entries[name]
            if gone:
                ns.order = None
                ns.pages.clear()
                self.changes += 1
        self._tombstones.clear()
        self.relists += 1
        self.readiness.synced()
        log.info("ChronosJob cache synced: %d jobs", len(self))

    def _failed(self, kind: str, exc: Exception) -> None:
        self.readiness.failed(f"{kind} watch broken: {type(exc).__name__}")

    async def run(self) -> None:
        """Keep the cache current until cancelled."""
        await Informer(
            self._client,
            ChronosJobResource,
            self,
            Scope(),
            on_error=self._failed,
            on_healthy=lambda _: self.readiness.synced(),
        ).run()
