"""Run now (idempotent, through the run-now annotation) and run history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial

import pytest
from fixtures_api import example_job
from lightkube import Client
from lightkube.types import PatchType
from support import wait_for

from chronos import http
from chronos.contract import (
    RUN_NOW_ANNOTATION,
    RUN_NOW_DONE_ANNOTATION,
    RUN_NOW_PENDING_ANNOTATION,
)
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster


@pytest.fixture
def namespace(solo_namespace: str) -> str:
    """A namespace the session's operator does not watch (it may be running, started by
    an earlier test): run-now requests here stay pending, as while the operator is down."""
    return solo_namespace


def annotations_of(k8s: Client, namespace: str, name: str) -> dict[str, str]:
    obj = k8s.get(ChronosJobResource, name, namespace=namespace)
    assert obj.metadata is not None
    return dict(obj.metadata.annotations or {})


def api_has_seen(api: http.Client, job_id: str, version: int) -> bool:
    return int(api.get(f"/api/jobs/{job_id}").json()["resource_version"]) >= version


def pending_of(k8s: Client, namespace: str, name: str) -> dict[str, str]:
    raw = annotations_of(k8s, namespace, name).get(RUN_NOW_PENDING_ANNOTATION) or "{}"
    pending: dict[str, str] = json.loads(raw)
    return pending


def test_run_now_adds_each_idempotency_key_once(
    api: http.Client, k8s: Client, namespace: str
) -> None:
    # No operator watches this namespace: the requests stay pending.
    job_id = api.post("/api/jobs", json=example_job()).json()["id"]
    k8s.patch(
        ChronosJobResource,
        job_id,
        {"spec": {"concurrencyPolicy": "Allow"}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    r = api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "retry-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    assert body["job_id"] == job_id
    assert body["exit_code"] is None
    assert (body["run_token"], body["already_requested"]) == ("retry-1", False)
    assert annotations_of(k8s, namespace, job_id)[RUN_NOW_ANNOTATION] == "retry-1"
    first = pending_of(k8s, namespace, job_id)
    assert list(first) == ["retry-1"]

    # The retry is a no-op: the facade does not write the token again.
    retry = api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "retry-1"}).json()
    assert (retry["run_token"], retry["already_requested"]) == ("retry-1", True)
    assert pending_of(k8s, namespace, job_id) == first

    # A new run without a key gets a fresh token, pending next to the first one.
    fresh = api.post(f"/api/jobs/{job_id}/run").json()
    assert fresh["run_token"] not in ("", "retry-1")
    assert fresh["already_requested"] is False
    assert set(pending_of(k8s, namespace, job_id)) == {"retry-1", fresh["run_token"]}
    assert pending_of(k8s, namespace, job_id)["retry-1"] == first["retry-1"]

    # Keys the operator served (within the window; or listed in the old format) never
    # run again.
    served = json.dumps({"served-1": datetime.now(UTC).isoformat()})
    for done in (served, '["old-1", "x"]'):
        patched = k8s.patch(
            ChronosJobResource,
            job_id,
            {"metadata": {"annotations": {RUN_NOW_DONE_ANNOTATION: done}}},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )
        assert patched.metadata is not None
        done_version = int(str(patched.metadata.resourceVersion))
        wait_for(
            partial(api_has_seen, api, job_id, done_version),
            what="the watch to deliver the operator's annotation",
        )
        key = "served-1" if done == served else "old-1"
        again = api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": key}).json()
        assert again["already_requested"] is True
        assert key not in pending_of(k8s, namespace, job_id)

    bad = api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "no spaces"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "Idempotency-Key"


def test_run_now_under_forbid_is_refused_while_another_is_pending(
    api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = api.post("/api/jobs", json=example_job()).json()["id"]  # Forbid by default
    assert api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "a"}).status_code == 200
    second = api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "b"})
    assert second.status_code == 409, second.text
    assert "Forbid" in second.json()["detail"]
    assert list(pending_of(k8s, namespace, job_id)) == ["a"]
    # A retry of the accepted key is still the idempotent answer, not a refusal.
    retry = api.post(f"/api/jobs/{job_id}/run", headers={"Idempotency-Key": "a"})
    assert retry.status_code == 200
    assert retry.json()["already_requested"] is True


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
