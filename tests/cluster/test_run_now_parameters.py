"""Run now with parameters on the control plane: the REST facade's 422s and idempotency,
the operator handing the parameters to the Job (env CHRONOS_PARAMETERS), the kubectl way
(the run-now annotation's JSON form) and its admission caps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from builders import create_chronosjob as create
from builders import spec
from fixtures_api import example_job, quiet_schedule
from lightkube import Client
from lightkube.resources.batch_v1 import Job
from lightkube.types import PatchType
from support import annotate_refusal, wait_for
from support_runnow import annotation_json, jobs_by_token, run_now_records

from chronos import contract as c
from chronos import http
from chronos import runnow as rn
from chronos.devcluster.operator_process import OperatorProcess
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster

IDS = ["entity-456", "entity-789", "entity-900"]


def _job_body() -> dict[str, Any]:
    body = example_job(schedule=quiet_schedule(datetime.now(UTC)), entity_ids=IDS)
    del body["entity_id"]
    return body


def _env_of(k8s: Client, ns: str, job: str) -> dict[str, str]:
    obj = k8s.get(Job, job, namespace=ns).to_dict()
    container = obj["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container.get("env") or []}


def test_rest_parameters_are_judged_recorded_and_reach_the_job(
    operator: OperatorProcess, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = api.post("/api/jobs", json=_job_body()).json()["id"]
    patch = {"spec": {"concurrencyPolicy": "Allow"}}
    k8s.patch(ChronosJobResource, job_id, patch, namespace=namespace, patch_type=PatchType.MERGE)
    run = f"/api/jobs/{job_id}/run"

    # Malformed: a 422 naming the field; outside what this job's task takes: a 409
    # naming it (the document cannot know the job); nothing is written.
    for parameters, field, status in (
        ({"entity_ids": ["entity-456", "nope"]}, "parameters.entity_ids[1]", 409),
        ({"group_ids": ["g1"]}, "parameters.group_ids", 409),
        ({"entity_ids": ["../x"]}, "parameters.entity_ids[0]", 422),
        ({"snapshot_write_method": "MERGE"}, "parameters.snapshot_write_method", 422),
        ({"as_of": "yesterday"}, "parameters.as_of", 422),
        ({"entity_ids": []}, "parameters.entity_ids", 422),
    ):
        r = api.post(run, json={"parameters": parameters}, headers={"Idempotency-Key": "bad"})
        assert r.status_code == status, r.text
        assert field in [e["field"] for e in r.json()["errors"]], r.text
    unknown = api.post(run, json={"parameters": {"entity": ["x"]}})
    assert unknown.status_code == 422, unknown.text
    assert annotation_json(k8s, namespace, job_id, c.RUN_NOW_PARAMETERS_ANNOTATION) == {}

    # Accepted: the run's Job carries exactly these parameters, camelCase.
    given = {"entity_ids": ["entity-900", "entity-456"], "as_of": "2026-03-01T09:00:00Z"}
    r = api.post(run, json={"parameters": given}, headers={"Idempotency-Key": "p-1"})
    assert r.status_code == 200, r.text
    assert r.json()["already_requested"] is False
    jobs = wait_for(lambda: jobs_by_token(k8s, namespace).get("p-1"), what="the run-now Job")
    assert len(jobs) == 1
    env = _env_of(k8s, namespace, jobs[0])
    assert json.loads(env[c.ENV_PARAMETERS]) == {
        "entityIds": ["entity-900", "entity-456"],
        "asOf": "2026-03-01T09:00:00Z",
    }
    # The spec is never changed by a run's parameters.
    assert api.get(f"/api/jobs/{job_id}").json()["entity_ids"] == IDS

    # Served: the parameters shrink to their digest; the key still guarantees one run.
    wait_for(
        lambda: str(
            annotation_json(k8s, namespace, job_id, c.RUN_NOW_PARAMETERS_ANNOTATION).get("p-1")
        ).startswith("sha256:"),
        what="the served request's digest",
    )
    again = api.post(run, json={"parameters": given}, headers={"Idempotency-Key": "p-1"})
    assert again.status_code == 200, again.text
    assert again.json()["already_requested"] is True
    other = {"parameters": {"entity_ids": ["entity-456"]}}
    conflict = api.post(run, json=other, headers={"Idempotency-Key": "p-1"})
    assert conflict.status_code == 409, conflict.text
    assert "other parameters" in conflict.json()["detail"]
    assert api.post(run, headers={"Idempotency-Key": "p-1"}).status_code == 409
    assert jobs_by_token(k8s, namespace)["p-1"] == jobs

    # A run without parameters has no CHRONOS_PARAMETERS.
    assert api.post(run, headers={"Idempotency-Key": "plain"}).status_code == 200
    plain = wait_for(lambda: jobs_by_token(k8s, namespace).get("plain"), what="the plain Job")
    assert c.ENV_PARAMETERS not in _env_of(k8s, namespace, plain[0])


def test_the_kubectl_way_carries_parameters_and_the_operator_judges_them(
    operator: OperatorProcess, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = api.post("/api/jobs", json=_job_body()).json()["id"]
    patch = {"spec": {"concurrencyPolicy": "Allow"}}
    k8s.patch(ChronosJobResource, job_id, patch, namespace=namespace, patch_type=PatchType.MERGE)
    hand = '{"token":"by-hand-1","parameters":{"entityIds":["entity-789"]}}'
    assert annotate_refusal(k8s, namespace, job_id, {c.RUN_NOW_ANNOTATION: hand}) is None
    jobs = wait_for(lambda: jobs_by_token(k8s, namespace).get("by-hand-1"), what="the Job")
    assert json.loads(_env_of(k8s, namespace, jobs[0])[c.ENV_PARAMETERS]) == {
        "entityIds": ["entity-789"]
    }

    # Ids the job does not have: no Job, a refused run naming the field, an Event.
    bad = '{"token":"by-hand-2","parameters":{"entityIds":["entity-789","other"]}}'
    assert annotate_refusal(k8s, namespace, job_id, {c.RUN_NOW_ANNOTATION: bad}) is None

    def refused() -> dict[str, Any] | None:
        found = [r for r in run_now_records(k8s, namespace, job_id) if r.get("reason")]
        return found[0] if found else None

    record = wait_for(refused, what="the refused run")
    assert (record["result"], record["reason"]) == ("missed", "InvalidParameters")
    assert "parameters.entityIds[1]: 'other' is not one of the job's ids" in record["message"]
    assert record["parameters"] == {"entityIds": ["entity-789", "other"]}
    assert "by-hand-2" not in jobs_by_token(k8s, namespace)
    # The job's answer shows the hand-set token, not the JSON around it.
    wait_for(
        lambda: api.get(f"/api/jobs/{job_id}").json()["run_now_token"] == "by-hand-2",
        what="the hand-set token in the job's answer",
    )
    # The REST history shows the refused run with its parameters, snake_case.
    items = api.get(f"/api/jobs/{job_id}/history").json()["items"]
    (shown,) = [i for i in items if i["reason"] == "InvalidParameters"]
    assert shown["parameters"]["entity_ids"] == ["entity-789", "other"]


def test_admission_caps_the_hand_set_form_and_the_parameters(
    k8s: Client, solo_namespace: str
) -> None:
    """No operator watches a solo namespace: what admission lets through stays written."""
    ns = solo_namespace
    create(k8s, ns, "params", spec(enabled=False))
    policy = "ValidatingAdmissionPolicy 'chronos-job-limits'"
    too_big = json.dumps(
        {"token": "t", "parameters": {"entityIds": ["e" * 200] * 30}}, separators=(",", ":")
    )
    assert len(too_big) > rn.HAND_SET_MAX_BYTES
    message = wait_for(
        lambda: annotate_refusal(k8s, ns, "params", {c.RUN_NOW_ANNOTATION: too_big}),
        30,
        "the job-limits policy to be enforced",
    )
    assert policy in message, message
    assert '{"token":"<token>","parameters":{...}}' in message
    for bad in (
        '{"parameters":{},"token":"t"}',  # token first
        '{"token":"not a token"}',
        '{"token":"t","parameters":{}}\n',
    ):
        assert annotate_refusal(k8s, ns, "params", {c.RUN_NOW_ANNOTATION: bad}) is not None, bad
    good = '{"token":"t-1","parameters":{"entityIds":["e1"]}}'
    assert annotate_refusal(k8s, ns, "params", {c.RUN_NOW_ANNOTATION: good}) is None
    assert annotate_refusal(k8s, ns, "params", {c.RUN_NOW_ANNOTATION: "bare-token"}) is None

    key = c.RUN_NOW_PARAMETERS_ANNOTATION
    entry = {"entityIds": ["e" * 200] * 15}
    many = {f"k{i}": entry for i in range(rn.PARAMETERS_ANNOTATION_MAX_BYTES // 3000 + 2)}
    text = json.dumps(many, separators=(",", ":"))
    assert len(text) > rn.PARAMETERS_ANNOTATION_MAX_BYTES
    refused = annotate_refusal(k8s, ns, "params", {key: text})
    assert refused is not None
    assert "run-now-parameters" in refused
    assert annotate_refusal(k8s, ns, "params", {key: "not json"}) is not None
    assert annotate_refusal(k8s, ns, "params", {key: json.dumps({"k": entry})}) is None
