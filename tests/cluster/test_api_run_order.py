"""REST fields the dashboard's job form needed (issue 20): ``concurrency_policy`` and
``max_queued`` on job bodies and answers, and a PUT that turns a scheduled job into a
chain-only one by clearing both schedule forms beside ``after``; on the real control
plane, as the editor."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures_api import example_job
from lightkube import Client

from chronos import http
from chronos.api.cache import plain
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster


def _spec(k8s: Client, namespace: str, job_id: str) -> dict[str, Any]:
    return dict(plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))["spec"])


def test_the_queue_fields_are_stored_answered_and_judged(
    api: http.Client, k8s: Client, namespace: str
) -> None:
    r = api.post("/api/jobs", json=example_job(concurrency_policy="Enqueue", max_queued=3))
    assert r.status_code == 201, r.text
    job = r.json()
    assert (job["concurrency_policy"], job["max_queued"]) == ("Enqueue", 3)
    spec = _spec(k8s, namespace, job["id"])
    assert (spec["concurrencyPolicy"], spec["maxQueued"]) == ("Enqueue", 3)
    # a bound without Enqueue: the two fields conflict (409 naming max_queued)
    r = api.put(f"/api/jobs/{job['id']}", json={"concurrency_policy": "Allow"})
    assert r.status_code == 409, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["max_queued"]
    r = api.put(f"/api/jobs/{job['id']}", json={"concurrency_policy": "Allow", "max_queued": None})
    assert r.status_code == 200, r.text
    assert (r.json()["concurrency_policy"], r.json()["max_queued"]) == ("Allow", None)
    assert "maxQueued" not in _spec(k8s, namespace, job["id"])
    # out of bounds: the document's 422
    r = api.post("/api/jobs", json=example_job(concurrency_policy="Enqueue", max_queued=0))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "max_queued"
    # an old job without the field answers the default
    plain_job = api.post("/api/jobs", json=example_job()).json()
    assert (plain_job["concurrency_policy"], plain_job["max_queued"]) == ("Forbid", None)


def test_a_scheduled_job_becomes_chain_only_by_put(
    api: http.Client, k8s: Client, namespace: str
) -> None:
    upstream = api.post("/api/jobs", json=example_job(name="up")).json()["id"]
    job_id = api.post("/api/jobs", json=example_job(name="down")).json()["id"]
    cleared = {"schedule": None, "cron_expression": None}
    r = api.put(f"/api/jobs/{job_id}", json=cleared)
    assert r.status_code == 409, r.text  # no schedule and no after
    assert [e["field"] for e in r.json()["errors"]] == ["schedule"]
    r = api.put(f"/api/jobs/{job_id}", json={**cleared, "after": [{"job": upstream}]})
    assert r.status_code == 200, r.text
    assert (r.json()["schedule"], r.json()["cron_expression"]) == (None, None)
    spec = _spec(k8s, namespace, job_id)
    assert "schedule" not in spec
    assert spec["after"] == [{"job": upstream, "when": "Succeeded"}]  # the CRD default
