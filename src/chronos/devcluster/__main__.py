"""``python -m chronos.devcluster {build,up,down,status}``: the local system for development.

``up`` starts the control plane, installs the ChronosJob CRD, starts the fake CoreHub,
the node agent, the operator and the REST facade, and applies the sample job.
State lives in ``CHRONOS_DEVCLUSTER_DIR`` (default ``.devcluster`` in the current folder).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from chronos.contract import RUN_NOW_ANNOTATION
from chronos.devcluster import binaries
from chronos.devcluster.cluster import Cluster, ClusterError
from chronos.devcluster.system import COREHUB_SECRET, start_system, stop_system

SAMPLE = "deploy/samples/chronosjob-sample.yaml"
CRD = "deploy/crd/chronosjobs.yaml"
#: The admission policies deploy/base ships (the chart renders the same; see
#: docs/architecture.md, "Admission policies").
ADMISSION = ("deploy/base/admission-secrets.yaml", "deploy/base/admission-operator.yaml")


def state_dir() -> Path:
    return Path(os.environ.get("CHRONOS_DEVCLUSTER_DIR", ".devcluster")).resolve()


def install_crd(cluster: Cluster, *, default_credentials_secret: str = "") -> None:
    """The CRD and, wherever it is installed, the admission policies that go with it."""
    root = binaries.repo_root()
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(root / CRD))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/chronosjobs.chronos.gluesync.io",
    )
    install_admission_policies(cluster, default_credentials_secret)


def admission_policies(default_credentials_secret: str = "") -> list[dict[str, Any]]:
    """deploy/base's admission policies, with the operator's default credentials Secret
    (CHRONOS_COREHUB_CREDENTIALS_SECRET) filled in as the chart's value would."""
    root = binaries.repo_root()
    objs: list[dict[str, Any]] = []
    for path in ADMISSION:
        for obj in yaml.safe_load_all((root / path).read_text()):
            if obj and obj["kind"] == "ValidatingAdmissionPolicy":
                for variable in obj["spec"].get("variables") or []:
                    if variable["name"] == "defaultSecret":
                        variable["expression"] = json.dumps(default_credentials_secret)
            if obj:
                objs.append(obj)
    return objs


def install_admission_policies(cluster: Cluster, default_credentials_secret: str = "") -> None:
    objs = admission_policies(default_credentials_secret)
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=body)


EXAMPLE_JOB = {
    "name": "Monday-Wednesday-Friday Job",
    "task_type": "entity_start",
    "schedule": {"days_of_week": ["monday", "wednesday", "friday"], "hour": 8, "minute": 30},
    "pipeline_id": "pipeline-123",
    "entity_id": "entity-456",
}


def up() -> None:
    cluster = Cluster(state_dir())
    if cluster.running():
        print(f"already running; kubeconfig: {cluster.kubeconfig}")
        return
    seconds = cluster.start()
    install_crd(cluster, default_credentials_secret=COREHUB_SECRET)
    info = start_system(cluster)
    cluster.kubectl("apply", "-f", str(binaries.repo_root() / SAMPLE))
    # One run right away, so there is a result to look at.
    cluster.kubectl(
        "annotate", "--overwrite", "chronosjob/morning-sync", f"{RUN_NOW_ANNOTATION}=make-up"
    )
    token_file = cluster.directory / "token"
    token_file.write_text(info.token)
    token_file.chmod(0o600)
    body = json.dumps(EXAMPLE_JOB)
    print(
        f"""
Chronos is up (control plane ready in {seconds:.1f}s, Kubernetes {binaries.kubernetes_version()}).

  export KUBECONFIG={cluster.kubeconfig}
  export PATH={cluster.bin_dir}:$PATH
  kubectl get chronosjobs,cronjobs,jobs        # the sample job, its CronJob and a first run

REST API:   {info.api_url}   (Swagger UI: {info.api_url}/docs)
Fake CoreHub: {info.corehub_url}   (admin/admin)
Token (24 h, ServiceAccount default/chronos-demo, saved in {token_file}):
{info.token}

  TOKEN=$(cat {token_file})
  curl -s -X POST {info.api_url}/api/jobs -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' -d '{body}'

Logs: {cluster.directory / "logs"}   Stop everything: make down
"""
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chronos.devcluster", description=__doc__)
    parser.add_argument("command", choices=["build", "up", "down", "status"])
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(binaries.ensure_binaries())
        elif args.command == "up":
            up()
        elif args.command == "down":
            cluster = Cluster(state_dir(), bin_dir=binaries.bin_dir())
            stop_system(cluster)
            cluster.stop()
            print("stopped")
        else:
            running = Cluster(state_dir(), bin_dir=binaries.bin_dir()).running()
            print("running" if running else "stopped")
            sys.exit(0 if running else 1)
    except (ClusterError, binaries.BuildError) as exc:
        sys.exit(f"devcluster: {exc}")


if __name__ == "__main__":
    main()
