"""Chains and fan-in (issue 20) on the real control plane, with the operator as a real
process. An upstream run's end is simulated by writing the upstream's status.history as
the runner does (a run appended, newest first); the downstream's runs are the Jobs the
operator creates (nothing runs their pods here), each carrying its cause."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import create_chronosjob as create
from builders import grant, service_account
from builders import pipeline_spec as spec
from fixtures_api import sa_token, token_kubeconfig
from fixtures_ui import UiUser
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.batch_v1 import Job
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from support import cronjob, get_cr, patch_spec, ready, set_status, wait_for

from chronos import contract as c
from chronos import http, kube
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.operator_process import OperatorProcess
from chronos.kube import ChronosJobResource
from chronos.operator.naming import chain_job_name, cronjob_name

pytestmark = pytest.mark.cluster

TASK = {"type": "pipeline_start", "pipelineId": "p1"}


def chain_only(*upstreams: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"task": TASK, "after": list(upstreams), **more}


def finish(k8s: Client, ns: str, job: str, run_id: str, result: str) -> None:
    """Record a run of ``job`` that just ended ``result``, as the runner does."""
    now = datetime.now(UTC)
    record = {
        "runId": run_id,
        "trigger": "schedule",
        "result": result,
        "startTime": (now - timedelta(seconds=5)).isoformat(),
        "endTime": now.isoformat(),
        "reportedBy": "runner",
    }
    history = (get_cr(k8s, ns, job).get("status") or {}).get("history") or []
    set_status(k8s, ns, job, {"history": [record, *history]})


def chain_jobs(k8s: Client, ns: str, job: str) -> list[dict[str, Any]]:
    """The Jobs of ChronosJob ``job`` started by a chain."""
    found = []
    for obj in k8s.list(Job, namespace=ns):
        d = obj.to_dict()
        notes = d["metadata"].get("annotations") or {}
        if notes.get(c.CHRONOSJOB_ANNOTATION) == job and notes.get(c.TRIGGER_ANNOTATION) == "chain":
            found.append(d)
    return found


def expected_name(k8s: Client, ns: str, downstream: str, *runs: tuple[str, str]) -> str:
    """The Job name the operator must give: from the upstream jobs' uids and run ids."""
    pairs = sorted((str(get_cr(k8s, ns, up)["metadata"]["uid"]), run) for up, run in runs)
    return chain_job_name(cronjob_name(downstream), pairs)


def cause(job: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(job["metadata"]["annotations"][c.CAUSE_ANNOTATION]))


def is_ready(k8s: Client, ns: str, name: str) -> bool:
    cond = ready(k8s, ns, name)
    return cond is not None and cond["status"] == "True"


@pytest.fixture
def ns(k8s: Client, namespace: str) -> str:
    k8s.create(service_account("chronos-runner", namespace))
    return namespace


def test_chain_on_success_and_on_failure(operator: OperatorProcess, k8s: Client, ns: str) -> None:
    create(k8s, ns, "extract", spec())
    create(k8s, ns, "load", chain_only({"job": "extract"}, concurrencyPolicy="Allow"))
    create(k8s, ns, "alert", chain_only({"job": "extract", "when": "Failed"}))
    for name in ("extract", "load", "alert"):
        wait_for(lambda n=name: is_ready(k8s, ns, n), what=f"{name} Ready")  # type: ignore[misc]
    # A chain-only job: its CronJob only holds the template, suspended, nothing next.
    template = cronjob(k8s, ns, "load")
    assert template is not None
    assert template["spec"]["suspend"] is True
    assert not get_cr(k8s, ns, "load")["status"].get("nextRunTimes")

    finish(k8s, ns, "extract", "extract-1", "succeeded")
    [job] = wait_for(lambda: chain_jobs(k8s, ns, "load"), what="load's chain run")
    assert job["metadata"]["name"] == expected_name(k8s, ns, "load", ("extract", "extract-1"))
    assert cause(job) == {"job": "extract", "runId": "extract-1", "result": "succeeded"}
    pod_notes = job["spec"]["template"]["metadata"]["annotations"]
    assert pod_notes[c.TRIGGER_ANNOTATION] == "chain"  # the runner records trigger chain

    finish(k8s, ns, "extract", "extract-2", "failed")
    [failed] = wait_for(lambda: chain_jobs(k8s, ns, "alert"), what="alert's chain run")
    assert cause(failed) == {"job": "extract", "runId": "extract-2", "result": "failed"}
    # The failure started no run of load, and extract-1 only the one: a third upstream
    # run (a barrier: once load runs for it, the operator has seen extract-2) adds one.
    finish(k8s, ns, "extract", "extract-3", "succeeded")
    wait_for(lambda: len(chain_jobs(k8s, ns, "load")) == 2, what="load's second run")
    runs = sorted(cause(j)["runId"] for j in chain_jobs(k8s, ns, "load"))
    assert runs == ["extract-1", "extract-3"]
    assert [cause(j)["runId"] for j in chain_jobs(k8s, ns, "alert")] == ["extract-2"]
    # alert is Forbid and its run still active: the next failure's run is refused and
    # recorded under its Job's name, with its cause (and so never started later).
    finish(k8s, ns, "extract", "extract-4", "failed")
    refused = wait_for(
        lambda: [
            h
            for h in (get_cr(k8s, ns, "alert").get("status") or {}).get("history") or []
            if h.get("reason") == "ConcurrencyForbid"
        ],
        what="the refused chain run in alert's history",
    )
    assert refused[0]["trigger"] == "chain"
    assert refused[0]["result"] == "missed"
    assert refused[0]["cause"]["runId"] == "extract-4"
    assert refused[0]["runId"] == expected_name(k8s, ns, "alert", ("extract", "extract-4"))
    assert len(chain_jobs(k8s, ns, "alert")) == 1


def test_fan_in_of_two_upstreams(operator: OperatorProcess, k8s: Client, ns: str) -> None:
    create(k8s, ns, "orders", spec())
    create(k8s, ns, "stock", spec())
    create(k8s, ns, "report", chain_only({"job": "orders"}, {"job": "stock"}, afterAll=True))
    create(k8s, ns, "probe", chain_only({"job": "orders"}, concurrencyPolicy="Allow"))  # barrier
    for name in ("orders", "stock", "report", "probe"):
        wait_for(lambda n=name: is_ready(k8s, ns, n), what=f"{name} Ready")  # type: ignore[misc]

    finish(k8s, ns, "orders", "orders-1", "succeeded")
    finish(k8s, ns, "stock", "stock-1", "failed")
    # probe runs after orders-1: the operator has seen it, and report waits for stock.
    wait_for(lambda: chain_jobs(k8s, ns, "probe"), what="probe's run")
    assert chain_jobs(k8s, ns, "report") == []

    finish(k8s, ns, "stock", "stock-2", "succeeded")
    [job] = wait_for(lambda: chain_jobs(k8s, ns, "report"), what="the fan-in run")
    assert job["metadata"]["name"] == expected_name(
        k8s, ns, "report", ("orders", "orders-1"), ("stock", "stock-2")
    )
    assert cause(job)["runId"] == "stock-2"  # the success that completed the set
    # Another success of one upstream alone starts nothing (probe's second run: seen).
    finish(k8s, ns, "orders", "orders-2", "succeeded")
    wait_for(lambda: len(chain_jobs(k8s, ns, "probe")) == 2, what="probe's second run")
    assert len(chain_jobs(k8s, ns, "report")) == 1


def test_cycle_is_refused_naming_it(operator: OperatorProcess, k8s: Client, ns: str) -> None:
    create(k8s, ns, "ping", spec(after=[{"job": "pong"}]))
    create(k8s, ns, "pong", spec(after=[{"job": "ping"}], concurrencyPolicy="Allow"))
    for name in ("ping", "pong"):
        cond = wait_for(
            lambda n=name: (r := ready(k8s, ns, n)) and r["reason"] == "ChainCycle" and r,  # type: ignore[misc]
            what=f"{name} ChainCycle",
        )
        assert cond["status"] == "False"
        assert "ping → pong → ping" in cond["message"] or "pong → ping → pong" in cond["message"]
    finish(k8s, ns, "ping", "ping-1", "succeeded")  # no chain run on a cycle
    patch_spec(k8s, ns, "ping", {"after": None})
    for name in ("ping", "pong"):
        wait_for(lambda n=name: is_ready(k8s, ns, n), what=f"{name} Ready again")  # type: ignore[misc]
    # pong now runs after ping's runs (ping-1 ended while refused: it starts one now,
    # an upstream run after pong's creation) — exactly one per upstream run.
    finish(k8s, ns, "ping", "ping-2", "succeeded")
    wait_for(lambda: len(chain_jobs(k8s, ns, "pong")) == 2, what="pong's runs")
    assert sorted(cause(j)["runId"] for j in chain_jobs(k8s, ns, "pong")) == ["ping-1", "ping-2"]


def test_exactly_once_across_operator_restarts(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    ns = solo_namespace
    k8s.create(service_account("chronos-runner", ns))
    first = start_operator()
    create(k8s, ns, "up", spec())
    create(k8s, ns, "down", chain_only({"job": "up"}, concurrencyPolicy="Allow"))
    wait_for(lambda: is_ready(k8s, ns, "down"), what="down Ready")
    first.stop(signal.SIGKILL)

    # The upstream run ends while no operator runs: the next one starts the run.
    finish(k8s, ns, "up", "up-1", "succeeded")
    second = start_operator()
    [job] = wait_for(lambda: chain_jobs(k8s, ns, "down"), what="the chain run after failover")
    assert job["metadata"]["name"] == expected_name(k8s, ns, "down", ("up", "up-1"))
    # Killed right after the create, before anything else was written: a third operator
    # plans the same run again, and its create is a conflict, not a second run.
    second.stop(signal.SIGKILL)
    start_operator()
    finish(k8s, ns, "up", "up-2", "succeeded")  # a barrier: it has seen up-1 by then
    wait_for(lambda: len(chain_jobs(k8s, ns, "down")) >= 2, what="the run after up-2")
    runs = sorted(cause(j)["runId"] for j in chain_jobs(k8s, ns, "down"))
    assert runs == ["up-1", "up-2"]


def test_a_chain_only_job_through_rest(api: http.Client, k8s: Client, namespace: str) -> None:
    """REST creates a chain-only job (no schedule), shows its chain and a run's cause;
    a job made with kubectl lists too (no schedule was a 500 before)."""
    body = {
        "name": "After only",
        "task_type": "pipeline_start",
        "pipeline_id": "p1",
        "after": [{"job": "extract", "when": "Completed"}, {"job": "stock"}],
        "after_all": True,
        "after_within_seconds": 600,
    }
    created = api.post("/api/jobs", json=body)
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    spec = get_cr(k8s, namespace, job_id)["spec"]
    # (on defaults to Succeeded: the CRD's default, from the model's)
    assert spec["after"] == [
        {"job": "extract", "when": "Completed"},
        {"job": "stock", "when": "Succeeded"},
    ]
    assert (spec["afterAll"], spec["afterWithinSeconds"]) == (True, 600)
    assert "schedule" not in spec
    # The model's rule, named by its request field: a 409, as the document cannot state it
    # (errors.RELATION_RULES).
    bad = api.post("/api/jobs", json={**body, "name": "Bad", "after_all": None})
    assert bad.status_code == 409, bad.text
    assert "after_within_seconds" in bad.text

    create(k8s, namespace, "by-kubectl", chain_only({"job": "extract"}))
    entry = {
        "runId": "by-kubectl-c-1",
        "trigger": "chain",
        "result": "succeeded",
        "endTime": datetime.now(UTC).isoformat(),
        "cause": {"job": "extract", "runId": "extract-1", "result": "succeeded"},
    }
    set_status(k8s, namespace, "by-kubectl", {"history": [entry]})

    def listed() -> bool:
        items = api.get("/api/jobs").json()["items"]
        return {"by-kubectl", job_id} <= {j["id"] for j in items}

    wait_for(listed, what="both chain-only jobs in the list")
    answer = api.get("/api/jobs/by-kubectl")
    assert answer.status_code == 200
    shown = answer.json()
    assert (shown["cron_expression"], shown["schedule"]) == (None, None)
    assert shown["after"] == [{"job": "extract", "when": "Succeeded"}]
    assert shown["after_all"] is False
    history = wait_for(
        lambda: api.get("/api/jobs/by-kubectl/history").json()["items"], what="the history"
    )
    assert history[0]["cause"] == {"job": "extract", "run_id": "extract-1", "result": "succeeded"}


def test_after_names_only_jobs_the_author_can_read(
    k8s: Client, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """Admission (chronos-calendar-references): a chain run records its upstream's runs
    as causes, so spec.after needs the right to get the namespace's ChronosJobs (one
    authorizer check: one per job named ran out of the expression's cost budget)."""
    grant(k8s, namespace, "chainer", ("create", "update", "patch"), role="chainer-writes")
    k8s.create(
        Role(
            metadata=ObjectMeta(name="chainer-reads", namespace=namespace),
            rules=[
                PolicyRule(
                    apiGroups=["chronos.gluesync.io"],
                    resources=["chronosjobs"],
                    resourceNames=["visible"],
                    verbs=["get"],
                )
            ],
        )
    )
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name="chainer-reads", namespace=namespace),
            roleRef=RoleRef(
                apiGroup="rbac.authorization.k8s.io", kind="Role", name="chainer-reads"
            ),
            subjects=[Subject(kind="ServiceAccount", name="chainer", namespace=namespace)],
        )
    )
    user = kube.client(
        token_kubeconfig(cluster, sa_token(k8s, namespace, "chainer"), tmp_path / "chainer")
    )

    def attempt(*upstreams: str) -> str | None:
        body = chain_only(*({"job": u} for u in upstreams))
        job = ChronosJobResource(metadata=ObjectMeta(name="probe", namespace=namespace), spec=body)
        try:
            user.create(job, dry_run=True)
        except ApiError as exc:
            if exc.status.code == 403 and "ValidatingAdmissionPolicy" in str(exc.status.message):
                return str(exc.status.message)
            raise
        return None

    message = wait_for(lambda: attempt("visible", "hidden"), what="the policy enforced")
    who = f"system:serviceaccount:{namespace}:chainer"
    assert (
        f"spec.after: you ({who}) may not get the ChronosJobs of namespace '{namespace}'; "
        "a ChronosJob may only run after ChronosJobs its author can read (get chronosjobs)"
        in message
    )
    assert attempt("visible") is not None  # one job's name is not the namespace's jobs
    grant(k8s, namespace, "chainer", ("get",), role="chainer-gets")
    # Ten upstreams, the most a job may name: within the policy's cost budget.
    wait_for(lambda: attempt(*(f"up-{i}" for i in range(10))) is None, what="the right granted")


def test_the_dashboard_shows_a_chain_only_job_and_its_chain_run(
    editor: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    """Every page of a job without a schedule answers (none assumed one), and a chain
    run's page names its trigger."""
    created = api.post(
        "/api/jobs",
        json={
            "name": "Loader",
            "task_type": "pipeline_start",
            "pipeline_id": "p1",
            "after": [{"job": "extract"}],
        },
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    run = {
        "runId": f"{job_id}-c-1",
        "trigger": "chain",
        "result": "succeeded",
        "endTime": datetime.now(UTC).isoformat(),
        "cause": {"job": "extract", "runId": "extract-1", "result": "succeeded"},
    }
    set_status(k8s, namespace, job_id, {"history": [run]})
    wait_for(lambda: api.get(f"/api/jobs/{job_id}/history").json()["items"], what="the history")
    base = f"/ui/jobs/{namespace}/{job_id}"
    for path in (
        "/ui/",
        f"/ui/jobs?namespace={namespace}",
        base,
        f"{base}/edit",
        f"{base}/runs/{job_id}-c-1",
    ):
        page = editor.client.get(path)
        assert page.status_code == 200, (path, page.status_code)
    assert "chain" in editor.client.get(f"{base}/runs/{job_id}-c-1").text
