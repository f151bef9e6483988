"""The README's first command: `make up` brings the whole system up on a kind cluster built
here, `make down` deletes it.

The operator and the REST facade are Deployments installed with the Helm chart, every run
is a runner pod, names resolve through cluster DNS, metrics-server serves pod metrics. One
system for the module (tests/conftest.py runs it first, before the session's own kind
cluster and the image tests share the Docker engine); the tests run in file order and
each leaves it healthy for the next; the last ones take it down and check that nothing is
left on the host.
"""

from __future__ import annotations

import json
import os
import re
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
from chronos.devcluster import binaries, images, kindcluster, kindnet
from chronos.devcluster.binaries import repo_root
from chronos.devcluster.cluster import free_port, port_in_use
from chronos.devcluster.processes import load
from chronos.devcluster.screenshots import PAGES
from chronos.devcluster.system import NODE_PORT, KindTarget, recorded
from chronos.fakehub import FakeHubControl
from realnode.updown import devcluster, gone, user_kubeconfig, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]
#: The rows of `status`, in order.
COMPONENTS = ("node", "fakehub", "operator", "api", "api-port")
DEPLOYMENTS = ("operator", "api")
#: `make test` builds the node image and the images first (`python -m chronos.devcluster
#: build`); an `up` on a machine where that did not run builds them itself.
FIRST_UP_SECONDS = 1800
NODE = kindcluster.node_name(kindcluster.CLUSTER)


def status_rows(out: str) -> dict[str, tuple[str, str]]:
    """``status`` output as {component: (state, answers)}."""
    rows = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[0] in COMPONENTS:
            rows[parts[0]] = (parts[1], parts[2])
    return rows


def base_policies() -> list[str]:
    """The ValidatingAdmissionPolicies of deploy/base, sorted by name."""
    names = []
    for path in sorted((repo_root() / "deploy" / "base").glob("admission-*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ValidatingAdmissionPolicy":
                names.append(doc["metadata"]["name"])
    return sorted(names)


def host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


@dataclass
class System:
    state: Path
    api_port: int
    up_output: str
    links_before: set[str]

    @property
    def cluster(self) -> KindTarget:
        return KindTarget(self.state, binaries.ensure_binaries())

    def token(self) -> str:
        return (self.state / "token").read_text().strip()

    def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """A REST call through the fixed loopback port (kind's mapping of the NodePort)."""
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
    links = host_links()
    try:
        out = devcluster("up", state=state, api_port=port, timeout=FIRST_UP_SECONDS).stdout
        yield System(state, port, out, links)
    finally:
        # Also after an `up` that failed: the cluster must not outlive the module.
        devcluster("down", state=state, check=False)


def pods(cluster: KindTarget, namespace: str) -> list[dict[str, Any]]:
    """The pods of ``namespace`` not being deleted: a replaced operator pod may still
    hold the Lease while it terminates (a cold CI run picked one to kill, and it was
    gone by then)."""
    items: list[dict[str, Any]] = json.loads(
        cluster.kubectl("get", "pods", "-n", namespace, "-o", "json")
    )["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def pod_python(cluster: KindTarget, deployment: str, code: str) -> str:
    return cluster.kubectl(
        "exec", "-n", "chronos", f"deploy/{deployment}", "--", "python", "-c", code
    )


def test_up_runs_the_sample_and_serves_the_api_on_the_configured_port(system: System) -> None:
    out, cluster = system.up_output, system.cluster
    api = re.search(r"REST API:\s+(http://127\.0\.0\.1:(\d+))", out)
    assert api, out
    assert int(api.group(2)) == system.api_port  # from CHRONOS_DEVCLUSTER_API_PORT
    assert "CHRONOS_DEVCLUSTER_API_PORT" in out  # the output names the knob
    assert f"kind cluster {kindcluster.CLUSTER!r} (created in" in out
    # kind's context in the user's kubeconfig, as for any kind user.
    assert "kubectl --context kind-chronos" in out
    kubectl = [str(cluster.bin_dir / "kubectl"), "--kubeconfig", str(user_kubeconfig(system.state))]
    nodes = subprocess.run(
        [*kubectl, "--context", "kind-chronos", "get", "nodes", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert nodes.split() == [f"node/{NODE}"]
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
    # The facade's Service is the NodePort kind publishes on the host.
    service = json.loads(
        cluster.kubectl("get", "service", "-n", "chronos", "chronos-api", "-o", "json")
    )
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == NODE_PORT


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
    info = recorded(system.cluster)
    assert info is not None
    assert info.api_url == f"http://127.0.0.1:{system.api_port}"
    with FakeHubControl(info.corehub_url) as control:
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
        assert pod["spec"]["nodeName"] == NODE
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
        "contexts": [
            {"name": "demo", "context": {"cluster": admin["clusters"][0]["name"], "user": "demo"}}
        ],
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


def test_the_operator_and_the_facade_resolve_names_through_cluster_dns(
    system: System,
) -> None:
    target = system.cluster
    dns_ip = target.kubectl(
        "get", "service", "-n", "kube-system", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"
    )
    api_ip = target.kubectl(
        "get", "service", "-n", "chronos", "chronos-api", "-o", "jsonpath={.spec.clusterIP}"
    )
    code = (
        "import socket; print(open('/etc/resolv.conf').read());"
        "print('api', socket.gethostbyname('chronos-api.chronos.svc.cluster.local'));"
        "print('kubernetes', socket.gethostbyname('kubernetes.default'))"
    )
    for deployment in ("chronos-operator", "chronos-api"):
        out = pod_python(target, deployment, code)
        assert f"nameserver {dns_ip}" in out, (deployment, out)
        assert "search chronos.svc.cluster.local" in out, (deployment, out)
        assert f"api {api_ip}" in out, (deployment, out)
        assert "kubernetes 10.96.0.1" in out, (deployment, out)


def test_metrics_server_serves_the_pods_metrics(system: System) -> None:
    target = system.cluster

    def api_pod_metrics() -> list[Any] | None:
        raw = target.kubectl(
            "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/chronos/pods", check=False
        )
        try:
            items = json.loads(raw)["items"]
        except (ValueError, KeyError):
            return None
        return items or None

    items = wait_until("pod metrics of the chronos namespace", api_pod_metrics, timeout=120)
    names = {item["metadata"]["name"] for item in items}
    assert any(name.startswith("chronos-api-") for name in names), names


def test_status_reports_every_component_running_and_answering(system: System) -> None:
    out = devcluster("status", state=system.state)
    rows = status_rows(out.stdout)
    assert list(rows) == list(COMPONENTS), out.stdout
    assert rows["node"] == ("Ready", "yes"), out.stdout
    assert rows["fakehub"] == ("running", "yes"), out.stdout
    for name in DEPLOYMENTS:
        assert rows[name] == ("2/2", "yes"), out.stdout
    assert rows["api-port"] == ("published", "yes"), out.stdout
    assert out.returncode == 0


def test_secrets_in_the_state_folder_are_owner_only(system: System) -> None:
    """The kubeconfig, the token and anything else holding a secret are 0600, in a 0700
    folder."""
    state = system.state
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    token = system.token()
    secret_like: list[Path] = []
    for root, _, files in os.walk(state):
        for name in files:
            path = Path(root) / name
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
                mode = stat.S_IMODE(path.lstat().st_mode)
                assert mode == 0o600, f"{path} holds a secret but is {oct(mode)}"
    assert {"kubeconfig", "token"} <= {p.name for p in secret_like}


def test_status_tells_what_died_and_up_restarts_only_that(system: System) -> None:
    state, cluster = system.state, system.cluster
    (hub,) = load(cluster.services_file)
    os.killpg(hub.pid, 9)
    cluster.kubectl("delete", "deployment", "-n", "chronos", "chronos-operator", "--wait=false")
    wait_until("the fake CoreHub to die", lambda: gone(hub.pid), timeout=10, every=0.1)
    api_pods = sorted(
        p["metadata"]["name"]
        for p in pods(cluster, "chronos")
        if p["metadata"]["labels"]["app.kubernetes.io/component"] == "api"
    )

    out = devcluster("status", state=state, check=False)
    assert out.returncode == 1, out.stdout
    rows = status_rows(out.stdout)
    assert rows["fakehub"] == ("dead", "no"), out.stdout
    assert rows["operator"][1] == "no", out.stdout
    for name in ("node", "api", "api-port"):
        assert rows[name][1] == "yes", out.stdout
    assert "fakehub, operator do not answer" in out.stdout

    up = devcluster("up", state=state, api_port=system.api_port).stdout
    assert "(reused; restarted fakehub, operator;" in up, up
    assert f"REST API:   http://127.0.0.1:{system.api_port}" in up  # same port again
    (new_hub,) = load(cluster.services_file)
    assert new_hub.pid != hub.pid
    # The facade's pods were answering: `up` left them alone.
    assert api_pods == sorted(
        p["metadata"]["name"]
        for p in pods(cluster, "chronos")
        if p["metadata"]["labels"]["app.kubernetes.io/component"] == "api"
    )
    healthy = devcluster("status", state=state)
    assert all(row[1] == "yes" for row in status_rows(healthy.stdout).values()), healthy.stdout

    again = devcluster("up", state=state, api_port=system.api_port).stdout
    assert "(reused; up in" in again, again
    assert load(cluster.services_file)[0].pid == new_hub.pid


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
            row[0] == "2/2"
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


def test_down_deletes_the_cluster_and_leaves_nothing(system: System) -> None:
    state = system.state
    (hub,) = load(system.cluster.services_file)
    engine = images.engine_dir()
    started = time.monotonic()
    down = devcluster("down", state=state)
    took = time.monotonic() - started
    assert f"kind cluster {kindcluster.CLUSTER!r} deleted" in down.stdout, down.stdout
    assert took < 60, f"make down took {took:.1f}s"
    assert gone(hub.pid)
    assert not port_in_use(system.api_port)
    # The network, its bridge and the node's veth went with the cluster, and the guard
    # with the network; nothing else ran in the engine, so it stopped.
    assert {
        n for n in host_links() - system.links_before if n.startswith(("br-", "veth", "chronos"))
    } == set()
    assert kindnet.BRIDGE not in host_links()
    assert not kindnet.guarded()
    assert not (engine / "docker.sock").exists()
    assert not (engine / "dockerd.pid").exists() or gone(
        int((engine / "dockerd.pid").read_text() or 0)
    )
    assert not state.exists()  # its kubeconfig, token and logs named a deleted cluster
    # kind took its context out of the user's kubeconfig again.
    assert "kind-chronos" not in user_kubeconfig(state).read_text()

    stopped = devcluster("status", state=state, check=False)
    assert stopped.returncode == 1
    assert "`make up` creates it" in stopped.stdout


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
    assert time.monotonic() - started < 30  # before creating anything
    assert not (state / "token").exists()


def test_down_keeps_a_folder_that_devcluster_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("years of work")
    devcluster("down", state=tmp_path)
    assert (tmp_path / "thesis.tex").read_text() == "years of work"
