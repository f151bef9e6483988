"""Packaging for users: the Helm chart (charts/chronos) and the kustomize base and overlay
(deploy/base, deploy/overlays/example), checked with helm (built from its Go module, see
dev/chronos/devcluster/helm) and against the real control plane: lint, server-side dry-run, a real
``helm install`` whose ServiceAccounts are then used, with their own tokens, to prove the
RBAC (and the real operator reconciling under the operator's ServiceAccount), and no drift
between the chart and kustomize."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures_api import token_kubeconfig
from fixtures_deploy import (
    ALL_VALUES,
    CHART,
    Helm,
    Release,
    container_env,
    docs,
    find,
    sa_token,
    values_file,
)
from fixtures_operator import SOLO_PREFIX
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace, Secret
from lightkube.types import PatchType
from receivers import WebhookReceiver
from support import ROOT, wait_for

from chronos import contract as c
from chronos.api.settings import ApiSettings
from chronos.devcluster import system
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.operator_process import OperatorProcess
from chronos.kube import ChronosJobResource
from chronos.models.activity import LEDGER_CONFIGMAP, LEDGER_KEY, Kind, parse_ledger
from chronos.models.chronosjob import GROUP, VERSION
from chronos.models.figures import ReplicaFigures, figures_config_map, parse_figures
from chronos.operator.kubeio import ChronosChannelResource
from chronos.operator.settings import OperatorSettings
from chronos.settings import ComponentSettings
from chronos.times import rfc3339

# Every test here needs helm (built with Go) or the control plane, most both.
pytestmark = pytest.mark.cluster

CRD = ROOT / "deploy" / "crd" / "chronosjobs.yaml"
CALENDAR_CRD = ROOT / "deploy" / "crd" / "chronoscalendars.yaml"
CHANNEL_CRD = ROOT / "deploy" / "crd" / "chronoschannels.yaml"
RBAC_KINDS = ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding")
#: Cluster-scoped kinds kustomize (v5.6) does not know as such: it gives them the
#: kustomization's namespace, which the API server ignores.
ADMISSION_KINDS = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")


# ------------------------------------------------------------------ helpers


def env_names(deployment: dict[str, Any], objs: list[dict[str, Any]] | None = None) -> set[str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"] for e in container.get("env") or []} | set(container_env(deployment, objs))


def server_of(cluster: Cluster) -> str:
    server: str = json.loads(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    return server


def as_token(cluster: Cluster, token: str, *args: str, input: str | None = None) -> tuple[int, str]:
    """kubectl with nothing but ``token`` (no admin kubeconfig): exit code and output."""
    cmd = [
        str(cluster.bin_dir / "kubectl"),
        "--kubeconfig=/dev/null",
        f"--server={server_of(cluster)}",
        "--insecure-skip-tls-verify",
        f"--token={token}",
        *args,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, input=input, check=False)
    return result.returncode, result.stdout + result.stderr


def can_i(cluster: Cluster, token: str, verb: str, resource: str, *args: str) -> bool:
    code, out = as_token(cluster, token, "auth", "can-i", verb, resource, *args)
    answer = out.strip().splitlines()[0] if out.strip() else ""
    assert answer in ("yes", "no"), f"can-i {verb} {resource} {args}: {out}"
    assert (code == 0) == (answer == "yes")
    return answer == "yes"


def apply_server_side(cluster: Cluster, objs: list[dict[str, Any]], *flags: str) -> str:
    return cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=chronos-deploy-test",
        *flags,
        "-f",
        "-",
        input=yaml.safe_dump_all(objs),
    )


# ------------------------------------------------------------------ sources and lint


def test_chart_and_kustomize_carry_the_generated_crd(cluster: Cluster) -> None:
    paths = (CRD, CALENDAR_CRD, CHANNEL_CRD)
    generated = [path.read_text() for path in paths]
    # Helm only packages files inside the chart, so the chart holds a copy.
    for path, text in zip(paths, generated, strict=True):
        assert (CHART / "crds" / path.name).read_text() == text, "run: make crd"
    rendered = docs(cluster.kubectl("kustomize", str(ROOT / "deploy" / "base")))
    crds = [o for o in rendered if o["kind"] == "CustomResourceDefinition"]
    key = lambda o: o["metadata"]["name"]  # noqa: E731
    assert sorted(crds, key=key) == sorted((yaml.safe_load(t) for t in generated), key=key)


def test_chart_runner_role_is_the_shipped_runner_role(helm: Helm) -> None:
    shipped = yaml.safe_load((ROOT / "deploy" / "rbac" / "runner.yaml").read_text())
    rendered = find(docs(helm.template()), "ClusterRole", "chronos-runner")
    assert rendered["rules"] == shipped["rules"]


def test_helm_lint(helm: Helm, tmp_path: Path) -> None:
    out = helm.run("lint", "--strict", str(CHART)).stdout
    assert "0 chart(s) failed" in out
    out = helm.run("lint", "--strict", str(CHART), "-f", values_file(tmp_path, ALL_VALUES)).stdout
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize(
    ("flag", "where"),
    [
        ("operator.replicaCount=two", "/operator/replicaCount"),
        ("operator.replicaCount=0", "/operator/replicaCount"),
        ("operator.historyLimit=101", "/operator/historyLimit"),
        ("operator.leaderElection.leaseDurationSeconds=0", "/operator/leaderElection"),
        ("operator.coreHub.url=corehub:1717", "/operator/coreHub/url"),
        ("operator.replicas=2", "/operator"),  # unknown key: a typo never passes silently
        ("runner.image.pullPolicy=Sometimes", "/runner/image/pullPolicy"),
        ("runner.namespaces={Team_A}", "/runner/namespaces/0"),
        ("api.port=70000", "/api/port"),
        ("api.drainSeconds=30", "/api/drainSeconds"),  # past the 30 s grace period
        ("api.authDisabled=maybe", "/api/authDisabled"),
        ("api.service.type=Ingress", "/api/service/type"),
        ("api.service.nodePort=8088", "/api/service/nodePort"),  # outside 30000-32767
        ("runner.podOverrides.hostNetwork=true", "/runner/podOverrides"),
        ("defaultTimeZone=Not a zone", "/defaultTimeZone"),
    ],
)
def test_values_schema_rejects_bad_values(helm: Helm, flag: str, where: str) -> None:
    args = ("--set-string", flag) if flag.endswith("=maybe") else ("--set", flag)
    result = helm.run("template", "x", str(CHART), *args, check=False)
    assert result.returncode != 0, f"{flag} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert where in result.stderr, result.stderr


def test_defaults_render(helm: Helm) -> None:
    objs = docs(helm.template())
    operator = find(objs, "Deployment", "chronos-operator")
    assert operator["spec"]["replicas"] == 2
    pod = operator["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = pod["containers"][0]["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["allowPrivilegeEscalation"] is False
    assert pod["containers"][0]["image"] == "chronos-operator:0.1.0"
    assert pod["containers"][0]["command"] == ["python", "-m", "chronos.operator"]
    api = find(objs, "Deployment", "chronos-api")
    assert api["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "python",
        "-m",
        "chronos.api",
    ]
    # Highly available by default: two replicas of each, spread over nodes where there are
    # several (ScheduleAnyway: one node still takes both), and a PodDisruptionBudget.
    assert api["spec"]["replicas"] == 2
    # A stopping replica keeps serving while the Service stops routing to it.
    api_container = api["spec"]["template"]["spec"]["containers"][0]
    assert api_container["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    undrained = find(
        docs(helm.template("--set", "api.drainSeconds=0")), "Deployment", "chronos-api"
    )
    assert "lifecycle" not in undrained["spec"]["template"]["spec"]["containers"][0]
    for name, component in (("chronos-operator", "operator"), ("chronos-api", "api")):
        spread = find(objs, "Deployment", name)["spec"]["template"]["spec"][
            "topologySpreadConstraints"
        ]
        assert [(t["topologyKey"], t["whenUnsatisfiable"]) for t in spread] == [
            ("kubernetes.io/hostname", "ScheduleAnyway")
        ]
        assert spread[0]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == component
        # Service links would put CHRONOS_*_SERVICE_HOST & co. (unknown settings) in the env.
        assert (
            find(objs, "Deployment", name)["spec"]["template"]["spec"]["enableServiceLinks"]
            is False
        )
        pdb = find(objs, "PodDisruptionBudget", name)
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == component
    assert container_env(operator)["CHRONOS_RUNNER_IMAGE"] == "chronos-runner:0.1.0"
    # The dashboard's session key: a random one in a Secret of the chart, read by every
    # API replica (the same key each, so a session works on any replica).
    session = find(objs, "Secret", "chronos-api-session")
    assert len(base64.b64decode(session["data"]["session-key"])) == 48
    (ref,) = [
        e["valueFrom"]["secretKeyRef"]
        for e in api["spec"]["template"]["spec"]["containers"][0]["env"]
        if e["name"] == "CHRONOS_API_SESSION_KEY"
    ]
    assert (ref["name"], ref["key"]) == ("chronos-api-session", "session-key")
    assert not [o for o in objs if o["kind"] == "ServiceMonitor"]
    # The Lease namespace is left to the operator (its pod's namespace, from the SA mount).
    assert "CHRONOS_LEASE_NAMESPACE" not in container_env(operator)
    assert find(objs, "Role", "chronos-operator-leader-election")["metadata"]["namespace"] == (
        "chronos"
    )
    hooks = [o for o in objs if (o["metadata"].get("annotations") or {}).get("helm.sh/hook")]
    assert [(o["kind"], o["metadata"]["annotations"]["helm.sh/hook"]) for o in hooks] == [
        ("Pod", "test")
    ]
    # The one Secret right of the chart: the operator's get, for ChronosChannels' Secrets
    # (issue 21); no list or watch, and no other role holds any.
    secret_rules = [
        (o["kind"], o["metadata"]["name"], rule["verbs"])
        for o in objs
        if o["kind"] in ("ClusterRole", "Role")
        for rule in o["rules"]
        if "secrets" in rule.get("resources", [])
    ]
    assert secret_rules == [("ClusterRole", "chronos-operator", ["get"])]


def test_api_metrics_port_is_apart_and_sessions_are_safe_by_default(helm: Helm) -> None:
    """The Service users reach has no metrics port (cluster-wide job counts), the
    ServiceMonitor scrapes the API's metrics Service; the cookie is Secure even behind a
    TLS-terminating proxy; sign-outs go to a ConfigMap only the facade may patch."""
    objs = docs(helm.template("--set", "serviceMonitor.enabled=true"))
    api = find(objs, "Deployment", "chronos-api")
    container = api["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080, "http-metrics": 9090}
    public = find(objs, "Service", "chronos-api")["spec"]["ports"]
    assert [p["targetPort"] for p in public] == ["http"]
    metrics = find(objs, "Service", "chronos-api-metrics")["spec"]["ports"]
    assert [(p["name"], p["targetPort"]) for p in metrics] == [("http-metrics", "http-metrics")]
    monitor = find(objs, "ServiceMonitor", "chronos-api")["spec"]
    assert monitor["endpoints"][0]["port"] == "http-metrics"
    env = container_env(api)
    assert env["CHRONOS_API_METRICS_PORT"] == "9090"
    assert env["CHRONOS_API_COOKIE_SECURE"] == "always"
    assert env["CHRONOS_API_SIGN_OUT_CONFIG_MAP"] == "chronos-api-sign-outs"
    assert "data" not in find(objs, "ConfigMap", "chronos-api-sign-outs")
    (rule,) = find(objs, "Role", "chronos-api-sign-outs")["rules"]
    assert rule["resourceNames"] == ["chronos-api-sign-outs"]
    assert "create" not in rule["verbs"]
    plain = find(
        docs(helm.template("--set", "api.dashboard.plainHttp=true")), "Deployment", "chronos-api"
    )
    assert container_env(plain)["CHRONOS_API_COOKIE_SECURE"] == "auto"


def test_make_up_marks_the_deployments_pods_with_their_image(helm: Helm, tmp_path: Path) -> None:
    """`make up`'s values (devcluster.system) put the operator image's ID on the pods of
    both Deployments, so a rebuilt image (same tag) replaces the pods a restarted kubelet
    brought back from the old one; the fake CoreHub's values are kept."""
    values = system.chart_values("http://192.0.2.2:1717", system.image_values("sha256:abc"))
    objs = docs(helm.template("-f", values_file(tmp_path, values)))
    for name in ("chronos-operator", "chronos-api"):
        template = find(objs, "Deployment", name)["spec"]["template"]
        assert template["metadata"]["annotations"][system.IMAGE_ID_ANNOTATION] == "sha256:abc"
        assert template["spec"]["containers"][0]["imagePullPolicy"] == "Never"
    operator = find(objs, "Deployment", "chronos-operator")
    assert container_env(operator, objs)["CHRONOS_COREHUB_URL"] == "http://192.0.2.2:1717"


def test_every_setting_is_a_value_and_the_rendered_env_is_valid(
    helm: Helm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each CHRONOS_* setting of the operator and the API can be set from values, and what
    the chart renders is accepted by the components' own settings classes."""
    for values in ({}, ALL_VALUES):
        objs = docs(helm.template("-f", values_file(tmp_path, values)))
        for name, settings in (
            ("chronos-operator", OperatorSettings),
            ("chronos-api", ApiSettings),
        ):
            deployment = find(objs, "Deployment", name)
            env = container_env(deployment, objs)
            if values:
                assert env_names(deployment, objs) == settings.known_names(), name
            with monkeypatch.context() as m:
                for key in [k for k in os.environ if k.startswith("CHRONOS_")]:
                    m.delenv(key)
                for key, value in env.items():
                    m.setenv(key, value)
                parsed: ComponentSettings = settings.from_env()
            if values and isinstance(parsed, OperatorSettings):
                assert parsed.namespaces == "team-*,!team-sandbox"
                assert parsed.lease_namespace == "chronos-leases"
                assert parsed.runner_image_pull_policy == "Always"
            if values and isinstance(parsed, ApiSettings):
                assert parsed.api_token_cache_seconds == 15
                assert parsed.api_kubeconfig is not None
                assert parsed.api_session_seconds == 3600
                assert parsed.api_metrics_port == 9191
                assert parsed.api_max_body_bytes == 2097152
                assert (parsed.api_max_streams_per_user, parsed.api_max_streams) == (4, 50)
                assert parsed.api_kube_connections == 30
                assert parsed.api_kube_pool_wait_seconds == 2.5
                assert parsed.api_cookie_secure == "auto"  # plainHttp
        if values:
            # The Lease Role follows the Lease; the runner is bound in each listed namespace.
            role = find(objs, "Role", "chronos-operator-leader-election")
            assert role["metadata"]["namespace"] == "chronos-leases"
            assert role["rules"][1]["resourceNames"] == ["chronos-leader"]
            runner = sorted(
                o["metadata"]["namespace"]
                for o in objs
                if o["kind"] == "RoleBinding" and o["roleRef"]["name"] == "chronos-runner"
            )
            assert runner == ["team-a", "team-b"]
            monitors = [o for o in objs if o["kind"] == "ServiceMonitor"]
            assert [m["spec"]["endpoints"][0]["port"] for m in monitors] == [
                "http-metrics",
                "http-metrics",
            ]


# ------------------------------------------------------------------ chart vs kustomize


def comparable(objs: list[dict[str, Any]]) -> dict[tuple[str, str, str], Any]:
    """What must not drift: kinds, names, namespaces, RBAC rules and bindings, workload
    and Service specs, admission policies. Labels, annotations and Helm's test hook are
    left out."""
    out: dict[tuple[str, str, str], Any] = {}
    for o in objs:
        meta = o["metadata"]
        if (meta.get("annotations") or {}).get("helm.sh/hook") or o["kind"] == "Namespace":
            continue
        if o["kind"] == "Secret":
            # The chart generates the dashboard's session key; kustomize users create
            # that Secret themselves (docs/install.md): a base cannot hold a random key.
            continue
        namespace = "" if o["kind"] in ADMISSION_KINDS else meta.get("namespace", "")
        key = (o["kind"], namespace, meta["name"])
        if o["kind"] in ("ClusterRole", "Role"):
            out[key] = o["rules"]
        elif o["kind"] in ("ClusterRoleBinding", "RoleBinding"):
            out[key] = {"roleRef": o["roleRef"], "subjects": o["subjects"]}
        elif o["kind"] == "Deployment":
            spec = dict(o["spec"])
            spec["template"] = {"spec": o["spec"]["template"]["spec"]}
            out[key] = spec
        elif o["kind"] == "ConfigMap":
            out[key] = o.get("data")
        elif o["kind"] in (
            "Service",
            "PodDisruptionBudget",
            "CustomResourceDefinition",
            *ADMISSION_KINDS,
        ):
            out[key] = o["spec"]
        else:
            out[key] = None
    return out


def test_chart_and_kustomize_base_do_not_drift(helm: Helm, cluster: Cluster) -> None:
    chart = comparable(docs(helm.template("--include-crds")))
    base_objs = docs(cluster.kubectl("kustomize", str(ROOT / "deploy" / "base")))
    base = comparable(base_objs)
    assert sorted(chart) == sorted(base)
    for key, value in chart.items():
        assert base[key] == value, f"{key} differs between the chart and deploy/base"
    assert [o["metadata"]["name"] for o in base_objs if o["kind"] == "Namespace"] == ["chronos"]


# ------------------------------------------------------------------ against the API server


def test_helm_template_passes_server_side_dry_run(
    helm: Helm, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    release = f"dry-{uuid.uuid4().hex[:6]}"
    values = {**ALL_VALUES, "serviceMonitor": {"enabled": False}}
    values["runner"] = {"namespaces": [namespace]}
    values["operator"] = {**ALL_VALUES["operator"]}
    values["operator"]["leaderElection"] = {
        **ALL_VALUES["operator"]["leaderElection"],
        "leaseNamespace": namespace,
    }
    for args in ((), ("--include-crds", "-f", values_file(tmp_path, values))):
        objs = docs(helm.template(*args, release=release, namespace=namespace))
        out = apply_server_side(cluster, objs, "--dry-run=server")
        assert out.count("serverside-applied (server dry run)") == len(objs), out


def test_helm_install_creates_uniquely_named_objects(
    release: Release, cluster: Cluster, helm: Helm
) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in release.objects}
    prefix = release.sa("")
    for kind in ("ClusterRole", "ClusterRoleBinding"):
        names = sorted(n for k, n in kinds if k == kind)
        assert names == [f"{prefix}api", f"{prefix}operator"] + (
            [f"{prefix}runner"] if kind == "ClusterRole" else []
        ), names
    for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
        names = sorted(n for k, n in kinds if k == kind)
        assert names == [
            f"{prefix}activity-ledger",
            f"{prefix}calendar-references",
            f"{prefix}change-attribution",
            f"{prefix}channel-references",
            f"{prefix}container-pods",
            f"{prefix}container-tasks",
            f"{prefix}job-limits",
            f"{prefix}operator-writes",
            f"{prefix}secret-references",
        ], names
    for o in release.objects:  # each object exists on the server
        ns = ["-n", o["metadata"]["namespace"]] if "namespace" in o["metadata"] else []
        cluster.kubectl("get", f"{o['kind']}/{o['metadata']['name']}", *ns)
    status = helm.run(
        "status", release.name, "-n", release.namespace, kubeconfig=cluster.kubeconfig
    ).stdout
    assert "STATUS: deployed" in status
    assert f"exist in: {release.namespace}, {release.jobs_namespace}" in status  # NOTES


def test_operator_service_account_rbac(release: Release, cluster: Cluster, k8s: Client) -> None:
    token = sa_token(k8s, release.namespace, release.sa("operator"))
    ns = ["-n", release.other_namespace]  # cluster-wide: any namespace
    for verb in ("create", "patch", "update", "delete", "get", "list", "watch"):
        assert can_i(cluster, token, verb, "cronjobs.batch", *ns), verb
    assert can_i(cluster, token, "patch", "cronjobs.batch", "--subresource=status", *ns)
    assert can_i(cluster, token, "patch", "chronosjobs.chronos.gluesync.io", *ns)
    assert can_i(
        cluster, token, "patch", "chronosjobs.chronos.gluesync.io", "--subresource=status", *ns
    )
    assert can_i(cluster, token, "create", "jobs.batch", *ns)
    assert can_i(cluster, token, "delete", "jobs.batch", *ns)  # run now under Replace
    assert can_i(cluster, token, "create", "events", *ns)
    assert can_i(cluster, token, "create", "events.events.k8s.io", *ns)
    # Namespaces: only whether one is being deleted; no CRDs (Kopf needed both watched).
    assert can_i(cluster, token, "get", "namespaces")
    assert not can_i(cluster, token, "list", "namespaces")
    assert not can_i(cluster, token, "watch", "customresourcedefinitions.apiextensions.k8s.io")
    # Secrets: get only, for a ChronosChannel's (issue 21): by name, never listed.
    assert can_i(cluster, token, "get", "secrets", *ns)
    for verb in ("list", "watch", "create", "update", "patch", "delete"):
        assert not can_i(cluster, token, verb, "secrets", *ns), verb
        assert not can_i(cluster, token, verb, "secrets", "-n", release.namespace), verb
    for verb in ("get", "list", "watch"):
        assert can_i(cluster, token, verb, "chronoschannels.chronos.gluesync.io", *ns), verb
    assert can_i(
        cluster, token, "patch", "chronoschannels.chronos.gluesync.io", "--subresource=status", *ns
    )
    for verb in ("create", "patch", "delete"):
        assert not can_i(cluster, token, verb, "chronoschannels.chronos.gluesync.io", *ns), verb
    assert not can_i(cluster, token, "delete", "chronosjobs.chronos.gluesync.io", *ns)
    assert not can_i(cluster, token, "create", "chronosjobs.chronos.gluesync.io", *ns)
    assert not can_i(cluster, token, "create", "pods", *ns)
    # Leases: only its own, only in its namespace.
    lease = release.sa("operator")
    assert can_i(cluster, token, "create", "leases.coordination.k8s.io", "-n", release.namespace)
    assert can_i(
        cluster, token, "update", f"leases.coordination.k8s.io/{lease}", "-n", release.namespace
    )
    assert not can_i(
        cluster, token, "update", "leases.coordination.k8s.io/other", "-n", release.namespace
    )
    assert not can_i(cluster, token, "create", "leases.coordination.k8s.io", *ns)
    # And for real: listing Secrets is refused.
    code, out = as_token(cluster, token, "get", "secrets", "-n", release.namespace)
    assert code != 0
    assert "forbidden" in out


def test_runner_service_account_rbac(release: Release, cluster: Cluster, k8s: Client) -> None:
    runner = release.sa("runner")
    for home in (release.namespace, release.jobs_namespace):
        token = sa_token(k8s, home, runner)
        cj = "chronosjobs.chronos.gluesync.io"
        assert can_i(cluster, token, "get", cj, "-n", home)
        assert can_i(cluster, token, "patch", cj, "--subresource=status", "-n", home)
        assert not can_i(cluster, token, "list", cj, "-n", home)
        assert not can_i(cluster, token, "patch", cj, "-n", home)
        assert not can_i(cluster, token, "delete", cj, "-n", home)
        assert not can_i(cluster, token, "get", "secrets", "-n", home)
        assert not can_i(cluster, token, "create", "jobs.batch", "-n", home)
        assert not can_i(cluster, token, "create", "cronjobs.batch", "-n", home)
        for elsewhere in (release.other_namespace, "default"):
            assert not can_i(cluster, token, "get", cj, "-n", elsewhere)
            assert not can_i(cluster, token, "patch", cj, "--subresource=status", "-n", elsewhere)
    # No runner ServiceAccount where no runner namespace was asked for.
    assert not [
        o
        for o in release.objects
        if o["kind"] == "ServiceAccount" and o["metadata"]["namespace"] == release.other_namespace
    ]

    # For real, in the jobs namespace: read a ChronosJob, write its status, nothing more.
    ns = release.jobs_namespace
    k8s.create(ChronosJobResource(metadata=ObjectMeta(name="orders", namespace=ns), spec=SPEC))
    code, out = as_token(cluster, token, "get", "chronosjob", "orders", "-n", ns, "-o", "name")
    assert code == 0, out
    code, out = as_token(
        cluster,
        token,
        "patch",
        "chronosjob",
        "orders",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"observedGeneration": 1}}),
    )
    assert code == 0, out
    code, out = as_token(cluster, token, "get", "secrets", "-n", ns)
    assert code != 0
    assert "forbidden" in out


def test_api_service_account_rbac(release: Release, cluster: Cluster, k8s: Client) -> None:
    """The facade's ServiceAccount lists and watches ChronosJobs (its cache), nothing
    more: callers' requests carry their own tokens, so it needs no right to act for
    anyone, and whoever steals its token cannot impersonate, write or review tokens."""
    token = sa_token(k8s, release.namespace, release.sa("api"))
    cj = "chronosjobs.chronos.gluesync.io"
    assert can_i(cluster, token, "list", cj, "-A")
    assert can_i(cluster, token, "watch", cj, "-A")
    for kind in ("users", "groups", "serviceaccounts", "uids", "userextras/scopes"):
        assert not can_i(cluster, token, "impersonate", kind), kind
    assert not can_i(cluster, token, "impersonate", "groups/system:masters")
    assert not can_i(cluster, token, "create", "tokenreviews.authentication.k8s.io")
    assert not can_i(cluster, token, "create", "subjectaccessreviews.authorization.k8s.io")
    for verb in ("create", "update", "patch", "delete", "get"):
        assert not can_i(cluster, token, verb, cj, "-A"), verb
    assert not can_i(cluster, token, "list", "secrets", "-A")
    assert not can_i(cluster, token, "list", "secrets", "-n", release.namespace)
    assert not can_i(cluster, token, "create", "cronjobs.batch", "-n", release.namespace)
    # For real, with the ServiceAccount's own token (TokenRequest): impersonating
    # system:masters is refused, and so is writing a ChronosJob.
    code, out = as_token(
        cluster, token, "--as=admin", "--as-group=system:masters", "get", "namespaces"
    )
    assert code != 0
    assert "cannot impersonate" in out, out
    job = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ChronosJob",
        "metadata": {"name": "by-the-facade", "namespace": release.namespace},
        "spec": SPEC,
    }
    code, out = as_token(cluster, token, "create", "-f", "-", input=json.dumps(job))
    assert code != 0
    assert "forbidden" in out, out
    code, out = as_token(cluster, token, "get", "chronosjobs", "-A", "-o", "name")
    assert code == 0, out  # the cache's list works


SPEC: dict[str, Any] = {
    "task": {"type": "pipeline_start", "pipelineId": "p1"},
    "schedule": {"cron": "0 3 * * *"},
    "timeZone": "Europe/Rome",
    "coreHub": {"url": "http://127.0.0.1:9", "credentialsSecretRef": {"name": "hub"}},
}


def test_the_real_operator_works_with_the_charts_service_account(
    release: Release, cluster: Cluster, k8s: Client, tmp_path: Path
) -> None:
    """The operator process, authenticated only by the chart's operator ServiceAccount,
    wins the Lease the chart allows, turns a ChronosJob into a CronJob, reports status and
    serves a run-now: the ClusterRole and the Lease Role are sufficient."""
    token = sa_token(k8s, release.namespace, release.sa("operator"))
    kubeconfig = token_kubeconfig(cluster, token, tmp_path / "operator.kubeconfig")
    deployment = find(release.objects, "Deployment", release.sa("operator"))
    env = container_env(deployment, release.objects)
    ns = release.jobs_namespace
    settings = {
        **{k: v for k, v in env.items() if k not in ("CHRONOS_HEALTH_HOST", "CHRONOS_HEALTH_PORT")},
        # A glob, so that the operator watches the cluster and keeps what matches.
        "CHRONOS_NAMESPACES": f"{ns}*",
        "CHRONOS_LEASE_NAMESPACE": release.namespace,  # in a pod: its own namespace
        "CHRONOS_HOUSEKEEPING_SECONDS": "2",
    }
    # Under the release's admission policy for the operator (test_deploy_admission.py).
    policy = find(release.objects, "ValidatingAdmissionPolicy", release.sa("operator-writes"))
    assert release.sa("operator") in policy["spec"]["matchConditions"][0]["expression"]
    process = OperatorProcess(kubeconfig, tmp_path, **settings)
    assert process.env["KUBECONFIG"] == str(kubeconfig)
    process.start()
    try:
        k8s.create(ChronosJobResource(metadata=ObjectMeta(name="nightly", namespace=ns), spec=SPEC))
        status = wait_for(
            lambda: _ready_status(k8s, ns, "nightly"), 60, "the operator to reconcile"
        )
        cronjob = cluster.kubectl("get", "cronjob", status["cronJobName"], "-n", ns, "-o", "json")
        template = json.loads(cronjob)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert template["serviceAccountName"] == release.sa("runner")
        assert template["containers"][0]["image"] == "chronos-runner:0.1.0"
        k8s.patch(
            ChronosJobResource,
            "nightly",
            {"metadata": {"annotations": {c.RUN_NOW_ANNOTATION: "now-1"}}},
            namespace=ns,
            patch_type=PatchType.MERGE,
        )
        wait_for(
            lambda: "now-1" in _annotations(k8s, ns, "nightly").get(c.RUN_NOW_DONE_ANNOTATION, ""),
            60,
            "the run-now Job",
        )
        jobs = json.loads(cluster.kubectl("get", "jobs", "-n", ns, "-o", "json"))["items"]
        assert len(jobs) == 1
        holder = cluster.kubectl(
            "get",
            "lease",
            env["CHRONOS_LEASE_NAME"],
            "-n",
            release.namespace,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        )
        assert holder
        _notifies_under_the_charts_rbac(k8s, ns)
        _publishes_figures_under_the_charts_rbac(k8s, release.namespace, env, holder)
    finally:
        process.stop()
    log = process.log_path.read_text()
    assert "forbidden" not in log.lower(), log[-3000:]
    assert " 403" not in log, log[-3000:]
    # No metrics-server here: said once per namespace, not a failure every round.
    assert "peak sampling failed" not in log, log[-3000:]
    # Its activity ledgers (issue 22), under the policies of deploy/base too (the session's):
    # the leader change beside its Lease, the job's creation beside the job.
    for where, kind in ((release.namespace, Kind.LEADER), (ns, Kind.CREATED)):
        data = k8s.get(ConfigMap, LEDGER_CONFIGMAP, namespace=where).data or {}
        assert kind in [e.kind for e in parse_ledger(data.get(LEDGER_KEY))], data


def _publishes_figures_under_the_charts_rbac(
    k8s: Client, namespace: str, env: dict[str, str], holder: str
) -> None:
    """Issue 22: the leader's figures reach the ConfigMap the chart creates, with the
    chart's rights only (get and patch of that one ConfigMap)."""
    name = figures_config_map(env["CHRONOS_LEASE_NAME"])

    def published() -> list[ReplicaFigures]:
        entries, _ = parse_figures(k8s.get(ConfigMap, name, namespace=namespace).data)
        return [
            e for e in entries if e.identity == holder and e.leader and e.queue_depth is not None
        ]

    wait_for(published, 30, "the leader's figures")


def _notifies_under_the_charts_rbac(k8s: Client, ns: str) -> None:
    """Issue 21: the operator reads a ChronosChannel and its Secret, writes the channel's
    Ready and the job's ledger, and delivers — with the chart's rights only."""
    key = "whsec_" + base64.b64encode(b"k" * 24).decode()
    with WebhookReceiver(signing_key=key) as receiver:
        k8s.create(
            Secret(
                metadata=ObjectMeta(name="hook", namespace=ns),
                stringData={"address": receiver.url, "signingKey": key},
            )
        )
        k8s.create(
            ChronosChannelResource(
                metadata=ObjectMeta(name="ops", namespace=ns),
                spec={"type": "webhook", "secretRef": {"name": "hook"}},
            )
        )
        notify = [{"channel": "ops", "events": ["failed"]}]
        k8s.create(
            ChronosJobResource(
                metadata=ObjectMeta(name="watched", namespace=ns), spec={**SPEC, "notify": notify}
            )
        )

        def ledger() -> dict[str, Any]:
            obj = k8s.get(ChronosJobResource, "watched", namespace=ns).to_dict()  # type: ignore[no-untyped-call]
            notes: dict[str, Any] = (obj.get("status") or {}).get("notifications") or {}
            return notes

        wait_for(lambda: ledger().get("since"), 60, "the since mark")
        run = {
            "runId": "watched-1",
            "trigger": "run-now",
            "result": "failed",
            "endTime": rfc3339(datetime.now(UTC)),
            "reportedBy": "runner",
        }
        k8s.patch(
            ChronosJobResource.Status,
            "watched",
            {"status": {"lastRun": run, "history": [run]}},
            namespace=ns,
            patch_type=PatchType.MERGE,
        )
        wait_for(lambda: receiver.accepted(), 60, "the delivery")
        wait_for(lambda: ledger().get("delivered"), 30, "the delivery recorded")
        channel = k8s.get(ChronosChannelResource, "ops", namespace=ns).to_dict()  # type: ignore[no-untyped-call]
        assert [c["status"] for c in channel["status"]["conditions"]] == ["True"]


def _annotations(k8s: Client, ns: str, name: str) -> dict[str, str]:
    meta = k8s.get(ChronosJobResource, name, namespace=ns).metadata
    return dict(meta.annotations or {}) if meta else {}


def _ready_status(k8s: Client, ns: str, name: str) -> dict[str, Any] | None:
    obj: dict[str, Any] = k8s.get(ChronosJobResource, name, namespace=ns).to_dict()  # type: ignore[no-untyped-call]
    status: dict[str, Any] = obj.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond["type"] == "Ready" and cond["status"] == "True" and status.get("cronJobName"):
            return status
    return None


def test_helm_uninstall_removes_cluster_scoped_objects(
    helm: Helm, cluster: Cluster, k8s: Client
) -> None:
    """A second release installs next to others (unique cluster-scoped names), and its
    uninstall leaves nothing cluster-scoped behind (the CRD stays: Helm never deletes it)."""
    suffix = uuid.uuid4().hex[:6]
    name, ns = f"u{suffix}", f"{SOLO_PREFIX}uninstall-{suffix}"
    k8s.create(Namespace(metadata=ObjectMeta(name=ns)))
    try:
        helm.run(
            "install", name, str(CHART), "-n", ns, "--skip-crds", kubeconfig=cluster.kubeconfig
        )
        roles = cluster.kubectl("get", "clusterroles", "-o", "name")
        assert f"clusterrole.rbac.authorization.k8s.io/{name}-chronos-operator" in roles
        helm.run("uninstall", name, "-n", ns, "--wait", kubeconfig=cluster.kubeconfig)
        kinds = "clusterroles,clusterrolebindings,validatingadmissionpolicies"
        roles = cluster.kubectl("get", f"{kinds},validatingadmissionpolicybindings", "-o", "name")
        assert f"{name}-chronos-" not in roles
        cluster.kubectl("get", "crd", "chronosjobs.chronos.gluesync.io")
    finally:
        k8s.delete(Namespace, ns)


# ------------------------------------------------------------------ kustomize overlay


def test_kustomize_example_overlay_applies(cluster: Cluster, k8s: Client) -> None:
    """The example overlay, rendered by kubectl's kustomize and applied for real: its two
    namespaces are mapped to fresh test namespaces and cluster-scoped names get a unique
    prefix (parallel runs); the CRD, already installed, goes through a server dry-run."""
    objs = docs(cluster.kubectl("kustomize", str(ROOT / "deploy" / "overlays" / "example")))
    suffix = uuid.uuid4().hex[:6]
    nsmap = {
        "chronos-system": f"{SOLO_PREFIX}kz-{suffix}",
        "team-a": f"{SOLO_PREFIX}kz-team-{suffix}",
    }
    crds = [o for o in objs if o["kind"] == "CustomResourceDefinition"]
    assert sorted(o["metadata"]["name"] for o in crds) == [
        "chronoscalendars.chronos.gluesync.io",
        "chronoschannels.chronos.gluesync.io",
        "chronosjobs.chronos.gluesync.io",
    ]
    assert sorted(o["metadata"]["name"] for o in objs if o["kind"] == "Namespace") == [
        "chronos-system"
    ]
    operator = find(objs, "Deployment", "chronos-operator")
    assert container_env(operator, objs)["CHRONOS_COREHUB_URL"].startswith("https://")
    image = operator["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/gluesync/chronos-operator:0.1.0"
    rest: list[dict[str, Any]] = []
    for o in objs:
        if o["kind"] in ("CustomResourceDefinition", "Namespace"):
            continue
        meta = o["metadata"]
        if o["kind"] in ADMISSION_KINDS:
            del meta["namespace"]
        if "namespace" in meta:
            meta["namespace"] = nsmap[meta["namespace"]]
        else:
            meta["name"] = f"{suffix}-{meta['name']}"
        if o["kind"] in ("ClusterRoleBinding", "RoleBinding"):
            if o["roleRef"]["kind"] == "ClusterRole":
                o["roleRef"]["name"] = f"{suffix}-{o['roleRef']['name']}"
            for subject in o["subjects"]:
                subject["namespace"] = nsmap[subject["namespace"]]
        if o["kind"] == "ValidatingAdmissionPolicyBinding":
            o["spec"]["policyName"] = f"{suffix}-{o['spec']['policyName']}"
        rest.append(o)
    for ns in nsmap.values():
        k8s.create(Namespace(metadata=ObjectMeta(name=ns)))
    cluster_scoped = [o for o in rest if "namespace" not in o["metadata"]]
    try:
        out = apply_server_side(cluster, crds, "--dry-run=server")
        assert "serverside-applied (server dry run)" in out
        out = apply_server_side(cluster, rest)
        assert out.count("serverside-applied") == len(rest), out
        rb = cluster.kubectl(
            "get", "rolebinding", "chronos-runner", "-n", nsmap["team-a"], "-o", "json"
        )
        assert json.loads(rb)["roleRef"]["name"] == f"{suffix}-chronos-runner"
        # The team-a runner may write ChronosJob status there, and only there.
        token = sa_token(k8s, nsmap["team-a"], "chronos-runner")
        cj = "chronosjobs.chronos.gluesync.io"
        assert can_i(cluster, token, "patch", cj, "--subresource=status", "-n", nsmap["team-a"])
        assert not can_i(
            cluster, token, "patch", cj, "--subresource=status", "-n", nsmap["chronos-system"]
        )
    finally:
        for o in cluster_scoped:
            cluster.kubectl("delete", o["kind"], o["metadata"]["name"], "--ignore-not-found")
        for ns in nsmap.values():
            k8s.delete(Namespace, ns)
