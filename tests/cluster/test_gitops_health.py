"""GitOps health of real ChronosJobs: the shipped Argo CD health check (Lua, run with
lupa as Argo CD's Lua 5.1 runs it) and kstatus itself (sigs.k8s.io/cli-utils, what Flux's
health checks run), on objects the operator brought into each state on the control
plane."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import create_chronosjob as create
from builders import secret, service_account
from builders import spec as job_spec
from fixtures_operator import COREHUB_SECRET
from gitops import ARGOCD_HEALTH, argocd_health, kstatus
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from support import ROOT, get_cr, patch_spec, ready, wait_for

from chronos.devcluster.cluster import Cluster
from chronos.devcluster.operator_process import OperatorProcess
from chronos.times import rfc3339

pytestmark = pytest.mark.cluster

RUNNER_ACCOUNT = "chronos-runner"


def status_of(obj: dict[str, Any]) -> str:
    """kstatus's verdict (sigs.k8s.io/cli-utils itself) on one object."""
    ((status, _),) = kstatus(obj)
    return status


def spec(**overrides: Any) -> dict[str, Any]:
    return job_spec(task={"type": "pipeline_start", "pipelineId": "p1"}, **overrides)


def reconciled(k8s: Client, ns: str, name: str, reason: str) -> dict[str, Any]:
    """The job once the operator reported its current generation with this Ready
    reason (what the operator does is the precondition; the health is asserted after)."""

    def check() -> dict[str, Any] | None:
        obj = get_cr(k8s, ns, name)
        status = obj.get("status") or {}
        cond = ready(k8s, ns, name)
        current = status.get("observedGeneration") == obj["metadata"]["generation"]
        return obj if current and cond is not None and cond["reason"] == reason else None

    return wait_for(check, what=f"Ready reason {reason}")


@pytest.fixture
def ns(k8s: Client, namespace: str) -> str:
    k8s.create(secret(COREHUB_SECRET, namespace))
    k8s.create(service_account(RUNNER_ACCOUNT, namespace))
    return namespace


def test_healthy_suspended_degraded_and_back(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    create(k8s, ns, "orders", spec())
    obj = reconciled(k8s, ns, "orders", "Reconciled")
    wait_for(lambda: (r := ready(k8s, ns, "orders", "RunsBlocked")) and r["status"] == "False")
    obj = get_cr(k8s, ns, "orders")
    health, message = argocd_health(obj)
    assert (health, status_of(obj)) == ("Healthy", "Current")
    assert message.startswith("Reconciled: CronJob orders runs")

    patch_spec(k8s, ns, "orders", {"enabled": False})
    obj = reconciled(k8s, ns, "orders", "Suspended")
    assert argocd_health(obj) == (
        "Suspended",
        "Suspended: CronJob orders is suspended (spec.enabled is false)",
    )
    assert status_of(obj) == "Current"

    until = rfc3339(datetime.now(UTC) + timedelta(hours=1))
    patch_spec(k8s, ns, "orders", {"enabled": True, "suspendUntil": until})
    obj = reconciled(k8s, ns, "orders", "SuspendedUntil")
    assert argocd_health(obj)[0] == "Suspended"
    assert status_of(obj) == "Current"

    # Well-formed, so the CRD takes it, but in no tz database: the operator cannot act.
    patch_spec(k8s, ns, "orders", {"suspendUntil": None, "timeZone": "Mars/Olympus_Mons"})
    obj = reconciled(k8s, ns, "orders", "InvalidTimeZone")
    health, message = argocd_health(obj)
    assert health == "Degraded"
    assert message.startswith("InvalidTimeZone: spec.timeZone")
    # Stalled=True: Flux fails at once with the reason, not at its timeout.
    assert kstatus(obj) == [("Failed", message.split(": ", 1)[1])]

    patch_spec(k8s, ns, "orders", {"timeZone": "Europe/Rome"})
    obj = reconciled(k8s, ns, "orders", "Reconciled")
    assert [c["type"] for c in obj["status"]["conditions"]].count("Stalled") == 0
    assert (argocd_health(obj)[0], status_of(obj)) == ("Healthy", "Current")


def test_runs_that_cannot_start_are_degraded_for_argo_cd(
    operator: OperatorProcess, k8s: Client, namespace: str
) -> None:
    k8s.create(secret(COREHUB_SECRET, namespace))  # no runner ServiceAccount
    create(k8s, namespace, "orphan", spec())
    wait_for(
        lambda: (b := ready(k8s, namespace, "orphan", "RunsBlocked")) and b["status"] == "True",
        what="RunsBlocked=True",
    )
    obj = get_cr(k8s, namespace, "orphan")
    health, message = argocd_health(obj)
    assert health == "Degraded"
    assert message.startswith("RunnerServiceAccountMissing: ")
    # kstatus reads only whether the spec was reconciled, which it was.
    assert status_of(obj) == "Current"


def test_a_job_the_operator_has_not_reconciled_yet_is_progressing(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    ns = solo_namespace
    k8s.create(service_account(RUNNER_ACCOUNT, ns))
    # No operator watches this namespace yet: the job has no status at all.
    create(k8s, ns, "fresh", spec())
    obj = get_cr(k8s, ns, "fresh")
    assert "status" not in obj
    assert argocd_health(obj) == (
        "Progressing",
        "Waiting for the Chronos operator to reconcile the job",
    )
    # kstatus's documented corner case: a resource seen before its controller wrote any
    # condition or observedGeneration is taken as Current (docs/install.md says so).
    assert status_of(obj) == "Current"

    process = start_operator()
    reconciled(k8s, ns, "fresh", "Reconciled")
    process.stop()
    # A spec change the (stopped) operator has not seen: observedGeneration lags.
    patch_spec(k8s, ns, "fresh", {"schedule": {"cron": "0 9 * * *"}})
    obj = get_cr(k8s, ns, "fresh")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"] - 1
    generation = obj["metadata"]["generation"]
    assert argocd_health(obj) == (
        "Progressing",
        f"Waiting for the Chronos operator to reconcile generation {generation}",
    )
    assert status_of(obj) == "InProgress"


def test_the_kustomize_component_puts_the_one_lua_file_into_argocd_cm(
    cluster: Cluster, tmp_path: Path
) -> None:
    """deploy/gitops is a Component merged into the argocd-cm of an Argo CD install."""
    install = tmp_path / "argocd"
    install.mkdir()
    (install / "argocd-cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\n"
        "data: {url: https://argocd.example}\n"
    )
    # kustomize takes only relative paths (as a user's repository names a copy).
    component = os.path.relpath(ARGOCD_HEALTH.parent, install)
    (install / "kustomization.yaml").write_text(
        f"resources: [argocd-cm.yaml]\ncomponents: [{component}]\n"
    )
    built = subprocess.run(
        [str(cluster.bin_dir / "kubectl"), "kustomize", str(install)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    data = yaml.safe_load(built)["data"]
    assert data["url"] == "https://argocd.example"
    key = "resource.customizations.health.chronos.gluesync.io_ChronosJob"
    assert data[key] == ARGOCD_HEALTH.read_text()


def test_the_documented_kubectl_patch_adds_the_check_to_argocd_cm(
    cluster: Cluster, k8s: Client, namespace: str
) -> None:
    """The command docs/install.md gives for an Argo CD installed without kustomize."""
    k8s.create(
        ConfigMap(metadata=ObjectMeta(name="argocd-cm", namespace=namespace), data={"a": "b"})
    )
    doc = (ROOT / "docs" / "install.md").read_text()
    command = re.search(r"```sh\n(kubectl -n argocd create configmap argocd-cm.*?)```", doc, re.S)
    assert command is not None
    kubectl = f"{cluster.bin_dir / 'kubectl'} --kubeconfig {cluster.kubeconfig}"
    script = command[1].replace("kubectl -n argocd", f"{kubectl} -n {namespace}")
    subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=ROOT, check=True)
    data = k8s.get(ConfigMap, "argocd-cm", namespace=namespace).data or {}
    key = "resource.customizations.health.chronos.gluesync.io_ChronosJob"
    assert data == {"a": "b", key: ARGOCD_HEALTH.read_text()}
