"""What the local system installs into a cluster beside the Helm chart, and what
`make up` prints: the CRDs, deploy/base's admission policies (for the tests' clusters,
where no chart runs), the sample job."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from chronos.devcluster import binaries, system
from chronos.devcluster.files import write_private
from chronos.models.chronosjob import GROUP

SAMPLE = "deploy/samples/chronosjob-sample.yaml"
#: The CRDs generated from the models (``make crd``).
CRDS = (
    "deploy/crd/chronosjobs.yaml",
    "deploy/crd/chronoscalendars.yaml",
    "deploy/crd/chronoschannels.yaml",
)
#: The admission policies deploy/base ships (the chart renders the same; see
#: docs/architecture.md, "Admission policies").
ADMISSION = (
    "deploy/base/admission-secrets.yaml",
    "deploy/base/admission-calendars.yaml",
    "deploy/base/admission-channels.yaml",
    "deploy/base/admission-jobs.yaml",
    "deploy/base/admission-container.yaml",
    "deploy/base/admission-operator.yaml",
    "deploy/base/admission-activity.yaml",
)
#: Their parameter: the operator's settings ConfigMap (in the namespace it names).
OPERATOR_SETTINGS = "deploy/base/operator-settings.yaml"


def install_crd(
    cluster: system.Target,
    *,
    operator_settings: Mapping[str, str] | None = None,
    policies: bool = True,
) -> None:
    """The CRD and, wherever it is installed, the admission policies that go with it
    (``policies=False`` when the Helm chart installs them)."""
    root = binaries.repo_root()
    files = [a for path in CRDS for a in ("-f", str(root / path))]
    cluster.kubectl("apply", "--server-side", "--force-conflicts", *files)
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        # deploy/crd/<plural>.yaml defines crd/<plural>.<group>
        *(f"crd/{Path(path).stem}.{GROUP}" for path in CRDS),
    )
    if policies:
        install_admission_policies(cluster, operator_settings)


def admission_policies(operator_settings: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """deploy/base's admission policies and their parameter, the operator's settings
    ConfigMap, with ``operator_settings`` (CHRONOS_COREHUB_*) filled in as the chart's
    values would; a namespace of that name comes first."""
    root = binaries.repo_root()
    (settings,) = [o for o in yaml.safe_load_all((root / OPERATOR_SETTINGS).read_text()) if o]
    unknown = sorted(set(operator_settings or {}) - set(settings["data"]))
    if unknown:
        raise ValueError(f"not in {OPERATOR_SETTINGS}: {unknown}")
    settings["data"].update(operator_settings or {})
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": settings["metadata"]["namespace"]},
    }
    objs: list[dict[str, Any]] = [namespace, settings]
    for path in ADMISSION:
        objs.extend(o for o in yaml.safe_load_all((root / path).read_text()) if o)
    return objs


def install_admission_policies(
    cluster: system.Target, operator_settings: Mapping[str, str] | None = None
) -> None:
    objs = admission_policies(operator_settings)
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=body)


EXAMPLE_JOB = {
    "name": "Monday-Wednesday-Friday Job",
    "task_type": "entity_start",
    "schedule": {"days_of_week": ["monday", "wednesday", "friday"], "hour": 8, "minute": 30},
    "pipeline_id": "pipeline-123",
    "entity_id": "entity-456",
}


def summary(
    cluster: system.Target,
    bin_dir: Path,
    info: system.SystemInfo,
    token: str,
    headline: str,
    *,
    context: str,
    stop: str = "make down (deletes the kind cluster and all in it)",
    status: str = "make status",
    where: str = "on this host's address on the kind network",
) -> None:
    """What `make up` prints."""
    token_file = write_private(cluster.directory / "token", token)
    body = json.dumps(EXAMPLE_JOB)
    print(
        f"""
{headline}

  export KUBECONFIG={cluster.kubeconfig}   # or: kubectl --context {context}
  export PATH={bin_dir}:$PATH
  kubectl get chronosjobs,cronjobs,jobs        # the sample job, its CronJob and a first run
  kubectl get pods -A                          # operator, REST facade and runner pods

Dashboard:  {info.api_url}/ui/   (sign in with the token below)
REST API:   {info.api_url}   (Swagger UI: {info.api_url}/docs; port: {system.API_PORT_VARIABLE})
Fake CoreHub: {info.corehub_url}   (admin/admin; {where}, for the pods)
Operator and REST facade: Helm release "{system.RELEASE}" in namespace {system.RELEASE_NAMESPACE}
Token (24 h, ServiceAccount default/chronos-demo, saved in {token_file}):
{token}

  TOKEN=$(cat {token_file})
  curl -s -X POST {info.api_url}/api/jobs -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' -d '{body}'

Logs: {cluster.logs}   Health of each part: {status}
Stop everything: {stop}
"""
    )
