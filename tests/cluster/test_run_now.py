"""Run now on the control plane: idempotency under bursts, garbage collection and operator
restarts; concurrencyPolicy; a ChronosJob deleted meanwhile."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import cast

import pytest
from builders import create_chronosjob as create
from builders import secret
from fixtures_api import example_job, quiet_schedule
from fixtures_operator import COREHUB_SECRET
from lightkube import Client
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event
from lightkube.types import CascadeType, PatchType
from support import get_cr, wait_for
from support_runnow import active_job, annotation_json, jobs_by_token, run_now_records

from chronos import contract as c
from chronos import http, kube
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.operator_process import OperatorProcess
from chronos.kube import ChronosJobResource
from chronos.models.wire import ChronosJobDict
from chronos.operator import runnow
from chronos.operator.context import OperatorContext
from chronos.operator.settings import OperatorSettings

pytestmark = pytest.mark.cluster


def annotate(k8s: Client, ns: str, name: str, values: dict[str, str]) -> None:
    k8s.patch(
        ChronosJobResource,
        name,
        {"metadata": {"annotations": values}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )


def events(k8s: Client, ns: str, reason: str) -> list[str]:
    return [str(e.message) for e in k8s.list(Event, namespace=ns) if e.reason == reason]


def test_run_now_follows_the_concurrency_policy(
    operator: OperatorProcess, api: http.Client, k8s: Client, namespace: str
) -> None:
    ns = namespace
    k8s.create(secret(COREHUB_SECRET, ns))
    # Forbid by default; no scheduled run during the test (only the one it plays).
    body = example_job(schedule=quiet_schedule(datetime.now(UTC)))
    job_id = api.post("/api/jobs", json=body).json()["id"]
    cronjob = wait_for(lambda: (get_cr(k8s, ns, job_id).get("status") or {}).get("cronJobName"))
    running = f"{cronjob}-running"
    active_job(k8s, ns, cronjob, running)
    wait_for(
        lambda: (get_cr(k8s, ns, job_id).get("status") or {}).get("activeRuns") == [running],
        what="status.activeRuns",
    )
    # A suspended Job has no startTime: its start is its creation.
    meta = k8s.get(Job, running, namespace=ns).metadata
    assert meta is not None
    assert meta.creationTimestamp is not None
    created = meta.creationTimestamp
    assert get_cr(k8s, ns, job_id)["status"]["activeRunStarts"] == [
        {
            "runId": running,
            "trigger": "schedule",
            "startTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ]

    # Forbid, REST: 409 naming the running run; nothing is written.
    refused = api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "r1"})
    assert refused.status_code == 409, refused.text
    assert running in refused.json()["detail"]
    assert annotation_json(k8s, ns, job_id, c.RUN_NOW_PENDING_ANNOTATION) == {}

    # Forbid, by annotation: refused and recorded (history, Event), no Job.
    annotate(k8s, ns, job_id, {c.RUN_NOW_ANNOTATION: "by-hand"})
    record = wait_for(lambda: run_now_records(k8s, ns, job_id), what="the refusal record")[0]
    assert (record["result"], record["reason"]) == ("missed", "ConcurrencyForbid")
    assert running in record["message"]
    wait_for(lambda: events(k8s, ns, "RunNowRefused"), what="a RunNowRefused Event")
    # The token is marked served after the record and the Event.
    wait_for(
        lambda: "by-hand" in annotation_json(k8s, ns, job_id, c.RUN_NOW_DONE_ANNOTATION),
        what="the token served",
    )
    assert jobs_by_token(k8s, ns) == {}

    # Allow: a run next to the running one.
    patch = {"spec": {"concurrencyPolicy": "Allow"}}
    k8s.patch(ChronosJobResource, job_id, patch, namespace=ns, patch_type=PatchType.MERGE)
    # The facade decides from its watch cache, which may not have the patch yet; a refusal
    # writes nothing, so asking again with the same key is safe.
    wait_for(
        lambda: (
            api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "a1"}).status_code
            == 200
        ),
        what="run-now accepted under Allow",
    )
    wait_for(lambda: "a1" in jobs_by_token(k8s, ns), what="the Allow run")
    assert running in [j.metadata.name for j in k8s.list(Job, namespace=ns) if j.metadata]

    # Replace: the running runs are deleted, the new one starts.
    patch = {"spec": {"concurrencyPolicy": "Replace"}}
    k8s.patch(ChronosJobResource, job_id, patch, namespace=ns, patch_type=PatchType.MERGE)
    annotate(k8s, ns, job_id, {c.RUN_NOW_ANNOTATION: "replace-1"})
    wait_for(lambda: "replace-1" in jobs_by_token(k8s, ns), what="the Replace run")
    wait_for(
        lambda: (
            running
            not in [
                j.metadata.name
                for j in k8s.list(Job, namespace=ns)
                if j.metadata and not j.metadata.deletionTimestamp
            ]
        ),
        what="the running Job to be replaced",
    )
    assert events(k8s, ns, "RunNowReplaced")


def test_a_run_now_for_a_deleted_job_logs_one_line(
    operator: OperatorProcess,
    cluster: Cluster,
    k8s: Client,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ns = namespace
    k8s.create(secret(COREHUB_SECRET, ns))
    create(
        k8s,
        ns,
        "gone",
        {"task": {"type": "pipeline_start", "pipelineId": "p1"}, "schedule": {"cron": "0 3 * * *"}},
    )
    wait_for(lambda: (get_cr(k8s, ns, "gone").get("status") or {}).get("cronJobName"))
    # The operator's view still has the run-now request; the ChronosJob is deleted before
    # it is served (its CronJob left behind, so a Job could still be made from it).
    stale = get_cr(k8s, ns, "gone")
    stale["metadata"].setdefault("annotations", {})[c.RUN_NOW_ANNOTATION] = "late"
    k8s.delete(ChronosJobResource, "gone", namespace=ns, cascade=CascadeType.ORPHAN)
    wait_for(lambda: not [o for o in k8s.list(ChronosJobResource, namespace=ns)])

    async def serve() -> None:
        client = kube.async_client(cluster.kubeconfig)
        settings = OperatorSettings.model_validate(
            {"corehub_url": "http://127.0.0.1:9", "corehub_credentials_secret": COREHUB_SECRET}
        )
        try:
            ctx = OperatorContext(client=client, settings=settings)
            await runnow.serve(ctx, cast(ChronosJobDict, stale))
        finally:
            await client.close()

    with caplog.at_level(logging.DEBUG, logger="chronos.operator"):
        asyncio.run(serve())
    # Only the operator's lines: other parts of the session log in this process too.
    lines = [r for r in caplog.records if r.name.startswith("chronos.operator")]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].exc_info is None
    assert "gone" in lines[0].getMessage()
    assert "deleted" in lines[0].getMessage()
    assert jobs_by_token(k8s, ns) == {}
