"""The container images, built for real and run for real.

Both images are built on the debootstrap base (``chronos.devcluster.images``; cached, so
a rerun only rebuilds what changed), then checked (user, time zones, contents) and run
with ``--read-only --user 65532 --cap-drop ALL``: the runner image completes a run
against the fake CoreHub and writes the ChronosJob's status with the runner
ServiceAccount's token; the operator image reconciles a ChronosJob into a CronJob; the
REST facade starts from the operator image.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import service_account, spec
from fixtures_images import KUBE_MOUNT, Containers, container_kubeconfig
from fixtures_operator import COREHUB_SECRET
from lightkube import Client, codecs
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import RoleRef, Subject
from lightkube.resources.batch_v1 import CronJob
from lightkube.resources.core_v1 import ServiceAccountToken
from lightkube.resources.rbac_authorization_v1 import RoleBinding
from support import wait_for

from chronos import contract
from chronos.devcluster.binaries import repo_root
from chronos.devcluster.cluster import Cluster, free_port
from chronos.devcluster.images import UID, BuildReport, Engine
from chronos.fakehub import FakeHubControl
from chronos.kube import ChronosJobResource

pytestmark = [pytest.mark.images, pytest.mark.cluster]

KUBECONFIG = f"{KUBE_MOUNT}/kubeconfig"
TASK = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1", "e2"]}


def create(k8s: Client, namespace: str, name: str, spec: dict[str, Any]) -> None:
    k8s.create(ChronosJobResource(metadata=ObjectMeta(name=name, namespace=namespace), spec=spec))


def get_cr(k8s: Client, namespace: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = k8s.get(ChronosJobResource, name, namespace=namespace).to_dict()  # type: ignore[no-untyped-call]
    return obj


def tag(images: BuildReport, component: str) -> str:
    return images.images[component].tag


def config_of(engine: Engine, image: str) -> dict[str, Any]:
    out = engine.docker("image", "inspect", "--format", "{{json .Config}}", image).stdout
    config: dict[str, Any] = json.loads(out)
    return config


def python_in(containers: Containers, image: str, code: str, **kwargs: Any) -> str:
    ran = containers.run(image, "-c", code, entrypoint="python", **kwargs)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return ran.stdout.strip()


# ------------------------------------------------------------------- image contents


def test_both_images_build_and_report_their_sizes(
    images: BuildReport, docker_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print()
        for line in images.lines():
            print(f"    {line}")
    runner, operator = images.images["runner"], images.images["operator"]
    assert runner.tag == "chronos-runner:0.1.0"
    assert operator.tag == "chronos-operator:0.1.0"
    # The runner has only the base dependencies, the operator image FastAPI, uvicorn too.
    assert 0 < runner.size < operator.size < 400 * 10**6
    base = docker_engine.docker("image", "inspect", "--format", "{{.Size}}", images.base)
    assert int(base.stdout) < runner.size


@pytest.mark.parametrize(
    ("component", "entrypoint"),
    [
        ("runner", ["python", "-m", "chronos.runner"]),
        ("operator", ["python", "-m", "chronos.operator"]),
    ],
)
def test_image_config(
    images: BuildReport, docker_engine: Engine, component: str, entrypoint: list[str]
) -> None:
    config = config_of(docker_engine, tag(images, component))
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == entrypoint
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert config["Labels"]["org.opencontainers.image.version"] == "0.1.0"


@pytest.mark.parametrize("component", ["runner", "operator"])
def test_runs_as_65532_with_time_zones_on_a_read_only_root(
    images: BuildReport, containers: Containers, component: str
) -> None:
    image = tag(images, component)
    # Without --user: the image's own default user.
    ran = containers.run(image, "-c", "id -u; id -g; id -un", entrypoint="sh", image_user=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == [str(UID), str(UID), "chronos"]
    code = (
        "import os, zoneinfo, datetime as d, pathlib;"
        "z = zoneinfo.ZoneInfo('Europe/Rome');"
        "print(os.getuid(), d.datetime(2026, 7, 1, tzinfo=z).utcoffset(),"
        " pathlib.Path('/usr/share/zoneinfo/Europe/Rome').is_file())"
    )
    assert python_in(containers, image, code) == f"{UID} 2:00:00 True"
    # Nothing on the root filesystem is writable, and the bytecode was compiled at build.
    probe = (
        "import pathlib, chronos.models.chronosjob as m\n"
        "refused = 0\n"
        "for path in ('/opt/venv/x', '/tmp/x', '/x', '/nonexistent/x'):\n"
        "    try:\n"
        "        open(path, 'w')\n"
        "    except OSError:\n"
        "        refused += 1\n"
        "print(refused, pathlib.Path(m.__cached__).is_file())"
    )
    assert python_in(containers, image, probe) == "4 True"


def test_runner_image_has_no_operator_or_api_dependencies(
    images: BuildReport, containers: Containers
) -> None:
    code = (
        "import importlib.util as u, importlib.metadata as md;"
        "mods = ['kopf', 'fastapi', 'uvicorn', 'prometheus_client', 'pip', 'hatchling'];"
        "print(sorted(m for m in mods if u.find_spec(m)));"
        "print(sorted(d.metadata['Name'].lower() for d in md.distributions()))"
    )
    found, dists = python_in(containers, tag(images, "runner"), code).splitlines()
    assert found == "[]"
    assert "chronos-runner" in dists
    assert "kopf" not in dists
    assert "fastapi" not in dists
    code = "import fastapi, uvicorn, prometheus_client, chronos.api.app; print('ok')"
    assert python_in(containers, tag(images, "operator"), code) == "ok"
    # The operator runs its own informers: neither Kopf nor its aiohttp stack is shipped.
    gone = "import importlib.util as u; print([m for m in ('kopf', 'aiohttp') if u.find_spec(m)])"
    assert python_in(containers, tag(images, "operator"), gone) == "[]"


#: What each image must not carry: the development harness (local control plane, node
#: agent, fake CoreHub) and the other image's component.
NOT_SHIPPED = {
    "runner": ["chronos.devcluster", "chronos.fakehub", "chronos.operator", "chronos.api"],
    "operator": ["chronos.devcluster", "chronos.fakehub", "chronos.runner"],
}


def test_images_ship_only_their_own_component(images: BuildReport, containers: Containers) -> None:
    for component, absent in NOT_SHIPPED.items():
        code = (
            f"import glob, importlib.util as u, chronos.{component};"  # the component is there
            f"print(sorted(m for m in {absent!r} if u.find_spec(m)));"
            "print(sorted(p.rsplit('/', 1)[1] for p in glob.glob('/opt/venv/bin/chronos-*')))"
        )
        found, scripts = python_in(containers, tag(images, component), code).splitlines()
        assert found == "[]", component
        assert scripts == ("['chronos-runner']" if component == "runner" else "[]"), component


def test_images_install_exactly_the_lock(images: BuildReport, containers: Containers) -> None:
    """Every pinned version of requirements/<component>.txt, and nothing else."""
    code = (
        "import importlib.metadata as md;"
        "print('\\n'.join(sorted(f\"{d.metadata['Name'].lower().replace('_', '-')}=={d.version}\""
        " for d in md.distributions())))"
    )
    for component in ("runner", "operator"):
        lock = repo_root() / "requirements" / f"{component}.txt"
        pinned = sorted(
            line.split(" ", 1)[0].lower()
            for line in lock.read_text().splitlines()
            if "==" in line and not line.startswith((" ", "#"))
        )
        installed = python_in(containers, tag(images, component), code).splitlines()
        assert [p for p in installed if not p.startswith(f"chronos-{component}==")] == pinned


# ------------------------------------------------------------------- running them


def runner_identity(k8s: Client, namespace: str) -> str:
    """The runner ServiceAccount with the shipped ClusterRole, and a token for it."""
    role = yaml.safe_load((repo_root() / "deploy" / "rbac" / "runner.yaml").read_text())
    k8s.apply(codecs.from_dict(role), field_manager="chronos-tests", force=True)
    k8s.create(service_account("chronos-runner", namespace))
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name="chronos-runner", namespace=namespace),
            roleRef=RoleRef(
                apiGroup="rbac.authorization.k8s.io", kind="ClusterRole", name="chronos-runner"
            ),
            subjects=[Subject(kind="ServiceAccount", name="chronos-runner", namespace=namespace)],
        )
    )
    request = ServiceAccountToken(
        metadata=ObjectMeta(name="chronos-runner", namespace=namespace),
        spec=TokenRequestSpec(audiences=[], expirationSeconds=600),
    )
    result = k8s.create(request, "chronos-runner", namespace=namespace)
    assert result.status is not None
    return str(result.status.token)


def test_runner_image_completes_a_run_and_writes_last_run(
    images: BuildReport,
    containers: Containers,
    k8s: Client,
    cluster: Cluster,
    namespace: str,
    fakehub: FakeHubControl,
    tmp_path: Path,
) -> None:
    # Disabled: no operator schedules it; only this container runs it.
    create(k8s, namespace, "nightly", {**job_spec(), "enabled": False})
    kube = container_kubeconfig(cluster, tmp_path / "kube", token=runner_identity(k8s, namespace))
    termination = tmp_path / "termination-log"
    termination.write_text("")
    termination.chmod(0o666)
    run_id = f"nightly-{uuid.uuid4().hex[:6]}"
    # What the operator's Job template sets (chronos.contract), the downward API's
    # values filled in by hand, and KUBECONFIG in place of the pod's ServiceAccount.
    env = {
        contract.ENV_TASK: json.dumps(TASK),
        contract.ENV_COREHUB_URL: fakehub.url,
        contract.ENV_COREHUB_USERNAME: "chronos",
        contract.ENV_COREHUB_PASSWORD: "s3cret-pw",
        contract.ENV_JOB_NAME: "nightly",
        contract.ENV_JOB_NAMESPACE: namespace,
        contract.ENV_RUN_ID: run_id,
        contract.ENV_POD_NAME: f"{run_id}-abcde",
        contract.ENV_TRIGGER: "run-now",
        contract.ENV_TIMEOUT_SECONDS: "60",
        contract.ENV_HISTORY_LIMIT: "5",
        "CHRONOS_COREHUB_COMMAND_INTERVAL_SECONDS": "0",
        "KUBECONFIG": KUBECONFIG,
    }
    ran = containers.run(
        tag(images, "runner"),
        env=env,
        mounts=[
            (kube, KUBE_MOUNT, "ro"),
            (termination, contract.TERMINATION_MESSAGE_PATH, "rw"),
        ],
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = [json.loads(line) for line in ran.stdout.splitlines() if line.strip()]
    steps = [line["step"] for line in lines]
    assert steps[0] == "start"
    assert "status" in steps
    assert all(line["level"] != "error" for line in lines), ran.stdout
    assert "s3cret-pw" not in ran.stdout + ran.stderr

    last = get_cr(k8s, namespace, "nightly")["status"]["lastRun"]
    assert (last["runId"], last["result"], last["reason"]) == (run_id, "succeeded", "Succeeded")
    assert (last["trigger"], last["reportedBy"]) == ("run-now", "runner")
    assert [(e["id"], e["result"]) for e in last["entities"]] == [
        ("e1", "succeeded"),
        ("e2", "succeeded"),
    ]
    assert get_cr(k8s, namespace, "nightly")["status"]["history"][0] == last
    assert json.loads(termination.read_text())["runId"] == run_id
    starts = [c for c in fakehub.commands() if c["path"].endswith("/commands/sync/start")]
    assert [dict(c["params"])["entity"] for c in starts] == ["e1", "e2"]


def test_runner_image_without_a_reachable_corehub_reports_the_failure(
    images: BuildReport,
    containers: Containers,
    k8s: Client,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    create(k8s, namespace, "nightly", {**job_spec(), "enabled": False})
    # Certificates inline in the kubeconfig: lightkube writes them to temporary files,
    # so /tmp must be writable (an emptyDir in a pod, a tmpfs here).
    kube = container_kubeconfig(
        cluster, tmp_path / "kube", token=runner_identity(k8s, namespace), inline=True
    )
    env = {
        contract.ENV_TASK: json.dumps(TASK),
        contract.ENV_COREHUB_URL: f"http://127.0.0.1:{free_port()}",
        contract.ENV_COREHUB_USERNAME: "chronos",
        contract.ENV_COREHUB_PASSWORD: "s3cret-pw",
        contract.ENV_JOB_NAME: "nightly",
        contract.ENV_JOB_NAMESPACE: namespace,
        contract.ENV_RUN_ID: "nightly-down",
        contract.ENV_TIMEOUT_SECONDS: "5",
        "KUBECONFIG": KUBECONFIG,
    }
    ran = containers.run(
        tag(images, "runner"), env=env, mounts=[(kube, KUBE_MOUNT, "ro")], tmpfs=("/tmp",)
    )
    assert ran.returncode in (5, 6), ran.stdout + ran.stderr  # Timeout / CoreHubUnreachable
    last = get_cr(k8s, namespace, "nightly")["status"]["lastRun"]
    assert (last["runId"], last["result"]) == ("nightly-down", "failed")


def job_spec() -> dict[str, Any]:
    return spec(task=TASK, schedule={"cron": "0 3 1 1 *"})


def test_operator_image_reconciles_a_chronosjob_into_a_cronjob(
    images: BuildReport,
    containers: Containers,
    k8s: Client,
    cluster: Cluster,
    solo_namespace: str,
    tmp_path: Path,
) -> None:
    # A namespace the session's shared operator leaves alone (it has the CoreHub Secret).
    namespace = solo_namespace
    kube = container_kubeconfig(cluster, tmp_path / "kube")
    port = free_port()
    env = {
        "KUBECONFIG": KUBECONFIG,
        # Only this namespace and a Lease of its own: no contest with other operators.
        "CHRONOS_NAMESPACES": namespace,
        "CHRONOS_LEASE_NAME": f"chronos-image-{uuid.uuid4().hex[:6]}",
        "CHRONOS_LEASE_NAMESPACE": namespace,
        "CHRONOS_LEASE_DURATION_SECONDS": "6",
        "CHRONOS_LEASE_RENEW_SECONDS": "2",
        "CHRONOS_HEALTH_HOST": "127.0.0.1",
        "CHRONOS_HEALTH_PORT": str(port),
        "CHRONOS_COREHUB_URL": "http://127.0.0.1:9",
        "CHRONOS_COREHUB_CREDENTIALS_SECRET": COREHUB_SECRET,
        "CHRONOS_RUNNER_IMAGE": tag(images, "runner"),
    }
    name = containers.start(tag(images, "operator"), env=env, mounts=[(kube, KUBE_MOUNT, "ro")])
    containers.wait_http(name, f"http://127.0.0.1:{port}/readyz")

    create(k8s, namespace, "weekly", job_spec())
    cron_name = wait_for(
        lambda: (get_cr(k8s, namespace, "weekly").get("status") or {}).get("cronJobName"),
        timeout=60,
        what="the operator's status",
    )
    cron = k8s.get(CronJob, cron_name, namespace=namespace).to_dict()
    assert cron["spec"]["schedule"] == "0 3 1 1 *"
    assert cron["spec"]["timeZone"] == "Europe/Rome"
    owner = cron["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("ChronosJob", "weekly")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == tag(images, "runner")
    assert container["command"] == ["python", "-m", "chronos.runner"]
    assert pod["securityContext"]["runAsUser"] == UID
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    status = get_cr(k8s, namespace, "weekly")["status"]
    assert [c["status"] for c in status["conditions"] if c["type"] == "Ready"] == ["True"]

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        assert answer.status == 200
    logs = containers.logs(name)
    assert "Read-only file system" not in logs
    assert "Traceback" not in logs, logs[-4000:]
    assert containers.stop(name) == 0, containers.logs(name)[-4000:]


def test_rest_facade_runs_from_the_operator_image(
    images: BuildReport, containers: Containers, cluster: Cluster, tmp_path: Path
) -> None:
    kube = container_kubeconfig(cluster, tmp_path / "kube")
    port = free_port()
    env = {
        "KUBECONFIG": KUBECONFIG,
        "CHRONOS_API_HOST": "127.0.0.1",
        "CHRONOS_API_PORT": str(port),
        "CHRONOS_API_METRICS_PORT": str(free_port()),
    }
    name = containers.start(
        tag(images, "operator"),
        "-m",
        "chronos.api",
        env=env,
        mounts=[(kube, KUBE_MOUNT, "ro")],
        entrypoint="python",
    )
    containers.wait_http(name, f"http://127.0.0.1:{port}/readyz")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=5) as answer:
        assert json.load(answer)["info"]["title"]
    assert "Read-only file system" not in containers.logs(name)
