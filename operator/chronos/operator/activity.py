"""The operator's side of the activity ledger (issue 22, ``chronos.models.activity``).

The leader's informers hand every ChronosJob event and every deleted run Job here
(``job_event``, ``job_deleted``, ``run_aborted``: synchronous and small, as the stores'
work must be); what they tell is queued, and one background task (``run``) appends it to
each namespace's ConfigMap ``chronos-activity`` and removes the attribution annotation
once the job has been quiet for QUIET_SECONDS, so that other users' changes are not held
up by admission (which lets only the named user make a credited change while it is
there). ``leader_changed`` is what the leader election calls when this replica takes
the Lease.

What is lost: entries queued but not written when the leader stops (about a second's
worth), and changes made while no operator leads unless they carried the annotation
(the new leader's first LIST finds it still set and records the change then).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace
from lightkube.types import PatchType

from chronos import contract as c
from chronos.kube import ChronosJobResource
from chronos.models import activity as a
from chronos.models.activity import Entry

log = logging.getLogger(__name__)

#: Entries waiting to be written, in all; beyond it the oldest are dropped (said once).
MAX_QUEUED = 10_000
#: The attribution annotation is removed once the job has had no write for this long
#: (the removal is guarded by the resourceVersion last seen, so a newer write, e.g. the
#: same user's stamp just before a delete, is never stripped of its name).
QUIET_SECONDS = 5.0
#: Read-modify-write attempts per ledger write (another writer: a previous leader).
ATTEMPTS = 5
#: Waiting after a failed write before the next try.
RETRY_SECONDS = 2.0

Key = tuple[str, str]


def _now() -> datetime:
    return datetime.now(UTC)


def _fingerprint(obj: Mapping[str, Any]) -> int:
    """What decides whether an event can tell the ledger anything (status writes cannot)."""
    meta = obj.get("metadata") or {}
    ann = meta.get("annotations") or {}
    return hash(
        (
            meta.get("generation"),
            ann.get(c.CHANGED_BY_ANNOTATION),
            ann.get(c.RUN_NOW_ANNOTATION),
            ann.get(c.RUN_NOW_PENDING_ANNOTATION),
            ann.get(c.BACKFILL_ANNOTATION),
        )
    )


class Activity:
    """The leader's ledger writer: observes events, queues entries, writes them."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        #: True while the ChronosJob informer's first LIST arrives (nothing is new then).
        self.listing = True
        self._queued: dict[str, list[Entry]] = {}
        self._count = 0
        #: (namespace, job) -> the annotation to clear: its value, the resourceVersion
        #: last seen, not before (monotonic).
        self._clear: dict[Key, tuple[str, str, float]] = {}
        self._seen: dict[Key, int] = {}
        self._wake = asyncio.Event()
        self._dropped = 0

    # ------------------------------------------------------------------ observing

    def job_event(
        self, obj: Mapping[str, Any], previous: Callable[[], Mapping[str, Any] | None]
    ) -> None:
        """A ChronosJob ADDED or MODIFIED; ``previous`` reads the version the cache holds
        (called only when the event may tell something)."""
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        rv, by = str(meta.get("resourceVersion", "")), a.changed_by(meta)
        if key in self._clear and by is not None:
            # Any write (a status write, the same user stamping again before a delete)
            # guards the clear anew and restarts the quiet time.
            self._clear[key] = (self._clear[key][0], rv, time.monotonic() + QUIET_SECONDS)
        fingerprint = _fingerprint(obj)
        if self._seen.get(key) == fingerprint:
            return
        self._seen[key] = fingerprint
        self._add(a.diff(previous(), obj, _now(), listing=self.listing))
        if by is None:
            self._clear.pop(key, None)
        else:
            self._clear[key] = (by, rv, time.monotonic() + QUIET_SECONDS)
            self._wake.set()

    def job_deleted(self, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        self._seen.pop(key, None)
        self._clear.pop(key, None)
        self._add([a.deleted(obj, _now())])

    def run_aborted(self, batch_job: Mapping[str, Any]) -> None:
        self._add([a.aborted(batch_job, _now())])

    def _add(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            if self._count >= MAX_QUEUED:
                oldest = min(self._queued, key=lambda ns: self._queued[ns][0].time)
                self._queued[oldest].pop(0)
                self._queued = {ns: q for ns, q in self._queued.items() if q}
                self._count -= 1
                if not self._dropped:
                    log.warning("activity: more than %d entries waiting; dropping", MAX_QUEUED)
                self._dropped += 1
            self._queued.setdefault(entry.namespace, []).append(entry)
            self._count += 1
        if entries:
            self._wake.set()

    # ------------------------------------------------------------------ writing

    async def run(self) -> None:
        """Write what was queued, then clear the annotations recorded; until cancelled."""
        while True:
            due = [when for _, _, when in self._clear.values()]
            timeout = max(0.0, min(due) - time.monotonic()) if due else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            queued, self._queued, self._count = self._queued, {}, 0
            failed = False
            for namespace, entries in queued.items():
                try:
                    await write_entries(self._client, namespace, entries)
                except Exception as exc:  # noqa: BLE001 - kept, tried again
                    log.warning("activity: cannot write the ledger of %s: %s", namespace, exc)
                    self._add(entries)
                    failed = True
            await self._clear_due()
            if failed:
                await asyncio.sleep(RETRY_SECONDS)

    async def _clear_due(self) -> None:
        now = time.monotonic()
        for key, (value, rv, when) in list(self._clear.items()):
            if when > now:
                continue
            cleared = await clear_attribution(self._client, *key, value, rv)
            if self._clear.get(key, (None, None, 0.0))[1] != rv:
                continue  # a newer write came meanwhile: its own turn
            if cleared:
                del self._clear[key]
            else:  # written since (the watch will say): tried again once quiet
                self._clear[key] = (value, rv, time.monotonic() + QUIET_SECONDS)


async def write_entries(client: AsyncClient, namespace: str, entries: Sequence[Entry]) -> None:
    """Append ``entries`` to the namespace's ledger (created when missing), trimmed to its
    bounds; a namespace that is gone or going takes none."""
    for _ in range(ATTEMPTS):
        try:
            found = await client.get(ConfigMap, a.LEDGER_CONFIGMAP, namespace=namespace)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            found = None
        text = a.append(
            None if found is None else (found.data or {}).get(a.LEDGER_KEY), entries, _now()
        )
        try:
            if found is None:
                await client.create(
                    ConfigMap(
                        metadata=ObjectMeta(
                            name=a.LEDGER_CONFIGMAP,
                            namespace=namespace,
                            labels={"app.kubernetes.io/part-of": "chronos"},
                        ),
                        data={a.LEDGER_KEY: text},
                    )
                )
            else:
                found.data = {**(found.data or {}), a.LEDGER_KEY: text}
                await client.replace(found)  # guarded by the resourceVersion read
            return
        except ApiError as exc:
            if exc.status.code == 409:
                continue  # another writer came first: read again
            if (
                found is None
                and exc.status.code in (403, 404)
                and await _namespace_gone(client, namespace)
            ):
                return
            raise
    raise RuntimeError(f"ledger of {namespace} kept changing")


async def _namespace_gone(client: AsyncClient, namespace: str) -> bool:
    try:
        ns = await client.get(Namespace, namespace)
    except ApiError as exc:
        return exc.status.code == 404
    return bool(ns.metadata and ns.metadata.deletionTimestamp)


async def clear_attribution(
    client: AsyncClient, namespace: str, name: str, value: str, resource_version: str
) -> bool:
    """Remove the attribution annotation if the job is still the version seen with it
    (a JSON patch's ``test``s: no newer write, by its author or anyone, loses its name).
    False when it was written since (or is gone: then nothing is left to clear)."""
    path = "/metadata/annotations/" + c.CHANGED_BY_ANNOTATION.replace("~", "~0").replace("/", "~1")
    patch = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
        {"op": "test", "path": path, "value": value},
        {"op": "remove", "path": path},
    ]
    try:
        await client.patch(
            ChronosJobResource, name, patch, namespace=namespace, patch_type=PatchType.JSON
        )
    except ApiError as exc:
        if exc.status.code == 404:
            return True
        if exc.status.code not in (409, 422):
            log.warning(
                "activity: cannot clear %s on %s/%s: %s",
                c.CHANGED_BY_ANNOTATION,
                namespace,
                name,
                exc.status.code,
            )
        return False
    return True


async def leader_changed(client: AsyncClient, namespace: str, old: str | None, new: str) -> None:
    """Record that ``new`` took the Lease from ``old`` (None: nobody held it), in the
    ledger of the Lease's namespace. Never fails the caller: leading matters more."""
    try:
        await write_entries(client, namespace, [a.leader(namespace, old, new, _now())])
    except Exception as exc:  # noqa: BLE001 - said, not fatal
        log.warning("activity: cannot record the leader change in %s: %s", namespace, exc)
