"""The REST facade against the real control plane, with auth ON: CRUD round trips."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fixtures_api import example_job
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from support import wait_for

from chronos import http
from chronos.api.cache import plain
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster


def cr(k8s: Client, namespace: str, name: str) -> dict[str, Any]:
    return plain(k8s.get(ChronosJobResource, name, namespace=namespace))


def test_readme_example_verbatim_creates_the_chronosjob(
    api: http.Client, k8s: Client, namespace: str
) -> None:
    r = api.post("/api/jobs", json=example_job())
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["id"] == "monday-wednesday-friday-job"
    assert job["cron_expression"] == "30 8 * * 1,3,5"
    assert job["is_cron_expression"] is False
    assert job["entity_ids"] == ["entity-456"]
    assert job["enabled"] is True
    assert job["next_run"] is not None
    assert r.headers["ETag"] == f'"{job["resource_version"]}"'
    spec = cr(k8s, namespace, job["id"])["spec"]
    assert spec["displayName"] == "Monday-Wednesday-Friday Job"
    assert spec["schedule"] == {
        "daysOfWeek": ["monday", "wednesday", "friday"],
        "hour": 8,
        "minute": 30,
    }
    assert spec["task"]["type"] == "entity_start"
    assert spec["task"]["pipelineId"] == "pipeline-123"
    assert spec["task"]["entityIds"] == ["entity-456"]
    # Read-your-writes: the same caller sees it at once, in the list and by id.
    listed = api.get("/api/jobs").json()
    assert listed["total"] == 1
    assert listed["items"][0]["id"] == job["id"]
    assert api.get(f"/api/jobs/{job['id']}").json()["name"] == "Monday-Wednesday-Friday Job"


def test_chronosjob_created_with_kubectl_is_listed(
    api: http.Client, k8s: Client, namespace: str
) -> None:
    body = {
        "task": {"type": "pipeline_stop", "pipelineId": "p9"},
        "schedule": {"cron": "*/5 * * * *"},
        "timeZone": "Europe/Rome",
    }
    k8s.create(
        ChronosJobResource(metadata=ObjectMeta(name="from-k8s", namespace=namespace), spec=body)
    )

    def listed() -> bool:
        return any(j["id"] == "from-k8s" for j in api.get("/api/jobs").json()["items"])

    wait_for(listed, what="the watch to deliver the ChronosJob")
    job = api.get("/api/jobs/from-k8s").json()
    assert job["name"] == "from-k8s"
    assert job["task_type"] == "pipeline_stop"
    assert job["cron_expression"] == "*/5 * * * *"
    assert job["is_cron_expression"] is True
    assert job["schedule"] is None
    assert job["timezone"] == "Europe/Rome"
    assert job["entity_ids"] == []
    # Deleted behind the facade's back: gone from it too.
    k8s.delete(ChronosJobResource, "from-k8s", namespace=namespace)
    wait_for(lambda: api.get("/api/jobs/from-k8s").status_code == 404, what="the deletion")


def test_crud_round_trip(api: http.Client, k8s: Client, namespace: str) -> None:
    created = api.post("/api/jobs/", json=example_job(timezone="Europe/Rome")).json()
    job_id = created["id"]
    assert created["timezone"] == "Europe/Rome"

    # Partial update: only the hour changes (the whole friendly schedule is sent).
    r = api.put(
        f"/api/jobs/{job_id}",
        json={"schedule": {"days_of_week": ["monday"], "hour": 9, "minute": 0}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["cron_expression"] == "0 9 * * 1"
    assert r.json()["name"] == "Monday-Wednesday-Friday Job"
    spec = cr(k8s, namespace, job_id)["spec"]
    assert spec["schedule"] == {"daysOfWeek": ["monday"], "hour": 9, "minute": 0}
    assert spec["timeZone"] == "Europe/Rome"

    # Switch to a cron expression and to a pipeline task: entity ids are dropped.
    r = api.put(
        f"/api/jobs/{job_id}",
        json={
            "cron_expression": "15 3 * * *",
            "task_type": "PIPELINE_SNAPSHOT",
            "description": "d",
        },
    )
    assert r.status_code == 200, r.text
    job = r.json()
    assert (job["cron_expression"], job["is_cron_expression"]) == ("15 3 * * *", True)
    assert job["task_type"] == "pipeline_snapshot"
    assert job["entity_ids"] == []
    spec = cr(k8s, namespace, job_id)["spec"]
    assert spec["schedule"] == {"cron": "15 3 * * *"}
    assert spec["task"] == {
        "type": "pipeline_snapshot",
        "pipelineId": "pipeline-123",
        "withSnapshot": False,
        "snapshotWriteMethod": "UPSERT",
    }
    assert spec["description"] == "d"

    # A GET body sent back unchanged is a valid PUT (read-only fields are ignored).
    again = api.put(f"/api/jobs/{job_id}", json=api.get(f"/api/jobs/{job_id}").json())
    assert again.status_code == 200, again.text

    # Same name again: a new id with a suffix.
    second = api.post("/api/jobs", json=example_job()).json()
    assert second["id"].startswith("monday-wednesday-friday-job-")
    assert second["id"] != job_id
    listed = api.get("/api/jobs", params={"task_type": "entity_start"}).json()
    assert [j["id"] for j in listed["items"]] == [second["id"]]
    assert api.get("/api/jobs", params={"limit": 1, "skip": 1}).json()["total"] == 2

    r = api.delete(f"/api/jobs/{job_id}")
    assert r.status_code == 204
    assert api.get(f"/api/jobs/{job_id}").status_code == 404
    assert [j["id"] for j in api.get("/api/jobs").json()["items"]] == [second["id"]]
    assert not any(
        j.metadata is not None and j.metadata.name == job_id
        for j in k8s.list(ChronosJobResource, namespace=namespace)
    )
    assert api.delete(f"/api/jobs/{job_id}").status_code == 404


def test_enable_disable_changes_spec_enabled(api: http.Client, k8s: Client, namespace: str) -> None:
    job_id = api.post("/api/jobs", json=example_job()).json()["id"]
    r = api.patch(f"/api/jobs/{job_id}/status", json={"enabled": False})
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False
    assert r.json()["next_run"] is None
    assert cr(k8s, namespace, job_id)["spec"]["enabled"] is False
    assert api.get("/api/jobs", params={"enabled": False}).json()["total"] == 1
    assert api.get("/api/jobs", params={"enabled": True}).json()["total"] == 0
    r = api.patch(f"/api/jobs/{job_id}/status", json={"enabled": True})
    assert r.json()["enabled"] is True
    assert cr(k8s, namespace, job_id)["spec"]["enabled"] is True


def test_if_match(api: http.Client, k8s: Client, namespace: str) -> None:
    job_id = api.post("/api/jobs", json=example_job()).json()["id"]
    url = f"/api/jobs/{job_id}"

    # The operator may write the status at any time (a new resourceVersion, so a new
    # ETag): each step reads the current ETag and uses it at once, again if that raced.
    def with_current_etag(
        send: Callable[[str], http.Response], raced: int = 412
    ) -> tuple[str, http.Response]:
        for _ in range(10):
            tag = api.get(url).headers["ETag"]
            response = send(tag)
            if response.status_code != raced:
                break
        return tag, response

    _, cached = with_current_etag(lambda t: api.get(url, headers={"If-None-Match": t}), 200)
    assert cached.status_code == 304
    tag, ok = with_current_etag(
        lambda t: api.put(url, json={"description": "one"}, headers={"If-Match": t})
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers["ETag"] != tag
    # The old ETag is stale now: every conditional write is refused with 412.
    stale = api.put(url, json={"description": "two"}, headers={"If-Match": tag})
    assert stale.status_code == 412
    assert "If-Match" in stale.json()["detail"]
    status = api.patch(f"{url}/status", json={"enabled": False}, headers={"If-Match": tag})
    assert status.status_code == 412
    assert api.delete(url, headers={"If-Match": tag}).status_code == 412
    assert cr(k8s, namespace, job_id)["spec"]["description"] == "one"
    assert cr(k8s, namespace, job_id)["spec"]["enabled"] is True
    _, deleted = with_current_etag(lambda t: api.delete(url, headers={"If-Match": t}))
    assert deleted.status_code == 204


def test_unknown_job_is_404(api: http.Client) -> None:
    for path in ("/api/jobs/nope", "/api/jobs/nope/history", "/api/jobs/Not_A_Name"):
        r = api.get(path)
        assert r.status_code == 404
        assert "not found" in r.json()["detail"]
    assert api.put("/api/jobs/nope", json={"description": "x"}).status_code == 404
    assert api.post("/api/jobs/nope/run").status_code == 404


def test_a_friendly_job_read_back_and_sent_again_keeps_its_schedule(
    api: http.Client, namespace: str
) -> None:
    created = api.post("/api/jobs", json=example_job())
    assert created.status_code == 201, created.text
    job = created.json()
    assert (job["cron_expression"], job["is_cron_expression"]) == ("30 8 * * 1,3,5", False)
    # The GET body, sent back whole: the read-only fields and the cron echo are ignored.
    back = api.put(f"/api/jobs/{job['id']}", json=api.get(f"/api/jobs/{job['id']}").json())
    assert back.status_code == 200, back.text
    assert back.json()["schedule"] == job["schedule"]
    # Beside the friendly form, another cron_expression is the echo too: the schedule wins
    # and the answer shows the cron it makes.
    other = api.put(
        f"/api/jobs/{job['id']}",
        json={
            "schedule": {"days_of_week": [], "hour": 6, "minute": 0},
            "cron_expression": "0 9 * * *",
        },
    )
    assert other.status_code == 200, other.text
    assert (other.json()["cron_expression"], other.json()["is_cron_expression"]) == (
        "0 6 * * *",
        False,
    )
