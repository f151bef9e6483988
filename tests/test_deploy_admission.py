"""The admission policies the chart and deploy/base ship (docs/architecture.md,
"Admission policies"): their settings agree with the operator's in every rendering, and
the operator's ServiceAccount, with its own token, may write only runner pods."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixtures_api import token_kubeconfig
from lightkube import ApiError, Client, codecs
from support import wait_for
from test_deploy import (
    ALL_VALUES,
    ROOT,
    Helm,
    Release,
    container_env,
    docs,
    find,
    helm,  # noqa: F401 - a fixture
    release,  # noqa: F401 - a fixture
    sa_token,
    values_file,
)

from chronos import kube
from chronos.devcluster.__main__ import admission_policies
from chronos.devcluster.cluster import Cluster
from chronos.models.chronosjob import ChronosJobSpec
from chronos.models.resolve import resolve_schedule
from chronos.operator.cronjob import build_cronjob, run_now_job
from chronos.operator.settings import RUNNER_POD_OVERRIDES, OperatorSettings

pytestmark = pytest.mark.cluster

SECRETS_POLICY = "secret-references"
OPERATOR_POLICY = "operator-writes"


def _policy(objs: list[dict[str, Any]], suffix: str) -> dict[str, Any]:
    found = [
        o
        for o in objs
        if o["kind"] == "ValidatingAdmissionPolicy" and o["metadata"]["name"].endswith(suffix)
    ]
    assert len(found) == 1, [o["metadata"]["name"] for o in found]
    bindings = [
        o
        for o in objs
        if o["kind"] == "ValidatingAdmissionPolicyBinding"
        and o["spec"]["policyName"] == found[0]["metadata"]["name"]
    ]
    assert len(bindings) == 1
    assert bindings[0]["spec"]["validationActions"] == ["Deny"]
    return found[0]


def _variable(policy: dict[str, Any], name: str) -> str:
    (expression,) = [v["expression"] for v in policy["spec"]["variables"] if v["name"] == name]
    value: str = json.loads(expression)  # a CEL string literal, written as JSON
    return value


def policy_settings(objs: list[dict[str, Any]]) -> dict[str, str]:
    """The operator settings the policies carry."""
    secrets, operator = _policy(objs, SECRETS_POLICY), _policy(objs, OPERATOR_POLICY)
    (condition,) = operator["spec"]["matchConditions"]
    prefix = "request.userInfo.username == "
    assert condition["expression"].startswith(prefix)
    return {
        "default secret": _variable(secrets, "defaultSecret"),
        "operator": json.loads(condition["expression"].removeprefix(prefix)),
        "runner image": _variable(operator, "runnerImage"),
        "runner account": _variable(operator, "runnerServiceAccount"),
    }


def operator_settings(objs: list[dict[str, Any]]) -> dict[str, str]:
    """The same settings, as the operator's Deployment has them."""
    (deployment,) = [
        o
        for o in objs
        if o["kind"] == "Deployment"
        and o["spec"]["template"]["spec"]["containers"][0]["name"] == "operator"
    ]
    env = container_env(deployment)
    pod = deployment["spec"]["template"]["spec"]
    return {
        "default secret": env.get("CHRONOS_COREHUB_CREDENTIALS_SECRET", ""),
        "operator": (
            f"system:serviceaccount:{deployment['metadata']['namespace']}:"
            f"{pod['serviceAccountName']}"
        ),
        "runner image": env["CHRONOS_RUNNER_IMAGE"],
        "runner account": env["CHRONOS_RUNNER_SERVICE_ACCOUNT"],
    }


def test_the_policies_carry_the_operators_settings(
    helm: Helm,  # noqa: F811
    cluster: Cluster,
    tmp_path: Path,
) -> None:
    """The chart (defaults and every value set), deploy/base and the example overlay: one
    policy of each kind, bound with Deny, and holding what the operator is configured
    with; the test session's copy differs from deploy/base only in the default Secret."""
    values = {
        **ALL_VALUES,
        "fullnameOverride": "sched",
        "operator": {**ALL_VALUES["operator"], "serviceAccount": {"name": "op"}},
    }
    renderings = {
        "chart defaults": docs(helm.template()),
        "chart values": docs(
            helm.template("-f", values_file(tmp_path, values), namespace="platform")
        ),
        "deploy/base": docs(cluster.kubectl("kustomize", str(ROOT / "deploy" / "base"))),
        "example overlay": docs(
            cluster.kubectl("kustomize", str(ROOT / "deploy" / "overlays" / "example"))
        ),
    }
    for name, objs in renderings.items():
        assert policy_settings(objs) == operator_settings(objs), name
    assert policy_settings(renderings["chart values"]) == {
        "default secret": "corehub",
        "operator": "system:serviceaccount:platform:op",
        "runner image": "chronos-runner:0.1.0",
        "runner account": "sched-runner",
    }
    assert policy_settings(renderings["example overlay"])["default secret"] == (
        "corehub-credentials"
    )
    base = {
        (o["kind"], o["metadata"]["name"]): o["spec"]
        for o in renderings["deploy/base"]
        if o["kind"].startswith("ValidatingAdmission")
    }
    assert len(base) == 4
    assert {(o["kind"], o["metadata"]["name"]): o["spec"] for o in admission_policies()} == base
    session = admission_policies("corehub-credentials")
    assert policy_settings(session)["default secret"] == "corehub-credentials"
    assert {(o["kind"], o["metadata"]["name"]) for o in session} == set(base)


def _operator_client(release: Release, cluster: Cluster, k8s: Client, tmp_path: Path) -> Client:  # noqa: F811
    token = sa_token(k8s, release.namespace, release.sa("operator"))
    return kube.client(token_kubeconfig(cluster, token, tmp_path / "operator.kubeconfig"))


def _runner_cronjob(release: Release, namespace: str) -> dict[str, Any]:  # noqa: F811
    """What the operator builds with the release's settings, and every pod override."""
    env = container_env(find(release.objects, "Deployment", release.sa("operator")))
    settings = OperatorSettings(
        runner_image=env["CHRONOS_RUNNER_IMAGE"],
        runner_service_account=env["CHRONOS_RUNNER_SERVICE_ACCOUNT"],
        corehub_url="http://127.0.0.1:9",
        runner_pod_overrides={
            "imagePullSecrets": [{"name": "registry"}],
            "nodeSelector": {"pool": "batch"},
            "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 1,
                            "preference": {
                                "matchExpressions": [
                                    {"key": "pool", "operator": "In", "values": ["batch"]}
                                ]
                            },
                        }
                    ]
                }
            },
            "priorityClassName": "batch",
            "resources": {"limits": {"cpu": "1", "memory": "128Mi"}},
        },
    )
    assert set(settings.runner_pod_overrides) == RUNNER_POD_OVERRIDES
    spec = ChronosJobSpec.model_validate(
        {
            "task": {"type": "pipeline_start", "pipelineId": "p1"},
            "schedule": {"cron": "0 3 * * *"},
            "timeoutSeconds": 60,
            "coreHub": {
                "url": "https://corehub.example:1717",
                "credentialsSecretRef": {"name": "hub"},
                "tls": {"caSecretRef": {"name": "hub-ca", "key": "ca.crt"}},
            },
        }
    )
    cronjob = build_cronjob(
        name="nightly",
        namespace=namespace,
        uid="00000000-0000-0000-0000-000000000000",
        spec=spec,
        schedule=resolve_schedule(spec, "UTC"),
        settings=settings,
    )
    del cronjob["metadata"]["ownerReferences"]  # (no such ChronosJob: dry runs only)
    return cronjob


def _pod(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


def _refusal(client: Client, obj: dict[str, Any]) -> str | None:
    """The admission policy's message when the (dry-run) create is refused, else None."""
    try:
        client.create(codecs.from_dict(obj), dry_run=True)
    except ApiError as exc:
        if exc.status.code != 403:
            raise
        return str(exc.status.message)
    return None


def _add_volume(kind: str, source: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(pod: dict[str, Any]) -> None:
        pod["volumes"].append({"name": kind, **source})

    return change


FOREIGN: dict[str, Callable[[dict[str, Any]], None]] = {
    "another image": lambda p: p["containers"][0].update(image="busybox:1"),
    "another command": lambda p: p["containers"][0].update(command=["sh", "-c", "id"]),
    "privileged": lambda p: p["containers"][0]["securityContext"].update(
        privileged=True, allowPrivilegeEscalation=True
    ),
    "an added capability": lambda p: p["containers"][0]["securityContext"]["capabilities"].update(
        add=["NET_ADMIN"]
    ),
    "root": lambda p: p["securityContext"].update(runAsNonRoot=False, runAsUser=0),
    "a writable root file system": lambda p: p["containers"][0]["securityContext"].update(
        readOnlyRootFilesystem=False
    ),
    "hostPath": _add_volume("host", {"hostPath": {"path": "/"}}),
    "an emptyDir": _add_volume("scratch", {"emptyDir": {}}),
    "hostNetwork": lambda p: p.update(hostNetwork=True),
    "hostPID": lambda p: p.update(hostPID=True),
    "hostIPC": lambda p: p.update(hostIPC=True),
    "a second container": lambda p: p["containers"].append(
        {"name": "sidecar", "image": "busybox:1"}
    ),
    "an init container": lambda p: p.update(
        initContainers=[{"name": "init", "image": "busybox:1"}]
    ),
    "another ServiceAccount": lambda p: p.update(serviceAccountName="default"),
    "a fixed node": lambda p: p.update(nodeName="somewhere"),
    "envFrom a Secret": lambda p: p["containers"][0].update(
        envFrom=[{"secretRef": {"name": "hub"}}]
    ),
}


def test_the_operator_may_write_only_runner_pods(
    release: Release,  # noqa: F811
    cluster: Cluster,
    k8s: Client,
    tmp_path: Path,
) -> None:
    ns = release.jobs_namespace
    operator = _operator_client(release, cluster, k8s, tmp_path)
    cronjob = _runner_cronjob(release, ns)
    cronjob["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    job = run_now_job(
        cronjob, chronosjob="nightly", token="t1", requested_at="2026-01-01T00:00:00Z"
    )
    del job["metadata"]["ownerReferences"]
    # A policy takes effect once the API server has loaded it, just after the install:
    # wait for the first refusal (only the first; every assertion below is immediate).
    probe = copy.deepcopy(cronjob)
    FOREIGN["another image"](_pod(probe))
    wait_for(lambda: _refusal(operator, probe), 30, "the operator policy to be enforced")
    # What the operator builds, with every kind of runner.podOverrides, passes.
    assert _refusal(operator, cronjob) is None
    assert _refusal(operator, job) is None
    # Anything else does not, for CronJobs and Jobs alike.
    for what, change in FOREIGN.items():
        for obj in (cronjob, job):
            foreign = copy.deepcopy(obj)
            change(_pod(foreign))
            message = _refusal(operator, foreign)
            assert message is not None, f"a {obj['kind']} with {what} was accepted"
            assert f"ValidatingAdmissionPolicy '{release.sa(OPERATOR_POLICY)}'" in message, message
            assert f"the Chronos operator may only write runner {obj['kind']}s: " in message
    # The policy is about the operator's identity only: an admin may write such pods.
    foreign = copy.deepcopy(cronjob)
    FOREIGN["hostPath"](_pod(foreign))
    assert _refusal(k8s, foreign) is None
