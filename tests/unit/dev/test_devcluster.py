"""Pure parts of `make up`: the REST port setting, owner-only files, the recorded state,
metrics-server's flags."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from chronos.devcluster import metrics, processes
from chronos.devcluster.cluster import ClusterError
from chronos.devcluster.files import private_dir, write_private
from chronos.devcluster.system import DEFAULT_API_PORT, api_port, rolled_out


def test_the_rest_port_is_fixed_unless_the_variable_or_the_flag_says_otherwise() -> None:
    assert api_port(None, {}) == DEFAULT_API_PORT == 8088
    assert api_port(None, {"CHRONOS_DEVCLUSTER_API_PORT": "9000"}) == 9000
    assert api_port(None, {"CHRONOS_DEVCLUSTER_API_PORT": " "}) == DEFAULT_API_PORT
    assert api_port(7000, {"CHRONOS_DEVCLUSTER_API_PORT": "9000"}) == 7000


@pytest.mark.parametrize("raw", ["http", "0", "70000", "-1"])
def test_a_bad_port_variable_is_named_in_the_error(raw: str) -> None:
    with pytest.raises(ClusterError, match=f"CHRONOS_DEVCLUSTER_API_PORT={raw!r}"):
        api_port(None, {"CHRONOS_DEVCLUSTER_API_PORT": raw})


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o000)  # the worst case: everything world-writable by default
    yield
    os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_private_files_are_0600_from_the_start_and_tightened_when_they_exist(
    tmp_path: Path,
) -> None:
    fresh = write_private(tmp_path / "token", "secret")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert fresh.read_text() == "secret"
    old = tmp_path / "kubeconfig"
    old.write_text("a much longer old content")
    old.chmod(0o644)
    write_private(old, b"new")
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert old.read_bytes() == b"new"
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    assert stat.S_IMODE(private_dir(folder).stat().st_mode) == 0o700
    assert stat.S_IMODE(private_dir(tmp_path / "a" / "b").stat().st_mode) == 0o700


def test_components_round_trip_and_older_state_files_still_load(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    component = processes.Component(
        name="api", argv=["python", "-m", "chronos.api"], health="http://x", env={"A": "1"}
    )
    component.pid = 42
    processes.save(path, [component])
    assert processes.load(path) == [component]
    assert json.loads(path.read_text())["pids"] == {"api": 42}
    # Written before components were recorded: pids only, stoppable, not restartable.
    path.write_text(json.dumps({"fakehub": 7, "api": 8}))
    assert [(c.name, c.pid, c.argv) for c in processes.load(path)] == [
        ("fakehub", 7, []),
        ("api", 8, []),
    ]
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"pids": {"etcd": 5}, "server": "https://127.0.0.1:1"}))
    assert [(c.name, c.pid) for c in processes.load(state)] == [("etcd", 5)]
    assert processes.load(tmp_path / "missing.json") == []


def deployment(generation: int, **status: int) -> dict[str, object]:
    return {"metadata": {"generation": generation}, "spec": {"replicas": 2}, "status": status}


def test_a_deployment_counts_as_ready_only_once_its_current_template_has_rolled_out() -> None:
    done = {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2}
    assert rolled_out(deployment(3, **done)) == (2, 2)
    # just upgraded (a new pod template): the controller has not seen it yet
    assert rolled_out(deployment(4, **done)) == (0, 2)
    # rolling: old pods are ready and still serve
    rolling = {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 1, "readyReplicas": 3}
    assert rolled_out(deployment(4, **rolling)) == (0, 2)
    starting = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1}
    assert rolled_out(deployment(1, **starting)) == (1, 2)
    assert rolled_out({"metadata": {}, "spec": {"replicas": 2}}) == (0, 2)


def test_metrics_server_flags_keep_its_request_timeout_below_the_resolution() -> None:
    """metrics-server refuses to start (a panic) when the kubelet time-out is not shorter."""
    (deployment,) = [o for o in metrics.manifests("ms:v0") if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    flags = dict(a.removeprefix("--").split("=", 1) for a in container["args"] if "=" in a)
    seconds = {
        k: int(flags[k].removesuffix("s")) for k in ("metric-resolution", "kubelet-request-timeout")
    }
    assert seconds["metric-resolution"] >= 10  # its minimum
    assert seconds["kubelet-request-timeout"] < seconds["metric-resolution"]
