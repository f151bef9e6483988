"""Issue 20, feature 5 on the control plane: ``POST /api/jobs/{id}/runs/{run}/abort``
and the kubectl way end the run's Job and leave it ``aborted`` in the history (no node
here: the pods never start, so it is the operator's record, naming who asked); callers
without the rights get the same answer whether the job and the run exist or not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from builders import allow, grant
from builders import secret as corehub_secret
from fixtures_api import ApiServer, example_job, quiet_schedule, sa_token
from fixtures_operator import COREHUB_SECRET
from lightkube import ApiError, Client
from lightkube.models.rbac_v1 import PolicyRule
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event
from lightkube.types import CascadeType, PatchType
from support import get_cr, wait_for

from chronos import contract as c
from chronos import http
from chronos.devcluster.operator_process import OperatorProcess

pytestmark = pytest.mark.cluster

JOBS_RULE = PolicyRule(apiGroups=["batch"], resources=["jobs"], verbs=["delete", "patch"])


def _abort_url(job_id: str, run: str) -> str:
    return f"/api/jobs/{job_id}/runs/{run}/abort"


def _start_run(api: http.Client, k8s: Client, ns: str) -> tuple[str, str]:
    """A job with one active run (started by run-now; no node, so its pod never starts)."""
    body = example_job(schedule=quiet_schedule(datetime.now(UTC)))
    job_id = api.post("/api/jobs", json=body).json()["id"]
    assert api.post(f"/api/jobs/{job_id}/run").status_code == 200
    runs = wait_for(
        lambda: (get_cr(k8s, ns, job_id).get("status") or {}).get("activeRuns"),
        30,
        "the run-now Job to be active",
    )
    return job_id, runs[0]


def _gone(k8s: Client, ns: str, run: str) -> bool:
    try:
        k8s.get(Job, run, namespace=ns)
    except ApiError as exc:
        return exc.status.code == 404
    return False


def _history(k8s: Client, ns: str, job_id: str, run: str) -> dict[str, Any] | None:
    history = (get_cr(k8s, ns, job_id).get("status") or {}).get("history") or []
    return next((h for h in history if h.get("runId") == run), None)


def test_rest_abort_deletes_the_job_and_records_the_run_aborted_by_the_caller(
    operator: OperatorProcess, api: http.Client, k8s: Client, namespace: str
) -> None:
    ns = namespace
    k8s.create(corehub_secret(COREHUB_SECRET, ns))
    allow(k8s, ns, "alice", JOBS_RULE)
    job_id, run = _start_run(api, k8s, ns)

    answer = api.post(_abort_url(job_id, run))
    assert answer.status_code == 202, answer.text
    assert answer.json()["run_id"] == run
    assert answer.json()["job_id"] == job_id
    wait_for(lambda: _gone(k8s, ns, run), 30, "the run's Job to be deleted")

    record = wait_for(lambda: _history(k8s, ns, job_id, run), 30, "the aborted run's record")
    assert (record["result"], record["reason"]) == ("aborted", "Aborted")
    assert record["reportedBy"] == "operator"  # the pod never started
    who = f"system:serviceaccount:{ns}:alice"
    assert record["message"].startswith(f"aborted by {who} at ")
    assert record["trigger"] == "run-now"

    # REST shows the same; the run is no longer active; an Event names who aborted.
    # (The facade reads its watch cache, which may not hold the record yet.)
    def in_rest() -> dict[str, Any] | None:
        items = api.get(f"/api/jobs/{job_id}/history").json()["items"]
        return next((r for r in items if r["run_id"] == run), None)

    rest = wait_for(in_rest, 30, "the record through REST")
    assert rest["result"] == "aborted"
    wait_for(lambda: not (get_cr(k8s, ns, job_id).get("status") or {}).get("activeRuns"), 30)
    events = [e for e in k8s.list(Event, namespace=ns) if e.reason == "Aborted"]
    assert [e.message for e in events] == [f"run {run} aborted by {who}"]
    # Once gone, a second abort is the 404 of a run that is not active.
    again = api.post(_abort_url(job_id, run))
    assert again.status_code == 404
    assert f'has no active run "{run}"' in again.json()["detail"]


def test_kubectl_annotate_then_delete_and_a_plain_delete_both_end_aborted(
    operator: OperatorProcess, api: http.Client, k8s: Client, namespace: str
) -> None:
    """The documented kubectl way (docs/operator.md, "Aborting a run"), as the admin."""
    ns = namespace
    k8s.create(corehub_secret(COREHUB_SECRET, ns))
    job_id, run = _start_run(api, k8s, ns)
    note = '{"by":"ops-oncall"}'
    k8s.patch(
        Job,
        run,
        {"metadata": {"annotations": {c.ABORT_ANNOTATION: note}}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )
    k8s.delete(Job, run, namespace=ns, cascade=CascadeType.FOREGROUND)
    record = wait_for(lambda: _history(k8s, ns, job_id, run), 30, "the aborted run's record")
    assert record["result"] == "aborted"
    assert record["message"].startswith("aborted by ops-oncall: ")

    # A plain `kubectl delete job` (background propagation), no annotation: still
    # aborted, not failed and not missing.
    wait_for(lambda: not (get_cr(k8s, ns, job_id).get("status") or {}).get("activeRuns"), 30)
    assert api.post(f"/api/jobs/{job_id}/run").status_code == 200
    second = wait_for(
        lambda: [
            r
            for r in (get_cr(k8s, ns, job_id).get("status") or {}).get("activeRuns") or []
            if r != run
        ],
        30,
        "the second run",
    )[0]
    k8s.delete(Job, second, namespace=ns)
    plain = wait_for(lambda: _history(k8s, ns, job_id, second), 30, "the second run's record")
    assert plain["result"] == "aborted"
    assert plain["message"] == "its Kubernetes Job was deleted before the run ended"


def test_abort_answers_alike_whether_the_job_and_the_run_exist(
    operator: OperatorProcess,
    api_server: ApiServer,
    api: http.Client,
    k8s: Client,
    namespace: str,
) -> None:
    ns = namespace
    k8s.create(corehub_secret(COREHUB_SECRET, ns))
    job_id, run = _start_run(api, k8s, ns)
    everything = [(job_id, run), (job_id, f"{job_id}-nope"), ("no-such-job", run)]

    def answers(client: http.Client, targets: list[tuple[str, str]]) -> list[tuple[int, str]]:
        """Each answer with the ids the caller sent replaced by placeholders."""
        out = []
        for job, name in targets:
            got = client.post(_abort_url(job, name))
            out.append((got.status_code, got.text.replace(name, "<run>").replace(job, "<job>")))
        return out

    # May delete batch Jobs, may not get ChronosJobs: one 403, whatever exists.
    token = sa_token(k8s, ns, "mallory")
    allow(k8s, ns, "mallory", JOBS_RULE)
    with api_server.client(token, ns) as mallory:
        first = answers(mallory, everything)
        assert set(first) == {first[0]}, first
        assert first[0][0] == 403
        assert "may not get chronosjobs.chronos.gluesync.io" in first[0][1]

    # May get ChronosJobs, no right on batch Jobs: one 403 naming that right.
    reader = sa_token(k8s, ns, "bob")
    grant(k8s, ns, "bob", ("get",), role="bob-get")
    with api_server.client(reader, ns) as bob:
        second = answers(bob, everything)
        assert set(second) == {second[0]}, second
        assert second[0][0] == 403
        assert "may not delete jobs.batch" in second[0][1]

    # Both rights: a missing run and a missing job answer alike (404).
    grant(k8s, ns, "mallory", ("get",), role="mallory-get")
    with api_server.client(token, ns) as mallory:
        missing = everything[1:]

        def granted() -> list[tuple[int, str]] | None:
            got = answers(mallory, missing)
            return got if got[0][0] != 403 else None

        third = wait_for(granted, 20, "the access cache to see mallory's grant")
        assert [status for status, _ in third] == [404, 404], third
        assert third[0][1] == third[1][1]
    # None of it touched the run.
    assert not _gone(k8s, ns, run)
    assert _history(k8s, ns, job_id, run) is None
    # A malformed run id is the (allowed) caller's error, naming the parameter.
    bad = api.post(_abort_url(job_id, "Not_A_Job"))
    assert bad.status_code == 422, bad.text
    assert "run" in bad.text
