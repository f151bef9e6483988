"""The README's first command: `make up` brings the whole system up, `make down` stops it.

One system for the module (an `up` costs ~15 s of the machine's two cores); the tests
run in file order and each leaves it healthy for the next, the last one takes it down.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chronos.devcluster.cluster import Cluster, free_port

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[1]
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager")
SERVICES = ("fakehub", "nodeagent", "operator", "api")


def devcluster(
    *args: str, state: Path, api_port: int | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHRONOS_DEVCLUSTER_DIR": str(state)}
    env.pop("CHRONOS_DEVCLUSTER_API_PORT", None)
    if api_port is not None:
        env["CHRONOS_DEVCLUSTER_API_PORT"] = str(api_port)
    out = subprocess.run(
        [sys.executable, "-m", "chronos.devcluster", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check and out.returncode != 0:
        raise AssertionError(f"devcluster {args} failed ({out.returncode}):\n{out.stderr}")
    return out


def recorded_pids(state: Path) -> dict[str, int]:
    pids: dict[str, int] = {}
    for name in ("state.json", "services.json"):
        pids.update(json.loads((state / name).read_text())["pids"])
    return pids


def status_rows(out: str) -> dict[str, tuple[int, str, str]]:
    """``status`` output as {component: (pid, process, answers)}."""
    rows = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4 and parts[1].isdigit():
            rows[parts[0]] = (int(parts[1]), parts[2], parts[3])
    return rows


def gone(pid: int) -> bool:
    path = Path(f"/proc/{pid}/status")
    return not path.exists() or "zombie" in path.read_text().lower()


@dataclass
class System:
    state: Path
    api_port: int
    up_output: str


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    state = tmp_path_factory.mktemp("devcluster-up") / "system"
    port = free_port()
    out = devcluster("up", state=state, api_port=port).stdout
    try:
        yield System(state, port, out)
    finally:
        if (state / "state.json").exists():
            devcluster("down", state=state)


def test_up_runs_the_sample_and_serves_the_api_on_the_configured_port(system: System) -> None:
    out, state = system.up_output, system.state
    api = re.search(r"REST API:\s+(http://127\.0\.0\.1:(\d+))", out)
    assert api, out
    assert int(api.group(2)) == system.api_port  # from CHRONOS_DEVCLUSTER_API_PORT
    assert "CHRONOS_DEVCLUSTER_API_PORT" in out  # the output names the knob
    assert "Reusing the state" not in out  # a fresh folder: nothing to reuse
    token = (state / "token").read_text()
    assert token in out
    cluster = Cluster(state)
    deadline = time.monotonic() + 90
    result = ""
    while time.monotonic() < deadline and result != "succeeded":
        result = cluster.kubectl(
            "get", "chronosjob", "morning-sync", "-o", "jsonpath={.status.lastRun.result}"
        )
        time.sleep(1)
    assert result == "succeeded", "the sample job's first run did not succeed"

    request = urllib.request.Request(
        f"{api.group(1)}/api/jobs", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        listing = json.loads(response.read())
    assert [job["id"] for job in listing["items"]] == ["morning-sync"]
    assert listing["items"][0]["cron_expression"] == "30 8 * * 1,3,5"
    assert set(recorded_pids(state)) == {*CONTROL_PLANE, *SERVICES}


def test_status_reports_every_component_running_and_answering(system: System) -> None:
    out = devcluster("status", state=system.state)
    rows = status_rows(out.stdout)
    assert list(rows) == [*CONTROL_PLANE, *SERVICES], out.stdout
    pids = recorded_pids(system.state)
    for name, (pid, process, answers) in rows.items():
        assert (pid, process, answers) == (pids[name], "running", "yes"), out.stdout
    assert out.returncode == 0


def test_secrets_in_the_state_folder_are_owner_only(system: System) -> None:
    """Keys, kubeconfigs and tokens (the pods' too) are 0600, folders holding them 0700."""
    state = system.state
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    token = (state / "token").read_text().strip()
    pod_tokens = list((state / "nodeagent" / "pods").glob("*/*/serviceaccount/token"))
    assert pod_tokens, "the sample run left no pod folder to check"
    secret_like: list[Path] = []
    for path in state.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir() and path.name in {"pki", "nodeagent", "serviceaccount", "logs"}:
            assert mode == 0o700, f"{path}: {oct(mode)}"
        if not path.is_file() or "etcd" in path.relative_to(state).parts:
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
    assert set(pod_tokens) <= set(secret_like)
    assert any(p.name == "kubeconfig" for p in secret_like)  # the pods' kubeconfigs


def test_status_tells_which_component_died_and_up_restarts_only_those(system: System) -> None:
    state = system.state
    before = recorded_pids(state)
    for name in ("operator", "kube-controller-manager"):
        os.killpg(before[name], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not (gone(before["operator"]) and gone(before["kube-controller-manager"])):
        assert time.monotonic() < deadline
        time.sleep(0.1)

    out = devcluster("status", state=state, check=False)
    assert out.returncode == 1, out.stdout
    rows = status_rows(out.stdout)
    assert rows["operator"] == (before["operator"], "dead", "no"), out.stdout
    assert rows["kube-controller-manager"][1:] == ("dead", "no"), out.stdout
    for name in ("etcd", "kube-apiserver", "fakehub", "nodeagent", "api"):
        assert rows[name] == (before[name], "running", "yes"), out.stdout

    up = devcluster("up", state=state, api_port=system.api_port).stdout
    assert "Restarted kube-controller-manager, operator;" in up, up
    after = recorded_pids(state)
    for name in ("etcd", "kube-apiserver", "fakehub", "nodeagent", "api"):
        assert after[name] == before[name], f"{name} was restarted but had not died"
    for name in ("operator", "kube-controller-manager"):
        assert after[name] != before[name]
    assert f"REST API:   http://127.0.0.1:{system.api_port}" in up  # same port again
    healthy = devcluster("status", state=state)
    assert all(row[1:] == ("running", "yes") for row in status_rows(healthy.stdout).values())

    again = devcluster("up", state=state, api_port=system.api_port).stdout
    assert "Already running" in again
    assert recorded_pids(state) == after


def test_down_keeps_the_state_up_says_so_and_purge_deletes_it(system: System) -> None:
    state = system.state
    cluster = Cluster(state)
    cluster.kubectl("create", "namespace", "kept")
    pids = recorded_pids(state)
    started = time.monotonic()
    down = devcluster("down", state=state)
    took = time.monotonic() - started
    assert all(gone(pid) for pid in pids.values())
    assert not (state / "state.json").exists()
    assert "state kept" in down.stdout
    assert took < 8, f"make down took {took:.1f}s"  # it took ~20 s with Kopf's 5 s wait

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
    assert notice.group(2) == "1"  # the sample, created by the first `up`
    assert "make clean-state" in up
    assert "kept" in cluster.kubectl("get", "namespaces", "-o", "name")

    purged = devcluster("down", "--purge", state=state)
    assert "state deleted" in purged.stdout
    assert not state.exists()


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
