"""The REST facade and the operator together: what a Chronos client does reaches Kubernetes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from fixtures_api import example_job, quiet_cron, quiet_schedule
from lightkube import Client
from lightkube.resources.batch_v1 import CronJob, Job
from support import wait_for

from chronos import contract as c
from chronos.devcluster.operator_process import OperatorProcess
from chronos.http import Client as HttpClient

pytestmark = pytest.mark.cluster


def run_now_jobs(k8s: Client, namespace: str) -> list[Job]:
    return [
        j
        for j in k8s.list(Job, namespace=namespace)
        if j.metadata and (j.metadata.annotations or {}).get(c.TRIGGER_ANNOTATION) == "run-now"
    ]


def test_disable_suspends_the_cronjob_and_run_now_starts_exactly_one_job(
    operator: OperatorProcess, api: HttpClient, k8s: Client, namespace: str
) -> None:
    now = datetime.now(UTC)
    job_id = api.post("/api/jobs", json=example_job(schedule=quiet_schedule(now))).json()["id"]
    cronjob = wait_for(
        lambda: [cj for cj in k8s.list(CronJob, namespace=namespace) if cj.spec], what="CronJob"
    )[0]
    assert cronjob.spec is not None
    assert cronjob.metadata is not None
    assert cronjob.spec.schedule == quiet_cron(now)
    assert cronjob.spec.suspend is False
    name = str(cronjob.metadata.name)

    def suspended() -> bool | None:
        spec = k8s.get(CronJob, name, namespace=namespace).spec
        return spec.suspend if spec else None

    assert api.patch(f"/api/jobs/{job_id}/status", json={"enabled": False}).status_code == 200
    wait_for(lambda: suspended() is True, what="the CronJob to be suspended")
    assert api.patch(f"/api/jobs/{job_id}/status", json={"enabled": True}).status_code == 200
    wait_for(lambda: suspended() is False, what="the CronJob to resume")

    for _ in range(3):  # a client retrying the same request
        response = api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "once"})
        assert response.status_code == 200, response.text
    wait_for(lambda: run_now_jobs(k8s, namespace), what="the run-now Job")
    api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "once"})
    time.sleep(5)  # time for a second Job to appear, if one were going to
    assert len(run_now_jobs(k8s, namespace)) == 1
