"""Fixtures for the packaging tests (tests/cluster/test_deploy*.py): helm, built from its
Go module (dev/chronos/devcluster/helm) on first use, a real ``helm install`` of the chart,
and the helpers that read a rendering."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import create_chronosjob, pipeline_spec
from fixtures_operator import SOLO_PREFIX
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, ServiceAccount
from support import ROOT, wait_for

from chronos.devcluster import binaries
from chronos.devcluster.cluster import Cluster

CHART = ROOT / "charts" / "chronos"


#: Every value set to a non-default, so that every setting reaches the Deployments.
ALL_VALUES: dict[str, Any] = {
    "defaultTimeZone": "Europe/Rome",
    "minIntervalSeconds": 120,
    "readyGraceSeconds": 15,
    "operator": {
        "namespaces": "team-*,!team-sandbox",
        "historyLimit": 30,
        "coreHub": {
            "url": "https://corehub:1717",
            "credentialsSecret": "corehub",
            "allowedHosts": ["corehub", "*.corp.example"],
        },
        "housekeepingSeconds": 20,
        "peakSampleSeconds": 15,
        "missedRunGraceSeconds": 60,
        "notifyAllowedHosts": ["hooks.example.com", "*.corp.example"],
        "notifyConcurrency": 8,
        "notifyMaxPending": 500,
        "healthPort": 9090,
        "healthHost": "0.0.0.0",
        "leaderElection": {
            "enabled": True,
            "leaseName": "chronos-leader",
            "leaseNamespace": "chronos-leases",
            "leaseDurationSeconds": 20,
            "renewSeconds": 4,
        },
    },
    "runner": {
        "namespaces": ["team-a", "team-b"],
        "image": {"pullPolicy": "Always"},
        "podOverrides": {
            "imagePullSecrets": [{"name": "registry"}],
            "nodeSelector": {"pool": "batch"},
        },
    },
    "api": {
        "host": "0.0.0.0",
        "port": 8081,
        "defaultNamespace": "team-a",
        "authDisabled": False,
        "tokenCacheSeconds": 15,
        "accessCacheSeconds": 5,
        "maxPageSize": 500,
        "metricsPort": 9191,
        "maxBodyBytes": 2097152,
        "maxStreamsPerUser": 4,
        "maxStreams": 50,
        "kubeConnections": 30,
        "kubePoolWaitSeconds": 2.5,
        "dashboard": {
            "sessionSecret": "chronos-sessions",
            "sessionSeconds": 3600,
            "plainHttp": True,
        },
        "kubeconfigSecret": "chronos-api-kubeconfig",
    },
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
}


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    print("\n[deploy] helm: built from its wrapper module on first use, then cached", flush=True)
    return Helm(binaries.ensure_helm(), tmp_path_factory.mktemp("helm-home"))


@dataclass
class Helm:
    binary: Path
    home: Path

    def run(
        self, *args: str, check: bool = True, kubeconfig: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        extra = ["--kubeconfig", str(kubeconfig)] if kubeconfig else []
        result = subprocess.run(
            [str(self.binary), *args, *extra], capture_output=True, text=True, env=env, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
        return result

    def template(self, *args: str, release: str = "chronos", namespace: str = "chronos") -> str:
        return self.run("template", release, str(CHART), "-n", namespace, *args).stdout


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def values_file(tmp_path: Path, values: dict[str, Any]) -> str:
    path = tmp_path / f"values-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def container_env(
    deployment: dict[str, Any], objs: list[dict[str, Any]] | None = None
) -> dict[str, str]:
    """The container's literal variables (not those from a Secret, such as the
    dashboard's session key, whose value exists only in the cluster), with those of the
    ConfigMaps it reads whole (envFrom) when ``objs``, the rendering, holds them."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        name = source["configMapRef"]["name"]
        for o in objs or []:
            if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name:
                env.update(o.get("data") or {})
    env.update({e["name"]: e["value"] for e in container.get("env") or [] if "value" in e})
    return env


def sa_token(k8s: Client, namespace: str, name: str) -> str:
    request = ServiceAccount.Token(
        metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=[], expirationSeconds=3600)
    )
    result = k8s.create(request, name=name, namespace=namespace)
    assert result.status is not None
    return str(result.status.token)


@dataclass
class Release:
    name: str
    namespace: str
    jobs_namespace: str  # a second runner namespace
    other_namespace: str  # no Chronos RBAC at all
    objects: list[dict[str, Any]]

    def sa(self, component: str) -> str:
        return f"{self.name}-chronos-{component}"


@pytest.fixture(scope="module")
def release(helm: Helm, cluster: Cluster, k8s: Client) -> Iterator[Release]:
    """``helm install`` into fresh namespaces ("solo-" ones: the shared test operator
    leaves them alone). The CRD is already installed cluster-wide: Helm skips it."""
    suffix = uuid.uuid4().hex[:6]
    rel = Release(
        name=f"r{suffix}",
        namespace=f"{SOLO_PREFIX}helm-{suffix}",
        jobs_namespace=f"{SOLO_PREFIX}jobs-{suffix}",
        other_namespace=f"{SOLO_PREFIX}other-{suffix}",
        objects=[],
    )
    for ns in (rel.namespace, rel.jobs_namespace, rel.other_namespace):
        k8s.create(Namespace(metadata=ObjectMeta(name=ns)))
    try:
        print(f"[deploy] helm install {rel.name} -n {rel.namespace}", flush=True)
        out = helm.run(
            "install",
            rel.name,
            str(CHART),
            "-n",
            rel.namespace,
            "--set",
            f"runner.namespaces={{{rel.namespace},{rel.jobs_namespace}}}",
            kubeconfig=cluster.kubeconfig,
        )
        assert "STATUS: deployed" in out.stdout, out.stdout
        manifest = helm.run(
            "get", "manifest", rel.name, "-n", rel.namespace, kubeconfig=cluster.kubeconfig
        ).stdout
        rel.objects = docs(manifest)
        yield rel
    finally:
        helm.run(
            "uninstall", rel.name, "-n", rel.namespace, "--wait", kubeconfig=cluster.kubeconfig
        )
        for ns in (rel.namespace, rel.jobs_namespace, rel.other_namespace):
            k8s.delete(Namespace, ns)
        # The API server drops the release's policy bindings from its admission cache a
        # moment after they are deleted; meanwhile a binding whose params are gone denies
        # every ChronosJob in the cluster (seen by the next module in one CI run).
        wait_for(lambda: _admitted(k8s), 30, "the release's admission policies to go")


def _admitted(k8s: Client) -> bool:
    try:
        create_chronosjob(k8s, "default", "admission-probe", pipeline_spec(), dry_run=True)
    except ApiError as exc:
        if "ValidatingAdmissionPolicy" in str(exc):
            return False
        raise
    return True
