"""What the operator's watches have seen: ChronosJobs, their CronJobs and Jobs, in memory.

Slim records, not whole objects: with 10,000 ChronosJobs the cache holds 10,000
CronJobs (each with a pod template) and every Job the CronJobs keep, and a parsed
object costs tens of KiB in Python (``metadata.managedFields`` alone mirrors the whole
object). A CronJob is reduced to a ``CronJobRecord``; ChronosJobs and Jobs are kept,
without ``managedFields`` and the ``last-applied-configuration`` annotation, as
compact JSON bytes, decoded only when a reconcile, housekeeping or run-now reads one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

from chronos import contract as c
from chronos.models import wire as w
from chronos.models.wire import ChronosJobDict, StatusDict

Key = tuple[str, str]


class Change(Enum):
    """What a watch event did to an object (ADDED and MODIFIED are alike here)."""

    UPSERTED = "upserted"
    DELETED = "deleted"


#: Written by ``kubectl apply`` and equal to the spec it applied; nothing here reads it.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def compact(obj: Mapping[str, Any]) -> bytes:
    """``obj`` as compact JSON without the fields the operator never reads."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if annotations and LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return _encode({**obj, "metadata": meta}).encode()


def expand(body: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(body)
    return decoded


#: Appended to a cached Job that has finished (whitespace to JSON, so ``expand`` reads it
#: as before): a repeated event of a finished Job is told from its first without decoding.
FINISHED = b"\n"


def _finished(body: bytes | None) -> bool:
    return body is not None and body.endswith(FINISHED)


def digest(manifest: dict[str, Any]) -> bytes:
    """A fingerprint of a desired CronJob manifest."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class CronJobRecord:
    """What reconciling needs of an existing CronJob, in about 200 bytes.

    Not the CronJob: drift is decided when its watch event arrives, where the object
    and the desired manifest are both at hand, and only the verdict is kept, as the
    digest of the desired manifest the CronJob was found to contain. A reconcile whose
    desired manifest has another digest (the ChronosJob or the settings changed, or the
    CronJob drifted) applies it; server-side apply of what is already there changes
    nothing. The schedule fields are what the schedule-clock reset compares.
    """

    #: ``digest`` of the desired manifest the CronJob contains; None: not known to.
    in_sync_with: bytes | None
    schedule: str | None
    time_zone: str | None
    suspend: bool
    #: When the CronJob controller last started a Job (mirrored into the ChronosJob),
    #: and the value the operator itself wrote there to reset the schedule clock.
    last_schedule_time: str | None = None
    reset_to: str | None = None
    #: The ChronosJob's name (CronJob names are shortened, so not derived from it).
    owner: str | None = None

    @classmethod
    def of(cls, cronjob: dict[str, Any], in_sync_with: bytes | None) -> CronJobRecord:
        spec = cronjob.get("spec") or {}
        annotations = cronjob["metadata"].get("annotations") or {}
        return cls(
            in_sync_with,
            spec.get("schedule"),
            spec.get("timeZone"),
            bool(spec.get("suspend")),
            (cronjob.get("status") or {}).get("lastScheduleTime"),
            annotations.get(c.SCHEDULE_RESET_ANNOTATION),
            annotations.get(c.CHRONOSJOB_ANNOTATION),
        )

    def fired_since(self, status: StatusDict) -> str | None:
        """The CronJob's lastScheduleTime, if it is news to ``status`` (not our reset)."""
        last = self.last_schedule_time
        if last and last != self.reset_to and last != status.get(w.LAST_SCHEDULE_TIME):
            return last
        return None

    def holds(self, desired: dict[str, Any]) -> bool:
        return self.in_sync_with is not None and self.in_sync_with == digest(desired)


class WatchCache:
    def __init__(self) -> None:
        self._chronosjobs: dict[Key, bytes] = {}
        self._jobs: dict[Key, dict[str, bytes]] = {}
        self._cronjobs: dict[Key, CronJobRecord] = {}
        #: (namespace, ChronosJob) -> the names of its CronJobs (one per schedule).
        self._owned: dict[Key, set[str]] = {}
        #: The generation of each ChronosJob this process last reconciled.
        self._reconciled: dict[Key, int | None] = {}
        #: ChronosJobs whose CronJob drifted or went since their last reconcile began.
        self._forced: set[Key] = set()
        #: Finished Jobs per ChronosJob whose run may be missing from its history.
        self._unreported: dict[Key, set[str]] = {}
        #: Jobs per ChronosJob deleted before they ended, to record as aborted (aborts.py).
        self._aborted: dict[Key, dict[str, bytes]] = {}

    def chronosjob_event(self, change: Change, cr: ChronosJobDict) -> None:
        key = (cr["metadata"]["namespace"], cr["metadata"]["name"])
        if change is Change.DELETED:
            self._chronosjobs.pop(key, None)
            self._jobs.pop(key, None)
            self._reconciled.pop(key, None)
            self._forced.discard(key)
            self._unreported.pop(key, None)
            self._aborted.pop(key, None)
        else:
            self._chronosjobs[key] = compact(cr)

    def needs_reconcile(self, cr: ChronosJobDict) -> bool:
        """Not reconciled by this process at its current generation.

        So every ChronosJob is reconciled once after start (its CronJob may have changed
        or gone while no operator watched), then once per spec change, and again after a
        failed attempt.
        """
        meta = cr["metadata"]
        key = (meta["namespace"], meta["name"])
        return (
            key in self._forced
            or key not in self._reconciled
            or self._reconciled[key] != meta.get("generation")
        )

    def force_reconcile(self, namespace: str, name: str) -> None:
        """Reconcile this ChronosJob at its next visit (its CronJob drifted or went).

        Kept apart from the reconciled generations: a reconcile that read the CronJob
        before it drifted may end after the drift was seen, and must not mark it done.
        """
        self._forced.add((namespace, name))

    def begin_reconcile(self, cr: ChronosJobDict) -> None:
        """A reconcile of ``cr`` starts: a drift seen from now on needs another."""
        self._forced.discard((cr["metadata"]["namespace"], cr["metadata"]["name"]))

    def mark_reconciled(self, cr: ChronosJobDict) -> None:
        meta = cr["metadata"]
        self._reconciled[(meta["namespace"], meta["name"])] = meta.get("generation")

    @contextmanager
    def reconciling(self, cr: ChronosJobDict) -> Iterator[None]:
        """Around one reconcile of ``cr``: done if the block ends, needed again if it
        raises — the generation may have been reconciled before (a repair of a deleted
        CronJob), so only the forced mark makes the retry reconcile again."""
        meta = cr["metadata"]
        self.begin_reconcile(cr)
        try:
            yield
        except BaseException:
            self.force_reconcile(meta["namespace"], meta["name"])
            raise
        self.mark_reconciled(cr)

    def cronjob_holds(self, namespace: str, name: str, manifest: dict[str, Any]) -> bool:
        """Was CronJob ``name`` last seen holding ``manifest``? False if it is missing."""
        record = self._cronjobs.get((namespace, name))
        return record is not None and record.holds(manifest)

    def job_event(
        self,
        namespace: str,
        chronosjob: str,
        change: Change,
        job: dict[str, Any],
        *,
        finished: bool = False,
    ) -> None:
        """Record a Job event; ``finished``: the Job has ended (its run is checked
        against the history once, ``unreported``)."""
        key, name = (namespace, chronosjob), job["metadata"]["name"]
        if change is Change.DELETED:
            self._jobs.get(key, {}).pop(name, None)
            self._unreported.get(key, set()).discard(name)
            return
        jobs = self._jobs.setdefault(key, {})
        if finished and not _finished(jobs.get(name)):
            self._unreported.setdefault(key, set()).add(name)
        jobs[name] = compact(job) + (FINISHED if finished else b"")

    def flag_unreported(self, namespace: str, chronosjob: str, names: list[str]) -> None:
        """Check these finished Jobs again (recording them failed)."""
        self._unreported.setdefault((namespace, chronosjob), set()).update(names)

    def unreported(self, namespace: str, chronosjob: str) -> list[dict[str, Any]]:
        """The finished Jobs not checked against the history yet (and forget them)."""
        names = self._unreported.pop((namespace, chronosjob), set())
        jobs = self._jobs.get((namespace, chronosjob), {})
        return [expand(jobs[n]) for n in sorted(names) if n in jobs]

    def flag_aborted(self, namespace: str, chronosjob: str, jobs: list[dict[str, Any]]) -> None:
        """These Jobs were deleted before they ended: record their runs aborted."""
        kept = self._aborted.setdefault((namespace, chronosjob), {})
        kept.update((j["metadata"]["name"], compact(j)) for j in jobs)

    def aborted(self, namespace: str, chronosjob: str) -> list[dict[str, Any]]:
        """The Jobs flagged by ``flag_aborted`` not recorded yet (and forget them)."""
        jobs = self._aborted.pop((namespace, chronosjob), {})
        return [expand(jobs[n]) for n in sorted(jobs)]

    def cronjob_event(
        self, change: Change, cronjob: dict[str, Any], in_sync_with: bytes | None = None
    ) -> None:
        """Record a CronJob event; ``in_sync_with``: the ``digest`` of the desired
        manifest this CronJob was checked to contain, if it was."""
        namespace, name = key = (cronjob["metadata"]["namespace"], cronjob["metadata"]["name"])
        old = self._cronjobs.pop(key, None)
        if old is not None and old.owner is not None:
            owned = self._owned.get((namespace, old.owner))
            if owned is not None:
                owned.discard(name)
                if not owned:
                    del self._owned[(namespace, old.owner)]
        if change is Change.DELETED:
            return
        record = self._cronjobs[key] = CronJobRecord.of(cronjob, in_sync_with)
        if record.owner is not None:
            self._owned.setdefault((namespace, record.owner), set()).add(name)

    def cronjobs_of(self, namespace: str, chronosjob: str) -> set[str]:
        """The names of the cached CronJobs of a ChronosJob (by their owner annotation)."""
        return set(self._owned.get((namespace, chronosjob), ()))

    def chronosjob(self, namespace: str, name: str) -> ChronosJobDict | None:
        body = self._chronosjobs.get((namespace, name))
        return None if body is None else cast(ChronosJobDict, expand(body))

    def cronjob(self, namespace: str, name: str) -> CronJobRecord | None:
        return self._cronjobs.get((namespace, name))

    def jobs_of(self, namespace: str, chronosjob: str) -> list[dict[str, Any]]:
        return [expand(b) for b in self._jobs.get((namespace, chronosjob), {}).values()]

    def chronosjob_keys(self, namespace: str | None) -> set[Key]:
        """The cached ChronosJobs of ``namespace`` (None: all)."""
        return {k for k in self._chronosjobs if namespace is None or k[0] == namespace}

    def cronjob_keys(self, namespace: str | None) -> set[Key]:
        return {k for k in self._cronjobs if namespace is None or k[0] == namespace}

    def cronjob_owner(self, key: Key) -> Key | None:
        record = self._cronjobs.get(key)
        return None if record is None or record.owner is None else (key[0], record.owner)

    def job_keys(self, namespace: str | None) -> list[tuple[Key, str]]:
        """(ChronosJob, Job name) of every cached Job of ``namespace`` (None: all)."""
        return [
            (owner, name)
            for owner, jobs in self._jobs.items()
            if namespace is None or owner[0] == namespace
            for name in jobs
        ]

    def running_jobs(self) -> list[tuple[Key, str]]:
        """(ChronosJob, Job name) of every cached Job not finished, told by the FINISHED
        mark without decoding anything: the runs whose pods are sampled for their peaks
        (``peaks``, every few seconds, so it must stay cheap with many Jobs)."""
        return [
            (owner, name)
            for owner, jobs in self._jobs.items()
            for name, body in jobs.items()
            if not _finished(body)
        ]

    def count(self) -> int:
        return len(self._chronosjobs)
