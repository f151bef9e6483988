"""The operator's side of the activity ledger (issue 22, ``chronos.models.activity``).

The leader's informers hand every ChronosJob event and every deleted run Job here
(``job_event``, ``job_deleted``, ``run_aborted``: synchronous and small, as the stores'
work must be); what they tell is queued, and one background task (``run``) appends it to
each namespace's ConfigMap ``chronos-activity``. ``leader_changed`` is what the leader
election calls when this replica takes the Lease.

A change is credited to the name in the attribution annotations only when the write gave
them a new value (``activity.fresh``, against the stamp last credited per job): a later
change by someone else that leaves them as they were is unattributed.

What is lost: entries queued but not written when the leader stops (about a second's
worth), and changes made while no operator leads (the new leader's first LIST takes
every job as it finds it).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace

from chronos import contract as c
from chronos.kube import ChronosJobResource, or_none
from chronos.models import activity as a
from chronos.models.activity import Entry

log = logging.getLogger(__name__)

#: Entries waiting to be written, in all; beyond it the oldest are dropped (said once).
MAX_QUEUED = 10_000
#: Read-modify-write attempts per ledger write (another writer: a previous leader).
ATTEMPTS = 5
#: At most this long for the leader change's entry before the new leader starts work.
LEADER_WRITE_SECONDS = 5.0
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
            ann.get(c.CHANGED_AT_ANNOTATION),
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
        self._queued: dict[str, deque[Entry]] = {}
        self._count = 0
        #: (namespace, job) -> the attribution last credited (or found at the start).
        self._used: dict[Key, a.Stamp] = {}
        self._seen: dict[Key, int] = {}
        self._wake = asyncio.Event()
        self._dropped = 0
        self._failing: set[str] = set()
        #: Aborts waiting for the API server's word on their ChronosJob (``run_aborted``).
        self._unsure: list[tuple[Entry, dict[str, Any], Key, str | None]] = []

    # ------------------------------------------------------------------ observing

    def job_event(
        self, obj: Mapping[str, Any], previous: Callable[[], Mapping[str, Any] | None]
    ) -> None:
        """A ChronosJob ADDED or MODIFIED; ``previous`` reads the version the cache holds
        (called only when the event may tell something)."""
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        fingerprint = _fingerprint(obj)
        if self._seen.get(key) == fingerprint:
            return
        self._seen[key] = fingerprint
        found = a.stamp(meta)
        if self.listing:
            if found is not None:
                self._used[key] = found  # credited before, or not known: never again
            return
        attributed = a.fresh(meta, self._used.get(key))
        entries = a.diff(previous(), obj, _now(), attributed=attributed)
        if entries and attributed and found is not None:
            self._used[key] = found
        self._add(entries)

    def job_deleted(self, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        self._seen.pop(key, None)
        used = self._used.pop(key, None)
        self._add([a.deleted(obj, _now(), attributed=a.fresh(meta, used))])

    def run_aborted(self, batch_job: Mapping[str, Any], owner: Key, uid: str | None) -> None:
        """A run's Job deleted unfinished while its ChronosJob (``owner``, cached with
        ``uid``) still seemed there. Unless someone noted the abort, recorded only once
        the API server confirms the ChronosJob is there and not being deleted: the
        garbage collector deletes a run's Job only after its owners went, so a read
        made after the Job's deletion was seen tells, whatever order the informers
        told the two deletions in (``activity.is_abort``)."""
        entry = a.aborted(batch_job, _now())
        if c.ABORT_ANNOTATION in ((batch_job.get("metadata") or {}).get("annotations") or {}):
            self._add([entry])
            return
        self._unsure.append((entry, dict(batch_job), owner, uid))
        self._wake.set()

    async def _confirm(self) -> None:
        unsure, self._unsure = self._unsure, []
        for entry, batch_job, (namespace, name), uid in unsure:
            try:
                live = await or_none(
                    self._client.get(ChronosJobResource, name, namespace=namespace)
                )
            except Exception as exc:  # noqa: BLE001 - cannot tell: recorded, as before
                log.debug("activity: cannot read %s/%s (%s)", namespace, name, _why(exc))
                self._add([entry])
                continue
            meta = None if live is None else live.metadata
            owner = (
                None
                if meta is None
                else {"metadata": {"uid": meta.uid, "deletionTimestamp": meta.deletionTimestamp}}
            )
            if a.is_abort(batch_job, owner, uid):
                self._add([entry])

    def _add(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            if self._count >= MAX_QUEUED:
                oldest = min(self._queued, key=lambda ns: self._queued[ns][0].time)
                self._queued[oldest].popleft()
                if not self._queued[oldest]:
                    del self._queued[oldest]
                self._count -= 1
                if not self._dropped:
                    log.warning("activity: more than %d entries waiting; dropping", MAX_QUEUED)
                self._dropped += 1
            self._queued.setdefault(entry.namespace, deque()).append(entry)
            self._count += 1
        if entries:
            self._wake.set()

    # ------------------------------------------------------------------ writing

    async def run(self) -> None:
        """Write what was queued; until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._unsure:
                await self._confirm()
            queued, self._queued, self._count = self._queued, {}, 0
            failed = False
            for namespace, entries in queued.items():
                try:
                    await write_entries(self._client, namespace, entries)
                    self._failing.discard(namespace)
                except Exception as exc:  # noqa: BLE001 - kept, tried again
                    # Said once per namespace per run of failures (then at DEBUG).
                    first = namespace not in self._failing
                    self._failing.add(namespace)
                    log.log(
                        logging.WARNING if first else logging.DEBUG,
                        "activity: cannot write the ledger of %s (%s); retrying",
                        namespace,
                        _why(exc),
                    )
                    self._add(list(entries))
                    failed = True
            if failed:
                await asyncio.sleep(RETRY_SECONDS)


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


def _why(exc: Exception) -> str:
    """The API server's code and reason, never its message (it may quote what was sent)."""
    if isinstance(exc, ApiError):
        return f"{exc.status.code} {exc.status.reason or ''}".strip()
    return type(exc).__name__


async def _namespace_gone(client: AsyncClient, namespace: str) -> bool:
    try:
        ns = await client.get(Namespace, namespace)
    except ApiError as exc:
        return exc.status.code == 404
    return bool(ns.metadata and ns.metadata.deletionTimestamp)


async def leader_changed(client: AsyncClient, namespace: str, old: str | None, new: str) -> None:
    """Record that ``new`` took the Lease from ``old`` (None: nobody held it), in the
    ledger of the Lease's namespace. Never fails the caller: leading matters more."""
    try:
        # Bounded: the new leader's work waits for it.
        async with asyncio.timeout(LEADER_WRITE_SECONDS):
            await write_entries(client, namespace, [a.leader(namespace, old, new, _now())])
    except Exception as exc:  # noqa: BLE001 - said, not fatal
        log.warning("activity: cannot record the leader change in %s: %s", namespace, _why(exc))
