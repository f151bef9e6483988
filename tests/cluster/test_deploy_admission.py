"""The admission policies the chart and deploy/base ship (docs/architecture.md,
"Admission policies"): their settings agree with the operator's in every rendering, and
the operator's ServiceAccount, with its own token, may write only runner pods."""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fixtures_api import token_kubeconfig
from fixtures_deploy import (
    ALL_VALUES,
    Helm,
    Release,
    container_env,
    docs,
    find,
    sa_token,
    values_file,
)
from fixtures_operator import COREHUB_SECRET, COREHUB_SETTINGS
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType
from support import ROOT, dry_run_refusal, pod_spec_of, wait_for

from chronos import contract as c
from chronos import kube
from chronos import runnow as rn
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.install import admission_policies
from chronos.kube import ChronosJobResource
from chronos.models import timing
from chronos.models.chronosjob import ChronosJobSpec
from chronos.models.params import RunParameters
from chronos.models.resolve import resolve_schedule
from chronos.operator.cronjob import build_cronjob, run_now_job, with_parameters
from chronos.operator.settings import RUNNER_POD_OVERRIDES, OperatorSettings

pytestmark = pytest.mark.cluster

SECRETS_POLICY = "secret-references"
JOBS_POLICY = "job-limits"
OPERATOR_POLICY = "operator-writes"
#: The settings the operator and the policies share: only in the settings ConfigMap.
SHARED = (
    "CHRONOS_COREHUB_URL",
    "CHRONOS_COREHUB_CREDENTIALS_SECRET",
    "CHRONOS_COREHUB_ALLOWED_HOSTS",
)


def _policy(objs: list[dict[str, Any]], suffix: str) -> dict[str, Any]:
    policy, _ = _policy_and_binding(objs, suffix)
    return policy


def _policy_and_binding(
    objs: list[dict[str, Any]], suffix: str
) -> tuple[dict[str, Any], dict[str, Any]]:
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
    return found[0], bindings[0]


def _variable(policy: dict[str, Any], name: str) -> Any:
    (expression,) = [v["expression"] for v in policy["spec"]["variables"] if v["name"] == name]
    # A CEL literal: a string or number written as JSON, or a list of single-quoted strings.
    return ast.literal_eval(expression) if expression.startswith("[") else json.loads(expression)


def _param(objs: list[dict[str, Any]], suffix: str) -> tuple[str, str]:
    """The ConfigMap a policy reads its parameter from (name, namespace), failing closed."""
    policy, binding = _policy_and_binding(objs, suffix)
    assert policy["spec"]["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
    ref = binding["spec"]["paramRef"]
    assert ref["parameterNotFoundAction"] == "Deny"
    return ref["name"], ref["namespace"]


def policy_settings(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The operator settings the policies carry, or the ConfigMap they read them from."""
    operator = _policy(objs, OPERATOR_POLICY)
    (condition,) = operator["spec"]["matchConditions"]
    prefix = "request.userInfo.username == "
    assert condition["expression"].startswith(prefix)
    assert "paramKind" not in _policy(objs, SECRETS_POLICY)["spec"]  # needs none now
    # The container-pods policy (issue 20) matches the same operator.
    pods = _policy(objs, "container-pods")["spec"]["matchConditions"][0]
    assert pods == condition, (pods, condition)
    # The activity ledger's writer (issue 22, admission-activity.yaml) is the same operator.
    ledger = _variable(_policy(objs, "activity-ledger"), "operator")
    assert condition["expression"] == f"{prefix}{json.dumps(ledger)}", (ledger, condition)
    return {
        "operator": json.loads(condition["expression"].removeprefix(prefix)),
        "runner image": _variable(operator, "runnerImage"),
        "runner account": _variable(operator, "runnerServiceAccount"),
        "settings of job-limits": _param(objs, JOBS_POLICY),
        "settings of operator-writes": _param(objs, OPERATOR_POLICY),
    }


def _operator_deployment(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [
        o
        for o in objs
        if o["kind"] == "Deployment"
        and o["spec"]["template"]["spec"]["containers"][0]["name"] == "operator"
    ]
    return deployment


def operator_settings(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The same settings, as the operator's Deployment has them."""
    deployment = _operator_deployment(objs)
    env = container_env(deployment)
    pod = deployment["spec"]["template"]["spec"]
    namespace = deployment["metadata"]["namespace"]
    (source,) = pod["containers"][0]["envFrom"]
    settings = (source["configMapRef"]["name"], namespace)
    return {
        "operator": f"system:serviceaccount:{namespace}:{pod['serviceAccountName']}",
        "runner image": env["CHRONOS_RUNNER_IMAGE"],
        "runner account": env["CHRONOS_RUNNER_SERVICE_ACCOUNT"],
        "settings of job-limits": settings,
        "settings of operator-writes": settings,
    }


def shared_settings(objs: list[dict[str, Any]]) -> dict[str, str]:
    """The CoreHub settings, which exist once: in the ConfigMap the Deployment and the
    policies read, never as a literal of the Deployment that could disagree."""
    deployment = _operator_deployment(objs)
    literal = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert not literal & set(SHARED), literal & set(SHARED)
    name, namespace = operator_settings(objs)["settings of operator-writes"]
    (configmap,) = [
        o
        for o in objs
        if o["kind"] == "ConfigMap"
        and o["metadata"]["name"] == name
        and o["metadata"]["namespace"] == namespace
    ]
    data: dict[str, str] = configmap["data"]
    assert set(data) == set(SHARED)
    return data


def test_the_policies_read_the_operators_settings(
    helm: Helm,
    cluster: Cluster,
    tmp_path: Path,
) -> None:
    """The chart (defaults and every value set), deploy/base and the example overlay: one
    policy of each kind, bound with Deny, reading the ConfigMap the operator reads (one
    home: an overlay that sets the default Secret or the allowed hosts changes them for
    both at once), or holding what the operator is configured with."""
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
        shared_settings(objs)
    assert policy_settings(renderings["chart values"]) == {
        "operator": "system:serviceaccount:platform:op",
        "runner image": "chronos-runner:0.1.0",
        "runner account": "sched-runner",
        "settings of job-limits": ("sched-operator-settings", "platform"),
        "settings of operator-writes": ("sched-operator-settings", "platform"),
    }
    assert shared_settings(renderings["chart values"]) == {
        "CHRONOS_COREHUB_URL": "https://corehub:1717",
        "CHRONOS_COREHUB_CREDENTIALS_SECRET": "corehub",
        "CHRONOS_COREHUB_ALLOWED_HOSTS": "corehub,*.corp.example",
    }
    overlay = shared_settings(renderings["example overlay"])
    assert overlay["CHRONOS_COREHUB_CREDENTIALS_SECRET"] == "corehub-credentials"
    assert OperatorSettings.from_env(overlay).allowed_hosts == ("corehub.example.com",)
    assert policy_settings(renderings["example overlay"])["settings of job-limits"] == (
        "chronos-operator-settings",
        "chronos-system",
    )
    base = {
        (o["kind"], o["metadata"]["name"]): o.get("spec", o.get("data"))
        for o in renderings["deploy/base"]
        if o["kind"].startswith("ValidatingAdmission")
        or (o["kind"] == "ConfigMap" and o["metadata"]["name"] == "chronos-operator-settings")
    }
    assert len(base) == 19  # nine policies, their bindings, the ConfigMap
    session_objs = admission_policies()
    assert {
        (o["kind"], o["metadata"]["name"]): o.get("spec", o.get("data"))
        for o in session_objs
        if o["kind"] != "Namespace"
    } == base
    session = admission_policies(COREHUB_SETTINGS)
    (data,) = [o["data"] for o in session if o["kind"] == "ConfigMap"]
    assert data["CHRONOS_COREHUB_CREDENTIALS_SECRET"] == COREHUB_SECRET


def test_the_policies_hold_chronos_constants(helm: Helm) -> None:
    """What the policies spell out in CEL is what the Python code uses: the run-now limits
    (chronos.runnow) and the runner's environment (what cronjob.py writes, in every
    variant)."""
    objs = docs(helm.template())
    jobs = _policy(objs, JOBS_POLICY)
    assert _variable(jobs, "pendingMax") == rn.PENDING_MAX
    assert _variable(jobs, "pendingMaxBytes") == rn.PENDING_MAX_BYTES
    assert _variable(jobs, "pendingPattern") == rn.PENDING_PATTERN
    assert _variable(jobs, "tokenPattern") == rn.TOKEN_PATTERN
    assert _variable(jobs, "handSetPattern") == rn.HAND_SET_PATTERN
    assert _variable(jobs, "handSetMaxBytes") == rn.HAND_SET_MAX_BYTES
    assert _variable(jobs, "parametersMaxBytes") == rn.PARAMETERS_ANNOTATION_MAX_BYTES
    assert _variable(jobs, "backfillMax") == timing.MAX_BACKFILL_REQUESTS
    assert _variable(jobs, "backfillMaxBytes") == timing.MAX_BACKFILL_ANNOTATION_BYTES
    assert _variable(jobs, "backfillPattern") == timing.BACKFILL_ANNOTATION_PATTERN
    operator = _policy(objs, OPERATOR_POLICY)
    names: set[str] = set()
    for hub in (
        None,
        {
            "url": "https://h:1",
            "credentialsSecretRef": {"name": "s"},
            "tls": {"insecureSkipVerify": True},
        },
        {
            "url": "https://h:1",
            "credentialsSecretRef": {"name": "s"},
            "tls": {"caSecretRef": {"name": "c", "key": "k"}},
        },
    ):
        spec = ChronosJobSpec.model_validate(
            {
                "task": {"type": "pipeline_start", "pipelineId": "p1"},
                "schedule": {"cron": "0 3 * * *"},
                "timeoutSeconds": 60,
                "jitterSeconds": 30,
                **({"coreHub": hub} if hub else {}),
            }
        )
        built = build_cronjob(
            name="n",
            namespace="ns",
            uid="u",
            spec=spec,
            schedule=resolve_schedule(spec, "UTC"),
            settings=OperatorSettings(corehub_url="https://d:1", corehub_credentials_secret="d"),
        )
        names |= {e["name"] for e in pod_spec_of(built)["containers"][0]["env"]}
        # A run-now with parameters adds CHRONOS_PARAMETERS to its Job's runner.
        job = with_parameters(
            run_now_job(
                {**built, "metadata": {**built["metadata"], "uid": "u"}},
                chronosjob="n",
                token="t",
                requested_at="x",
            ),
            RunParameters(as_of=datetime(2026, 1, 1, tzinfo=UTC)),
        )
        names |= {e["name"] for e in pod_spec_of(job)["containers"][0]["env"]}
    assert c.ENV_PARAMETERS in names
    assert set(_variable(operator, "envNames")) == names
    assert set(_variable(operator, "credentialEnv")) == {
        c.ENV_COREHUB_USERNAME,
        c.ENV_COREHUB_PASSWORD,
    }


def _operator_client(release: Release, cluster: Cluster, k8s: Client, tmp_path: Path) -> Client:
    token = sa_token(k8s, release.namespace, release.sa("operator"))
    return kube.client(token_kubeconfig(cluster, token, tmp_path / "operator.kubeconfig"))


def _runner_cronjob(release: Release, namespace: str) -> dict[str, Any]:
    """What the operator builds with the release's settings, and every pod override."""
    env = container_env(
        find(release.objects, "Deployment", release.sa("operator")), release.objects
    )
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
    # The runner's environment (issue 17, F9): its own CHRONOS_* names only, and a Secret
    # only for the CoreHub username and password, both from one Secret.
    "an unknown variable": lambda p: p["containers"][0]["env"].append(
        {"name": "LD_PRELOAD", "value": "/tmp/x.so"}
    ),
    "a Secret in another variable": lambda p: p["containers"][0]["env"].append(
        {"name": "CHRONOS_TASK", "valueFrom": {"secretKeyRef": {"name": "other", "key": "k"}}}
    ),
    "a second Secret": lambda p: _env(p, c.ENV_COREHUB_PASSWORD)["valueFrom"][
        "secretKeyRef"
    ].update(name="other"),
    "a ConfigMap variable": lambda p: _env(p, c.ENV_COREHUB_URL).update(
        value=None, valueFrom={"configMapKeyRef": {"name": "cm", "key": "url"}}
    ),
}


def _env(pod: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [e for e in pod["containers"][0]["env"] if e["name"] == name]
    env: dict[str, Any] = found
    return env


def test_the_operator_may_write_only_runner_pods(
    release: Release,
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
    FOREIGN["another image"](pod_spec_of(probe))
    wait_for(lambda: dry_run_refusal(operator, probe), 30, "the operator policy to be enforced")
    # What the operator builds, with every kind of runner.podOverrides, passes.
    assert dry_run_refusal(operator, cronjob) is None
    assert dry_run_refusal(operator, job) is None
    # Anything else does not, for CronJobs and Jobs alike.
    for what, change in FOREIGN.items():
        for obj in (cronjob, job):
            foreign = copy.deepcopy(obj)
            change(pod_spec_of(foreign))
            message = dry_run_refusal(operator, foreign)
            assert message is not None, f"a {obj['kind']} with {what} was accepted"
            assert f"ValidatingAdmissionPolicy '{release.sa(OPERATOR_POLICY)}'" in message, message
            assert f"the Chronos operator may only write runner {obj['kind']}s: " in message
    # The policy is about the operator's identity only: an admin may write such pods.
    foreign = copy.deepcopy(cronjob)
    FOREIGN["hostPath"](pod_spec_of(foreign))
    assert dry_run_refusal(k8s, foreign) is None


def _set_url_and_secret(obj: dict[str, Any], url: str, secret: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    pod = pod_spec_of(obj)
    _env(pod, c.ENV_COREHUB_URL)["value"] = url
    for name in (c.ENV_COREHUB_USERNAME, c.ENV_COREHUB_PASSWORD):
        _env(pod, name)["valueFrom"]["secretKeyRef"]["name"] = secret
    pod["containers"][0]["env"] = [
        e for e in pod["containers"][0]["env"] if e["name"] != c.ENV_COREHUB_CA_FILE
    ]
    pod["containers"][0].pop("volumeMounts", None)
    pod.pop("volumes", None)
    return obj


def test_the_operator_writes_follow_its_settings_even_when_set_later(
    release: Release,
    cluster: Cluster,
    k8s: Client,
    tmp_path: Path,
) -> None:
    """Issue 17, F2/F9/F10: the release starts without a default Secret; an administrator
    sets one, a default URL and an allow-list in the settings ConfigMap later. The policy
    reads them live: from then on the operator may send the default Secret nowhere but the
    default URL (without its own TLS), and runners only to allowed hosts."""
    ns = release.jobs_namespace
    operator = _operator_client(release, cluster, k8s, tmp_path)
    base = _runner_cronjob(release, ns)
    default, other = "https://corehub.example:1717", "https://attacker.example:1717"
    to_attacker = _set_url_and_secret(base, other, "platform-default")
    assert dry_run_refusal(operator, to_attacker) is None  # no default Secret, no allow-list yet
    name = release.sa("operator-settings")
    configmaps = [
        o for o in release.objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name
    ]
    assert len(configmaps) == 1, name
    configmap = configmaps[0]
    later = {
        "CHRONOS_COREHUB_URL": default,
        "CHRONOS_COREHUB_CREDENTIALS_SECRET": "platform-default",
        "CHRONOS_COREHUB_ALLOWED_HOSTS": "*.example",
    }
    patch = {"data": later}
    k8s.patch(ConfigMap, name, patch, namespace=release.namespace, patch_type=PatchType.MERGE)
    try:
        message = wait_for(
            lambda: dry_run_refusal(operator, to_attacker),
            30,
            "the policy to read the new settings",
        )
        assert "the default one ('platform-default') only with the default CoreHub URL" in message
        # The default Secret with the default URL: fine; with its own TLS: not.
        assert (
            dry_run_refusal(operator, _set_url_and_secret(base, default, "platform-default"))
            is None
        )
        insecure = _set_url_and_secret(base, default, "platform-default")
        pod_spec_of(insecure)["containers"][0]["env"].append(
            {"name": c.ENV_COREHUB_INSECURE_SKIP_VERIFY, "value": "true"}
        )
        assert dry_run_refusal(operator, insecure) is not None
        # Another Secret may go to another allowed host, not outside the allow-list.
        assert dry_run_refusal(operator, _set_url_and_secret(base, other, "team-secret")) is None
        outside = _set_url_and_secret(base, "http://169.254.169.254", "team-secret")
        refused = dry_run_refusal(operator, outside)
        assert refused is not None
        assert "CoreHub host '169.254.169.254' is not allowed (*.example)" in refused
        # A ChronosJob naming a host outside the list is refused on write, for anyone.
        body: dict[str, Any] = {
            "task": {"type": "pipeline_start", "pipelineId": "p1"},
            "schedule": {"cron": "0 3 * * *"},
            "coreHub": {"url": "http://169.254.169.254", "credentialsSecretRef": {"name": "s"}},
        }
        with pytest.raises(ApiError) as info:
            k8s.create(
                ChronosJobResource(metadata=ObjectMeta(name="ssrf", namespace=ns), spec=body),
                dry_run=True,
            )
        assert info.value.status.code == 403
        assert "spec.coreHub.url: host '169.254.169.254' is not among the CoreHub hosts" in str(
            info.value.status.message
        )
        body["coreHub"]["url"] = "https://hub.corp.example"
        k8s.create(
            ChronosJobResource(metadata=ObjectMeta(name="fine", namespace=ns), spec=body),
            dry_run=True,
        )
    finally:
        k8s.patch(
            ConfigMap,
            name,
            {"data": configmap["data"]},
            namespace=release.namespace,
            patch_type=PatchType.MERGE,
        )
