"""Run now (idempotent, through the run-now annotation) and run history."""

from __future__ import annotations

import pytest
from fixtures_api import example_job
from lightkube import Client
from lightkube.types import PatchType
from support import wait_for

from chronos import http
from chronos.contract import RUN_NOW_ANNOTATION, RUN_NOW_DONE_ANNOTATION
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster


def annotations_of(k8s: Client, namespace: str, name: str) -> dict[str, str]:
    obj = k8s.get(ChronosJobResource, name, namespace=namespace)
    assert obj.metadata is not None
    return dict(obj.metadata.annotations or {})


def test_run_now_sets_the_annotation_once_per_idempotency_key(
    api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = api.post("/api/jobs", json=example_job()).json()["id"]
    r = api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "retry-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    assert body["job_id"] == job_id
    assert body["exit_code"] is None
    assert (body["run_token"], body["already_requested"]) == ("retry-1", False)
    assert annotations_of(k8s, namespace, job_id)[RUN_NOW_ANNOTATION] == "retry-1"

    # The retry is a no-op: the facade does not write the token again.
    retry = api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "retry-1"}).json()
    assert (retry["run_token"], retry["already_requested"]) == ("retry-1", True)
    assert annotations_of(k8s, namespace, job_id)[RUN_NOW_ANNOTATION] == "retry-1"

    # A new run without a key gets a fresh token.
    fresh = api.post(f"/api/jobs/{job_id}/run").json()
    assert fresh["run_token"] not in ("", "retry-1")
    assert annotations_of(k8s, namespace, job_id)[RUN_NOW_ANNOTATION] == fresh["run_token"]

    # A key the operator already served (listed in run-now-done) never runs again.
    patched = k8s.patch(
        ChronosJobResource,
        job_id,
        {"metadata": {"annotations": {RUN_NOW_DONE_ANNOTATION: '["retry-1", "x"]'}}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    assert patched.metadata is not None
    done_version = str(patched.metadata.resourceVersion)
    wait_for(
        lambda: int(api.get(f"/api/jobs/{job_id}").json()["resource_version"]) >= int(done_version),
        what="the watch to deliver the operator's annotation",
    )
    served = api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "retry-1"}).json()
    assert served["already_requested"] is True
    assert annotations_of(k8s, namespace, job_id)[RUN_NOW_ANNOTATION] == fresh["run_token"]

    bad = api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "no spaces"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "Idempotency-Key"


def test_history_and_last_run_fields_after_status_history_is_written(
    api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = api.post("/api/jobs", json=example_job()).json()["id"]
    assert api.get(f"/api/jobs/{job_id}/history").json() == {
        "job_id": job_id,
        "items": [],
        "total": 0,
    }
    history = [
        {
            "runId": f"{job_id}-2",
            "trigger": "run-now",
            "result": "failed",
            "startTime": "2025-03-03T08:30:00Z",
            "endTime": "2025-03-03T08:31:00Z",
            "reason": "EntityStartFailed",
            "message": "entity-456 did not start",
            "entities": [{"id": "entity-456", "result": "failed", "state": "ERROR"}],
            "reportedBy": "runner",
        },
        {
            "runId": f"{job_id}-1",
            "trigger": "schedule",
            "result": "succeeded",
            "scheduledTime": "2025-03-01T08:30:00Z",
            "startTime": "2025-03-01T08:30:02Z",
            "endTime": "2025-03-01T08:30:40Z",
            "durationSeconds": 38.0,
        },
    ]
    k8s.patch(
        ChronosJobResource.Status,
        job_id,
        {"status": {"history": history, "lastRun": history[0]}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )

    def written() -> bool:
        return bool(api.get(f"/api/jobs/{job_id}/history").json()["total"] == 2)

    wait_for(written, what="the status to reach the cache")
    runs = api.get(f"/api/jobs/{job_id}/history").json()["items"]
    assert [r["run_id"] for r in runs] == [f"{job_id}-2", f"{job_id}-1"]
    assert runs[0]["entities"] == [{"id": "entity-456", "result": "failed", "state": "ERROR"}]
    assert runs[0]["reported_by"] == "runner"
    assert runs[1]["duration_seconds"] == 38.0
    assert api.get(f"/api/jobs/{job_id}/history", params={"limit": 1}).json()["items"] == runs[:1]
    job = api.get(f"/api/jobs/{job_id}").json()
    assert job["last_run"] == "2025-03-03T08:30:00Z"
    assert job["last_run_status"] == "failed"
    assert job["last_successful_run"] == "2025-03-01T08:30:40Z"
    assert job["last_error_message"] == "entity-456 did not start"
    assert job["last_run_error_time"] == "2025-03-03T08:31:00Z"
