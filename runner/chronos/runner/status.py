"""Writing a run to the ChronosJob status: lastRun and history, nothing else.

The operator owns every other status field. ``history`` is shared, so it is updated
read-modify-write with the resourceVersion in the merge patch: a concurrent writer
makes the API server answer 409 and the runner merges again from a fresh read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from lightkube import ApiError, Client
from lightkube.types import PatchType

from chronos.kube import ChronosJobResource
from chronos.models import wire as w
from chronos.models.chronosjob import RunRecord
from chronos.models.history import merge_run, parse_history
from chronos.models.wire import RunRecordDict, StatusDict

CONFLICT = 409


def status_patch(
    resource_version: str, history: list[RunRecordDict], record: RunRecord, limit: int
) -> dict[str, Any]:
    """The merge patch for one run. Pure; ``history`` is the stored status.history."""
    merged = merge_run(parse_history(history), record, limit)
    last_run = record.model_dump(mode="json", exclude_none=True)
    # A merge patch merges objects key by key: fields this record lacks are sent as null
    # so that nothing of the previous lastRun survives in this one.
    for name, info in RunRecord.model_fields.items():
        last_run.setdefault(info.alias or name, None)
    return {
        "metadata": {"resourceVersion": resource_version},
        "status": {
            w.LAST_RUN: last_run,
            w.HISTORY: [h.model_dump(mode="json", exclude_none=True) for h in merged],
        },
    }


def write_run(
    client: Client,
    name: str,
    namespace: str,
    record: RunRecord,
    limit: int,
    *,
    attempts: int = 10,
    on_conflict: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Write ``record``; returns the number of attempts it took. Raises after ``attempts``."""
    for attempt in range(1, attempts + 1):
        obj = client.get(ChronosJobResource, name, namespace=namespace)
        raw = obj.status
        status = cast(StatusDict, raw if isinstance(raw, dict) else {})
        resource_version = str(obj.metadata.resourceVersion if obj.metadata else "")
        history = list(status.get(w.HISTORY) or [])
        patch = status_patch(resource_version, history, record, limit)
        try:
            client.patch(
                ChronosJobResource.Status,
                name,
                patch,
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        except ApiError as exc:
            if exc.status.code != CONFLICT or attempt == attempts:
                raise
            if on_conflict is not None:
                on_conflict(attempt)
            sleep(min(1.0, 0.05 * 2**attempt))
            continue
        return attempt
    raise AssertionError("unreachable")
