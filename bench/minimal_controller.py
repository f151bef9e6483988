"""A minimal controller: the operator's writes for a new ChronosJob with no logic around them.

    python bench/minimal_controller.py KUBECONFIG NAMESPACE

The baseline of ``bench/operator_scale.py``: a lightkube (the operator's client
library) watch on ChronosJobs in one namespace; for each ChronosJob without a status,
one task creates its CronJob (the manifest the operator builds, precomputed once and
renamed) and patches its status (Ready, as the operator reports it). No cache, no
validation, no drift detection, no housekeeping, no leader election. Runs until killed.
"""

from __future__ import annotations

import asyncio
import copy
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from lightkube.resources.batch_v1 import CronJob
from lightkube.types import PatchType

from chronos import kube
from chronos.models.chronosjob import ChronosJobSpec
from chronos.models.resolve import resolve_schedule
from chronos.operator import status as st
from chronos.operator.cronjob import build_cronjob
from chronos.operator.settings import OperatorSettings

SPEC: dict[str, Any] = {
    "task": {"type": "pipeline_start", "pipelineId": "p1"},
    "schedule": {"cron": "0 3 * * *"},
    "timeZone": "Europe/Rome",
}


def template(namespace: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The CronJob manifest and the status patch the operator writes for SPEC."""
    spec = ChronosJobSpec.model_validate(SPEC)
    settings = OperatorSettings(corehub_url="http://127.0.0.1:9", corehub_credentials_secret="x")
    schedule = resolve_schedule(spec, settings.default_time_zone)
    manifest = build_cronjob(
        name="x", namespace=namespace, uid="x", spec=spec, schedule=schedule, settings=settings
    )
    status = st.reconciled(
        {},
        generation=1,
        schedule=schedule,
        cronjob="x",
        enabled=True,
        now=datetime.now(UTC),
        namespace=namespace,
    )
    return manifest, st.status_body(status)


async def main(kubeconfig: Path, namespace: str) -> None:
    client = kube.async_client(kubeconfig)
    manifest, status = template(namespace)
    tasks: set[asyncio.Task[None]] = set()

    async def handle(name: str, uid: str) -> None:
        cronjob = copy.deepcopy(manifest)
        cronjob["metadata"]["name"] = name
        cronjob["metadata"]["ownerReferences"][0].update(name=name, uid=uid)
        await client.create(cast(CronJob, CronJob.from_dict(cronjob)))
        await client.patch(
            kube.ChronosJobResource.Status,
            name,
            {"status": {**status, "cronJobName": name}},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )

    async for kind, obj in client.watch(kube.ChronosJobResource, namespace=namespace):
        if kind != "ADDED" or getattr(obj, "status", None):
            continue
        meta = obj.metadata
        if meta is None or not meta.name or not meta.uid:
            continue
        task = asyncio.create_task(handle(meta.name, meta.uid))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
