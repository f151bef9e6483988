"""The README's first command: `make up` brings the whole system up, `make down` stops it.

The system runs on a real node (containerd, kubelet, kube-proxy): the operator and the REST
facade are Deployments installed with the Helm chart, every run is a runner pod. One
system for the module (an `up` costs ~40-60 s of the machine's two cores; one real node per
machine, so this module must not overlap the real-node fixture of tests/realnode/fixtures.py:
tests/conftest.py runs it first); the tests run in file order and each leaves it healthy
for the next, the last one takes it down and checks that nothing is left on the host.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from chronos import http
from chronos.devcluster import nodehost
from chronos.devcluster.binaries import cache_root, repo_root
from chronos.devcluster.cluster import Cluster, free_port
from chronos.devcluster.screenshots import PAGES
from chronos.devcluster.system import recorded_info
from chronos.fakehub import FakeHubControl
from realnode.updown import devcluster, gone, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE = ("containerd", "kubelet", "kube-proxy", "metrics-server")
SERVICES = ("fakehub", "api-port")
DEPLOYMENTS = ("operator", "api")
PROCESSES = (*CONTROL_PLANE, *NODE, *SERVICES)
FIRST_UP_SECONDS = 900


def recorded_pids(state: Path) -> dict[str, int]:
    pids: dict[str, int] = {}
    for name in ("state.json", "services.json", "node/node.json"):
        pids.update(json.loads((state / name).read_text())["pids"])
    return pids


def status_rows(out: str) -> dict[str, tuple[int, str, str]]:
    """``status`` output as {component: (pid, process, answers)}; a Deployment's row has
    pid 0 and "ready/wanted" for its process."""
    rows = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4 and (parts[1].isdigit() or parts[1] == "-"):
            pid = int(parts[1]) if parts[1].isdigit() else 0
            rows[parts[0]] = (pid, parts[2], parts[3])
    return rows


def base_policies() -> list[str]:
    """The ValidatingAdmissionPolicies of deploy/base, sorted by name."""
    names = []
    for path in sorted((repo_root() / "deploy" / "base").glob("admission-*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ValidatingAdmissionPolicy":
                names.append(doc["metadata"]["name"])
    return sorted(names)


@dataclass
class System:
    state: Path
    api_port: int
    up_output: str
    host_before: nodehost.HostSnapshot
    """Taken before `up` (and before it may start dockerd to build the images)."""

    @property
    def cluster(self) -> Cluster:
        return Cluster(self.state)

    def token(self) -> str:
        return (self.state / "token").read_text().strip()

    def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """A REST call through the fixed loopback port (the relay to the Service)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    state = tmp_path_factory.mktemp("devcluster-up") / "system"
    port = free_port()
    before = nodehost.HostSnapshot.take()
    try:
        # The first `up` on a cold machine builds the images too (measured 5-6 min).
        out = devcluster("up", state=state, api_port=port, timeout=FIRST_UP_SECONDS).stdout
        yield System(state, port, out, before)
    finally:
        # Also after an `up` that failed or timed out: its node must not outlive it, or
        # every later real-node test finds "a real node already runs".
        if state.exists():
            devcluster("down", state=state, check=(state / "state.json").exists())


def leftovers(system: System) -> list[str]:
    state = system.state
    return nodehost.leftovers(
        system.host_before, (state / "node", cache_root() / "containerd"), (str(state),)
    )


def pods(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    """The pods of ``namespace`` not being deleted: a replaced operator pod may still
    hold the Lease while it terminates (a cold CI run picked one to kill, and it was
    gone by then)."""
    items: list[dict[str, Any]] = json.loads(
        cluster.kubectl("get", "pods", "-n", namespace, "-o", "json")
    )["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def test_up_runs_the_sample_and_serves_the_api_on_the_configured_port(system: System) -> None:
    out, state, cluster = system.up_output, system.state, system.cluster
    api = re.search(r"REST API:\s+(http://127\.0\.0\.1:(\d+))", out)
    assert api, out
    assert int(api.group(2)) == system.api_port  # from CHRONOS_DEVCLUSTER_API_PORT
    assert "CHRONOS_DEVCLUSTER_API_PORT" in out  # the output names the knob
    assert "Reusing the state" not in out  # a fresh folder: nothing to reuse
    assert system.token() in out
    # The dashboard, served by the API pods from the operator image (templates packaged).
    assert f"Dashboard:  {api.group(1)}/ui/" in out
    with http.Client(timeout=30) as browser:
        signed_in = browser.post(f"{api.group(1)}/ui/login", data={"token": system.token()})
        assert signed_in.status_code == 303, signed_in.text
        assert (
            "system:serviceaccount:default:chronos-demo" in browser.get(f"{api.group(1)}/ui/").text
        )

    def last_result() -> str:
        return cluster.kubectl(
            "get", "chronosjob", "morning-sync", "-o", "jsonpath={.status.lastRun.result}"
        )

    assert wait_until("the sample's first run", lambda: last_result() or None) == "succeeded"
    status, listing = system.api("GET", "/api/jobs")
    assert status == 200, listing
    assert [job["id"] for job in listing["items"]] == ["morning-sync"]
    assert listing["items"][0]["cron_expression"] == "30 8 * * 1,3,5"
    assert set(recorded_pids(state)) == set(PROCESSES)


def test_the_screenshots_script_follows_a_real_run_of_the_sample(
    system: System, tmp_path: Path
) -> None:
    """``python -m chronos.devcluster.screenshots`` (docs/ui.md) on this system, with what
    `up` recorded: it runs the sample now and shoots every page, the run's with the pod's
    own log (the demo account may read pod logs); it leaves the fake CoreHub as it was."""
    out = devcluster(
        "--out", str(tmp_path), state=system.state, module="chronos.devcluster.screenshots"
    )
    shots = {p.stem: p.read_bytes() for p in tmp_path.glob("*.png")}
    assert set(shots) == set(PAGES)
    assert all(png.startswith(b"\x89PNG") and len(png) > 10_000 for png in shots.values())
    assert "the run: ✓ Succeeded" in out.stdout, out.stdout
    assert "log Source: the log of pod morning-sync-now-" in out.stdout, out.stdout
    recorded = recorded_info(system.state)
    assert recorded is not None
    with FakeHubControl(recorded.corehub_url) as control:
        assert control.faults() == []  # the latency fault is gone
    # it made the run last: two commands, each answered 8 s late
    last = json.loads(system.cluster.kubectl("get", "chronosjob", "morning-sync", "-o", "json"))[
        "status"
    ]["lastRun"]
    assert last["trigger"] == "run-now"
    assert last["durationSeconds"] > 16


def test_the_operator_and_api_are_pods_of_the_helm_release_and_runs_are_pods(
    system: System,
) -> None:
    cluster = system.cluster
    release = pods(cluster, "chronos")
    by_component: dict[str, list[str]] = {}
    for pod in release:
        labels = pod["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["nodeName"] == "chronos-node"
        images = [c["image"] for c in pod["spec"]["containers"]]
        assert images == ["chronos-operator:0.1.0"]
        by_component.setdefault(labels["app.kubernetes.io/component"], []).append(
            pod["metadata"]["name"]
        )
    assert {k: len(v) for k, v in by_component.items()} == {"operator": 2, "api": 2}
    # `kubectl get pods` lists real pods; `kubectl logs` reads a runner pod's log.
    listing = cluster.kubectl("get", "pods", "-A")
    assert all(name in listing for names in by_component.values() for name in names)
    run_id = cluster.kubectl(
        "get", "chronosjob", "morning-sync", "-o", "jsonpath={.status.lastRun.runId}"
    )
    runner = [
        p
        for p in pods(cluster, "default")
        if p["metadata"]["labels"].get("batch.kubernetes.io/job-name") == run_id
    ]
    assert [p["spec"]["containers"][0]["image"] for p in runner] == ["chronos-runner:0.1.0"]
    log = cluster.kubectl("logs", "-n", "default", runner[0]["metadata"]["name"])
    assert run_id in log
    assert '"step": "result"' in log
    # The chart's admission policies are installed and enforced: the demo account (an
    # editor, who may not read Secrets) cannot make a job use the CoreHub Secret.
    policies = cluster.kubectl("get", "validatingadmissionpolicies", "-o", "name").split()
    # The release is named chronos, so its policies have deploy/base's names.
    assert sorted(policies) == [
        f"validatingadmissionpolicy.admissionregistration.k8s.io/{name}" for name in base_policies()
    ]
    job = {
        "apiVersion": "chronos.gluesync.io/v1alpha1",
        "kind": "ChronosJob",
        "metadata": {"name": "borrowed-secret", "namespace": "default"},
        "spec": {
            "task": {"type": "pipeline_stop", "pipelineId": "p1"},
            "schedule": {"cron": "0 3 * * *"},
            "coreHub": {"credentialsSecretRef": {"name": "corehub-credentials"}},
        },
    }
    admin = json.loads(cluster.kubectl("config", "view", "--raw", "-o", "json"))
    demo = {
        **admin,
        "users": [{"name": "demo", "user": {"token": system.token()}}],
        "contexts": [{"name": "demo", "context": {"cluster": "chronos-dev", "user": "demo"}}],
        "current-context": "demo",
    }
    demo_config = system.state / "demo.kubeconfig.tmp"
    demo_config.write_text(json.dumps(demo))
    try:
        denied = subprocess.run(
            [
                str(cluster.bin_dir / "kubectl"),
                "--kubeconfig",
                str(demo_config),
                "create",
                "-f",
                "-",
            ],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        demo_config.unlink()
    assert denied.returncode != 0
    assert "chronos-secret-references" in denied.stderr, denied.stderr


def test_status_reports_every_component_running_and_answering(system: System) -> None:
    out = devcluster("status", state=system.state)
    rows = status_rows(out.stdout)
    assert list(rows) == [*PROCESSES, *DEPLOYMENTS], out.stdout
    pids = recorded_pids(system.state)
    for name in PROCESSES:
        assert rows[name] == (pids[name], "running", "yes"), out.stdout
    for name in DEPLOYMENTS:
        assert rows[name] == (0, "2/2", "yes"), out.stdout
    assert out.returncode == 0


def test_secrets_in_the_state_folder_are_owner_only(system: System) -> None:
    """Keys, kubeconfigs and tokens are 0600, folders holding them 0700. The node's own
    trees (the kubelet's pod volumes, containerd's state) are the kubelet's business and
    sit inside the 0700 state folder."""
    state = system.state
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    token = system.token()
    secret_like: list[Path] = []
    node_trees = {"kubelet", "containerd", "cni", "pod-logs", "kubelet-pki"}
    paths: list[Path] = []
    # Walked rather than globbed: the node's trees change under a running node (a
    # finished task's folder vanishes), so they are pruned before they are entered.
    for root, dirs, files in os.walk(state):
        here = Path(root)
        if here == state / "node":
            dirs[:] = [d for d in dirs if d not in node_trees]
        paths += [here / name for name in dirs + files]
    for path in paths:
        parts = path.relative_to(state).parts
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir() and path.name in {"pki", "logs"}:
            assert mode == 0o700, f"{path}: {oct(mode)}"
        if not path.is_file() or "etcd" in parts:
            continue
        head = path.read_bytes()[:200_000]
        # Found by content, so that a new kind of secret file is covered too.
        if (
            b"PRIVATE KEY" in head
            or b"client-key" in head
            or b'"token"' in head
            or head.startswith(b"eyJ")
            or token.encode() in head
        ):
            secret_like.append(path)
            assert mode == 0o600, f"{path} holds a secret but is {oct(mode)}"
    names = {p.name for p in secret_like}
    assert {"admin.kubeconfig", "kcm.kubeconfig", "ca.key", "sa.key", "token"} <= names
    assert {"kubelet.kubeconfig", "kubelet.key", "kube-proxy.key"} <= names


def test_status_tells_which_component_died_and_up_restarts_only_those(system: System) -> None:
    state, cluster = system.state, system.cluster
    before = recorded_pids(state)
    killed = ("kube-controller-manager", "kubelet", "fakehub")
    for name in killed:
        os.killpg(before[name], signal.SIGKILL)
    cluster.kubectl("delete", "deployment", "-n", "chronos", "chronos-operator", "--wait=false")
    deadline = time.monotonic() + 10
    while not all(gone(before[name]) for name in killed):
        assert time.monotonic() < deadline
        time.sleep(0.1)

    out = devcluster("status", state=state, check=False)
    assert out.returncode == 1, out.stdout
    rows = status_rows(out.stdout)
    for name in killed:
        assert rows[name] == (before[name], "dead", "no"), out.stdout
    assert rows["operator"][2] == "no", out.stdout
    alive = [n for n in PROCESSES if n not in killed]
    for name in alive:
        assert rows[name] == (before[name], "running", "yes"), out.stdout

    up = devcluster("up", state=state, api_port=system.api_port).stdout
    assert "Restarted kube-controller-manager, kubelet, fakehub, operator;" in up, up
    after = recorded_pids(state)
    for name in alive:
        assert after[name] == before[name], f"{name} was restarted but had not died"
    for name in killed:
        assert after[name] != before[name]
    assert f"REST API:   http://127.0.0.1:{system.api_port}" in up  # same port again
    healthy = devcluster("status", state=state)
    assert all(row[2] == "yes" for row in status_rows(healthy.stdout).values()), healthy.stdout

    again = devcluster("up", state=state, api_port=system.api_port).stdout
    assert "Already running" in again
    assert recorded_pids(state) == after


def scheduled_slots(system: System, job_id: str) -> list[int]:
    status, history = system.api("GET", f"/api/jobs/{job_id}/history?limit=100")
    assert status == 200, history
    assert all(h["result"] == "succeeded" for h in history["items"]), history
    # A CronJob names each Job <cronjob>-<scheduled minute since the epoch>.
    return sorted(
        int(h["run_id"].rsplit("-", 1)[1]) for h in history["items"] if h["trigger"] == "schedule"
    )


def test_killing_an_api_pod_and_an_operator_pod_loses_no_write_and_no_run(
    system: System,
) -> None:
    """High availability as a user runs it: two REST facade replicas behind their Service,
    two operator replicas with a leader Lease. Under steady REST traffic one API pod and
    the leading operator pod are killed: every write lands, no request fails beyond one
    client retry, and a every-minute schedule keeps getting its runs recorded."""
    cluster = system.cluster
    status, every = system.api(
        "POST",
        "/api/jobs",
        {
            "name": "Every minute",
            "task_type": "pipeline_stop",
            "cron_expression": "* * * * *",
            "pipeline_id": "pipeline-123",
        },
    )
    assert status == 201, every
    first = wait_until(
        "the first scheduled run", lambda: scheduled_slots(system, every["id"]), timeout=130
    )

    def call(method: str, path: str, body: object = None) -> tuple[int, Any, int]:
        """One request and at most one retry (a connection the killed pod held)."""
        for attempt in (1, 2):
            try:
                code, answer = system.api(method, path, body)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                code, answer = 0, str(exc)
            if code < 500 and code != 0:
                return code, answer, attempt
        return code, answer, attempt

    def leader() -> str | None:
        """The operator pod holding the Lease, once it is one of the current pods (after
        a fresh `up` rolls the pods, a gone pod's Lease must expire first)."""
        holder = (
            json.loads(
                cluster.kubectl("get", "lease", "-n", "chronos", "chronos-operator", "-o", "json")
            )["spec"].get("holderIdentity")
            or ""
        )
        current = [
            p["metadata"]["name"]
            for p in pods(cluster, "chronos")
            if p["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
        ]
        return next((name for name in current if name in holder), None)

    victim = wait_until("a current operator pod to lead", leader, timeout=60)
    api_pod = sorted(
        p["metadata"]["name"]
        for p in pods(cluster, "chronos")
        if p["metadata"]["labels"]["app.kubernetes.io/component"] == "api"
    )[0]
    created: list[str] = []
    failures: list[str] = []
    retries = 0
    for i in range(60):
        if i == 5:
            cluster.kubectl("delete", "pod", "-n", "chronos", api_pod, victim, "--wait=false")
        code, job, attempts = call(
            "POST",
            "/api/jobs",
            {
                "name": f"HA {i}",
                "task_type": "pipeline_stop",
                "cron_expression": "0 3 * * *",
                "pipeline_id": "pipeline-123",
            },
        )
        retries += attempts - 1
        if code == 409 and attempts == 2:  # the first attempt landed, its answer did not
            code, job, _ = call("GET", f"/api/jobs/ha-{i}")
        if code not in (200, 201):
            failures.append(f"create {i}: {code} {job}")
            continue
        created.append(job["id"])
        code, read, attempts = call("GET", f"/api/jobs/{job['id']}")
        retries += attempts - 1
        if code != 200 or read["name"] != f"HA {i}":
            failures.append(f"read {i}: {code} {read}")
        time.sleep(0.3)
    assert failures == [], failures
    assert len(created) == 60
    # No lost write: each is in the cluster, and listed by whichever replica answers.
    stored = set(cluster.kubectl("get", "chronosjobs", "-n", "default", "-o", "name").split())
    assert {f"chronosjob.chronos.gluesync.io/{name}" for name in created} <= stored
    _, listing, _ = call("GET", "/api/jobs?limit=1000")
    assert set(created) <= {job["id"] for job in listing["items"]}
    # The replacements came up, and another operator replica leads.
    wait_until(
        "both Deployments back at 2 ready",
        lambda: all(
            row[1] == "2/2"
            for name, row in status_rows(
                devcluster("status", state=system.state, check=False).stdout
            ).items()
            if name in DEPLOYMENTS
        ),
    )
    # The killed leader's Lease must expire before a standby takes it: wait for that.
    wait_until("another operator replica to lead", lambda: (leader() or victim) != victim)
    # The schedule was not disturbed: the runs go on, one per minute, none missed.
    later = wait_until(
        "a scheduled run after the kills",
        lambda: [s for s in scheduled_slots(system, every["id"]) if s > first[-1]] or None,
        timeout=130,
    )
    slots = scheduled_slots(system, every["id"])
    assert slots[-1] > first[-1], later
    assert slots == list(range(slots[0], slots[-1] + 1)), slots  # one run per minute
    print(f"\n[ha] {len(created)} writes, {retries} client retries, runs at {slots}")
    system.api("DELETE", f"/api/jobs/{every['id']}")


def test_down_keeps_the_state_up_says_so_and_purge_deletes_it(system: System) -> None:
    state = system.state
    cluster = Cluster(state)
    cluster.kubectl("create", "namespace", "kept")
    jobs = len(cluster.kubectl("get", "chronosjobs", "-A", "-o", "name").split())
    pids = recorded_pids(state)
    started = time.monotonic()
    down = devcluster("down", state=state)
    took = time.monotonic() - started
    assert all(gone(pid) for pid in pids.values())
    assert not (state / "state.json").exists()
    assert "state kept" in down.stdout
    # Nothing of the node is left on the host: processes, mounts, netns, the bridge,
    # iptables chains, cgroups, host paths; the sysctls are as before `up` (which may have
    # started dockerd to build the images: it must not leave ip_forward on either).
    assert leftovers(system) == []
    assert took < 40, f"make down took {took:.1f}s"

    stopped = devcluster("status", state=state, check=False)
    assert stopped.returncode == 1
    assert "make clean-state" in stopped.stdout

    up = devcluster("up", state=state, api_port=system.api_port).stdout
    notice = re.search(
        r"Reusing the state of an earlier `make up` \(last written ([^)]+)\): "
        r"(\d+) ChronosJob",
        up,
    )
    assert notice, up
    assert int(notice.group(2)) == jobs  # the sample and the ones made through the API
    assert "make clean-state" in up
    assert "kept" in cluster.kubectl("get", "namespaces", "-o", "name")

    purged = devcluster("down", "--purge", state=state)
    assert "state deleted" in purged.stdout
    assert not state.exists()
    assert leftovers(system) == []


def test_a_busy_api_port_fails_at_once_naming_the_variable(tmp_path: Path) -> None:
    state = tmp_path / "system"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        out = devcluster("up", state=state, api_port=port, check=False)
    assert out.returncode != 0
    assert f"port {port}" in out.stderr
    assert "CHRONOS_DEVCLUSTER_API_PORT" in out.stderr
    assert time.monotonic() - started < 10  # before starting anything
    assert not (state / "state.json").exists()


def test_purge_refuses_a_folder_that_devcluster_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("years of work")
    out = devcluster("down", "--purge", state=tmp_path, check=False)
    assert out.returncode != 0
    assert "thesis.tex" in out.stderr
    assert (tmp_path / "thesis.tex").exists()
