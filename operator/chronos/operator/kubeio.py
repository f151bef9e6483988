"""The operator's writes to the API server (everything here does I/O)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, cast

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import CronJob, Job
from lightkube.resources.core_v1 import Event, Namespace, Pod, Secret, ServiceAccount
from lightkube.types import CascadeType, PatchType

from chronos import contract as c
from chronos.kube import ChronosJobResource, or_none
from chronos.models import channels
from chronos.models import wire as w
from chronos.models.chronosjob import GROUP, KIND, VERSION, ChronosJobStatus, RunRecord
from chronos.models.history import merge_run, parse_history
from chronos.models.wire import ChronosJobDict, StatusDict
from chronos.operator.metrics import WRITE_CONFLICTS, WRITES
from chronos.operator.naming import label_value
from chronos.operator.status import status_body
from chronos.times import rfc3339

FIELD_MANAGER = "chronos-operator"
CONFLICT_RETRIES = 8

log = logging.getLogger(__name__)

ChronosChannelResource = create_namespaced_resource(
    channels.GROUP, channels.VERSION, channels.KIND, channels.PLURAL
)


def describe_error(exc: Exception) -> str:
    """What a failed request met, fit for a status or an Event: the API server's code
    and reason, never its message (which may quote what it was sent)."""
    if isinstance(exc, ApiError):
        return f"API server answered {exc.status.code} {exc.status.reason or ''}".strip()
    return f"request failed: {type(exc).__name__}"


def as_dict(obj: Any) -> dict[str, Any]:
    result: dict[str, Any] = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    return result


async def _get_or_none(client: AsyncClient, resource: Any, name: str, namespace: str) -> Any:
    """The object; None if it does not exist."""
    return await or_none(client.get(resource, name, namespace=namespace))


#: What ``_guarded_patch`` returns when another writer came first.
_CONFLICT: Final = object()


async def _guarded_patch(
    client: AsyncClient, resource: Any, name: str, namespace: str, body: Any, what: str
) -> Any:
    """A merge patch carrying the resourceVersion it was computed from: the object as
    written; None if it is gone; ``_CONFLICT`` if it changed since (read it again,
    compute again)."""
    WRITES.labels(what).inc()
    try:
        return await client.patch(
            resource, name, body, namespace=namespace, patch_type=PatchType.MERGE
        )
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        if exc.status.code != 409:
            raise
    WRITE_CONFLICTS.labels(what).inc()
    return _CONFLICT


async def get_cronjob(client: AsyncClient, namespace: str, name: str) -> dict[str, Any] | None:
    cronjob = await _get_or_none(client, CronJob, name, namespace)
    return None if cronjob is None else as_dict(cronjob)


async def apply_cronjob(
    client: AsyncClient, manifest: dict[str, Any], *, new: bool
) -> dict[str, Any]:
    """Server-side apply; a plain create for a CronJob that does not exist yet. Returns
    the written CronJob's metadata (uid, generation: what the watch will show).

    Creating is much cheaper for the API server than a first apply of a whole pod
    template, and later applies by the same field manager take the fields over.
    """
    obj = cast(CronJob, CronJob.from_dict(manifest))
    if new:
        try:
            WRITES.labels("cronjob_create").inc()
            return _meta(await client.create(obj, field_manager=FIELD_MANAGER))
        except ApiError as exc:
            if exc.status.code != 409:
                raise
    WRITES.labels("cronjob_apply").inc()
    return _meta(await client.apply(obj, field_manager=FIELD_MANAGER, force=True))


def _meta(written: CronJob) -> dict[str, Any]:
    meta = written.metadata
    return {} if meta is None else {"uid": meta.uid, "generation": meta.generation}


async def reset_schedule_clock(
    client: AsyncClient, namespace: str, name: str, now: datetime
) -> None:
    """Make the CronJob controller count slots from ``now``, not from its last run.

    The controller starts a Job at once for the newest slot between lastScheduleTime and
    now under the *new* schedule, so editing a schedule (or resuming a suspended job) can
    fire a run nobody asked for (kubernetes/kubernetes#63371).
    """
    stamp = rfc3339(now)
    WRITES.labels("cronjob_clock_reset").inc(2)
    await client.patch(
        CronJob,
        name,
        {"metadata": {"annotations": {c.SCHEDULE_RESET_ANNOTATION: stamp}}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    await client.patch(
        CronJob.Status,
        name,
        {"status": {"lastScheduleTime": stamp}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )


async def patch_status(
    client: AsyncClient, namespace: str, name: str, patch: ChronosJobStatus
) -> bool:
    """Merge the operator's own status fields (no other writer touches them)."""
    WRITES.labels("status_patch").inc()
    try:
        await client.patch(
            ChronosJobResource.Status,
            name,
            {"status": status_body(patch)},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise
    return True


async def update_status(
    client: AsyncClient,
    namespace: str,
    name: str,
    change: Callable[[StatusDict], ChronosJobStatus | None],
) -> bool:
    """Read-modify-write of a ChronosJob status, guarded by the resource version.

    ``change`` gets the current status and returns the fields to merge (or None for no
    write); on a conflict it is called again with the fresh status, so a concurrent
    writer's entries (the runner's) are never lost. Returns False if the job is gone.
    """
    for _ in range(CONFLICT_RETRIES):
        read = await _get_or_none(client, ChronosJobResource, name, namespace)
        if read is None:
            return False
        current = _chronosjob(read)
        patch = change(current.get("status") or {})
        if patch is None or not patch.model_fields_set:
            return True
        body = {
            "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
            "status": status_body(patch),
        }
        written = await _guarded_patch(
            client, ChronosJobResource.Status, name, namespace, body, "status_update"
        )
        if written is not _CONFLICT:
            return written is not None
    raise RuntimeError(f"status of {namespace}/{name}: still conflicting after retries")


async def record_runs(
    client: AsyncClient,
    namespace: str,
    name: str,
    records: list[RunRecord],
    limit: int,
    also: ChronosJobStatus | None = None,
) -> bool:
    """Add ``records`` to the history (those not in it yet), and write the fields of
    ``also`` in the same write."""

    def change(status: StatusDict) -> ChronosJobStatus | None:
        stored = parse_history(status.get(w.HISTORY))
        known = {h.run_id for h in stored}
        history = stored
        for record in records:
            if record.run_id not in known:
                history = merge_run(history, record, limit)
        patch = also.model_copy() if also is not None else ChronosJobStatus()
        # Nothing new, or only runs older than every run of a full history: no history.
        if history != stored:
            patch.history = history
        return patch if patch.model_fields_set else None

    return await update_status(client, namespace, name, change)


async def amend_runs(
    client: AsyncClient, namespace: str, name: str, records: list[RunRecord], limit: int
) -> bool:
    """Replace recorded runs by ``records`` (same runId, the same reporter's account,
    amended), in the history and in lastRun; runs no longer recorded are left out."""

    def change(status: StatusDict) -> ChronosJobStatus | None:
        stored = parse_history(status.get(w.HISTORY))
        known = {h.run_id for h in stored}
        history = stored
        for record in records:
            if record.run_id in known:
                history = merge_run(history, record, limit)
        if history == stored:
            return None
        last = (status.get(w.LAST_RUN) or {}).get(w.RUN_ID)
        amended = next((r for r in records if r.run_id == last), None)
        if amended is None:
            return ChronosJobStatus(history=history)
        return ChronosJobStatus(history=history, last_run=amended)

    return await update_status(client, namespace, name, change)


async def pods_of(client: AsyncClient, namespace: str, job: str) -> list[dict[str, Any]]:
    pods = client.list(Pod, namespace=namespace, labels={"batch.kubernetes.io/job-name": job})
    return [as_dict(p) async for p in pods]


async def service_account_exists(client: AsyncClient, namespace: str, name: str) -> bool:
    return await _get_or_none(client, ServiceAccount, name, namespace) is not None


async def failed_create_events(client: AsyncClient, job: dict[str, Any]) -> list[dict[str, Any]]:
    """The Job controller's FailedCreate Events about ``job`` (it could not create a pod)."""
    meta = job["metadata"]
    events = client.list(
        Event,
        namespace=meta["namespace"],
        fields={"involvedObject.uid": meta["uid"], "reason": "FailedCreate"},
    )
    return [as_dict(e) async for e in events]


async def post_event(
    client: AsyncClient, cr: ChronosJobDict, *, type: str, reason: str, message: str
) -> None:
    """An Event on the ChronosJob. Best effort: a failure is logged, never raised (an
    Event is a courtesy; the status holds the truth)."""
    meta = cr["metadata"]
    now = datetime.now(UTC)
    event = Event(
        metadata=ObjectMeta(generateName=f"{meta['name']}.", namespace=meta["namespace"]),
        involvedObject=ObjectReference(
            apiVersion=f"{GROUP}/{VERSION}",
            kind=KIND,
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta.get("uid"),
        ),
        type=type,
        reason=reason,
        message=message[:1024],
        source=EventSource(component=FIELD_MANAGER),
        reportingComponent=FIELD_MANAGER,
        firstTimestamp=now,
        lastTimestamp=now,
        count=1,
    )
    WRITES.labels("event").inc()
    try:
        await client.create(event)
    except ApiError as exc:
        log.warning("could not post Event %s on %s: %s", reason, meta["name"], exc)


async def delete_job(client: AsyncClient, namespace: str, name: str) -> None:
    """Delete a Job and its pods: one that could not launch (so it neither starts late nor
    blocks the next slot, as Forbid counts it as running), or a run that
    concurrencyPolicy Replace replaces."""
    WRITES.labels("job_delete").inc()
    try:
        await client.delete(Job, name, namespace=namespace, cascade=CascadeType.BACKGROUND)
    except ApiError as exc:
        if exc.status.code != 404:
            raise


async def delete_cronjob(client: AsyncClient, namespace: str, name: str) -> None:
    """Delete the CronJob of a removed schedule, orphaning its Jobs: a run under way ends
    and is recorded (its Job keeps the ChronosJob's label); their TTL removes them."""
    WRITES.labels("cronjob_delete").inc()
    try:
        await client.delete(CronJob, name, namespace=namespace, cascade=CascadeType.ORPHAN)
    except ApiError as exc:
        if exc.status.code != 404:
            raise


async def namespace_terminating(client: AsyncClient, namespace: str) -> bool:
    """Is ``namespace`` being deleted (or gone)?"""
    try:
        ns = await client.get(Namespace, namespace)
    except ApiError as exc:
        return exc.status.code == 404
    return bool(ns.status and ns.status.phase == "Terminating")


def _chronosjob(obj: Any) -> ChronosJobDict:
    """A ChronosJob read from the API server, as its wire dict (typed, not validated)."""
    return cast(ChronosJobDict, as_dict(obj))


async def get_chronosjob(client: AsyncClient, namespace: str, name: str) -> ChronosJobDict | None:
    """The ChronosJob as the API server has it now; None if gone or being deleted."""
    read = await _get_or_none(client, ChronosJobResource, name, namespace)
    if read is None:
        return None
    cr = _chronosjob(read)
    return None if cr["metadata"].get("deletionTimestamp") else cr


async def update_annotations(
    client: AsyncClient,
    namespace: str,
    name: str,
    change: Callable[[dict[str, str]], dict[str, str | None] | None],
) -> ChronosJobDict | None:
    """Read-modify-write of a ChronosJob's annotations, guarded by the resource version.

    ``change`` gets the current annotations and returns the ones to set (None values
    remove) or None for no write; on a conflict it is called again with fresh ones, so a
    concurrent writer's run-now tokens are never dropped. Returns the ChronosJob as
    written (or as read, without a write); None if it is gone.
    """
    for _ in range(CONFLICT_RETRIES):
        current = await get_chronosjob(client, namespace, name)
        if current is None:
            return None
        patch = change(current["metadata"].get("annotations") or {})
        if not patch:
            return current
        body = {
            "metadata": {
                "resourceVersion": current["metadata"]["resourceVersion"],
                "annotations": patch,
            }
        }
        written = await _guarded_patch(
            client, ChronosJobResource, name, namespace, body, "annotations"
        )
        if written is not _CONFLICT:
            return None if written is None else _chronosjob(written)
    raise RuntimeError(f"annotations of {namespace}/{name}: still conflicting after retries")


async def jobs_of(client: AsyncClient, namespace: str, chronosjob: str) -> list[dict[str, Any]]:
    """The Jobs of a ChronosJob, read from the API server (not from a watch that may lag)."""
    jobs = client.list(Job, namespace=namespace, labels={c.JOB_LABEL: label_value(chronosjob)})
    found = [as_dict(j) async for j in jobs]
    # Label values may be shortened; the annotation holds the full name.
    return [
        j
        for j in found
        if (j["metadata"].get("annotations") or {}).get(c.CHRONOSJOB_ANNOTATION) == chronosjob
    ]


async def create_run_now_job(client: AsyncClient, manifest: dict[str, Any]) -> bool:
    """Create the Job; False if it exists already (the same request served before)."""
    WRITES.labels("job_create").inc()
    try:
        await client.create(cast(Job, Job.from_dict(manifest)), field_manager=FIELD_MANAGER)
    except ApiError as exc:
        if exc.status.code != 409:
            raise
        meta = manifest["metadata"]
        existing = as_dict(await client.get(Job, meta["name"], namespace=meta["namespace"]))
        token = (existing["metadata"].get("annotations") or {}).get(c.RUN_NOW_TOKEN_ANNOTATION)
        if token != meta["annotations"][c.RUN_NOW_TOKEN_ANNOTATION]:
            raise RuntimeError(f"Job {meta['name']} exists for another run-now request") from exc
        return False
    return True


async def create_slot_job(client: AsyncClient, manifest: dict[str, Any]) -> bool:
    """Create a slot's Job (operator mode, catch-up, backfill); False if it exists: its
    name is the slot's (or the backfill request's and slot's), so it was served."""
    WRITES.labels("job_create").inc()
    try:
        await client.create(cast(Job, Job.from_dict(manifest)), field_manager=FIELD_MANAGER)
    except ApiError as exc:
        if exc.status.code != 409:
            raise
        return False
    return True


async def get_channel(client: AsyncClient, namespace: str, name: str) -> dict[str, Any] | None:
    """A ChronosChannel as the API server has it now (never cached: a channel edited
    between two attempts is used as edited); None if it does not exist."""
    read = await _get_or_none(client, ChronosChannelResource, name, namespace)
    return None if read is None else as_dict(read)


async def get_secret_data(
    client: AsyncClient, namespace: str, name: str
) -> dict[str, bytes] | None:
    """The decoded data of a Secret, read afresh each time (a rotated key is used at the
    next attempt); None if it does not exist. The values never leave the caller."""
    read = await _get_or_none(client, Secret, name, namespace)
    if read is None:
        return None
    data: dict[str, bytes] = {k: base64.b64decode(v) for k, v in (read.data or {}).items()}
    data.update({k: v.encode() for k, v in (read.stringData or {}).items()})
    return data


async def patch_channel_status(
    client: AsyncClient, namespace: str, name: str, status: dict[str, Any]
) -> None:
    """Merge ``status`` into a ChronosChannel's (the operator is its only writer)."""
    WRITES.labels("channel_status").inc()
    try:
        await client.patch(
            ChronosChannelResource.Status,
            name,
            {"status": status},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )
    except ApiError as exc:
        if exc.status.code != 404:
            raise
