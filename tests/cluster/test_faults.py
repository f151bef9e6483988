"""The operator behind a fault-injecting TCP proxy (tests/faults.py) on the real control
plane: a half-open API connection, connections reset as by an API-server restart, and a
leader cut off half-open while its standby is not.

Each test states its bound, measures the recovery and prints it (``-s`` shows them);
the test client (``k8s``) talks to the API server directly, past the proxy.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import builders
import pytest
import yaml
from faults import FaultProxy
from lightkube import ApiError, Client
from lightkube.resources.batch_v1 import CronJob
from support import wait_for

from chronos.devcluster.cluster import Cluster
from chronos.devcluster.operator_process import OperatorProcess

pytestmark = pytest.mark.cluster

SPEC: dict[str, Any] = {
    "task": {"type": "pipeline_start", "pipelineId": "p1"},
    "schedule": {"cron": "0 3 * * *"},
}
#: The watch deadline (60 s + 15 s) plus the longest backoff step with jitter (30 s
#: doubled) and a margin: a half-open watch is noticed and replaced within this.
HALF_OPEN_BOUND = 75 + 60 + 15


def _api_address(cluster: Cluster) -> tuple[str, int]:
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    url = urlsplit(config["clusters"][0]["cluster"]["server"])
    assert url.hostname is not None
    assert url.port is not None
    return url.hostname, url.port


def _has_cronjob(k8s: Client, ns: str, name: str) -> bool:
    try:
        k8s.get(CronJob, name, namespace=ns)
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise
    return True


def _ready(process: OperatorProcess) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{process.port}/readyz", timeout=2):
            return True
    except urllib.error.HTTPError:
        return False


def _log(process: OperatorProcess) -> list[dict[str, Any]]:
    lines = []
    for raw in process.log_path.read_text().splitlines():
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    return lines


@pytest.fixture
def proxy(cluster: Cluster) -> Iterator[FaultProxy]:
    started = FaultProxy(_api_address(cluster)).start()
    yield started
    started.stop()


@pytest.fixture
def via_proxy(
    cluster: Cluster,
    proxy: FaultProxy,
    tmp_path: Path,
    operator_settings: dict[str, str],
    solo_namespace: str,
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start operators watching only ``solo_namespace``, through ``proxy`` unless told
    ``direct=True``; all are stopped at the end."""
    started: list[OperatorProcess] = []
    through = proxy.kubeconfig(cluster.kubeconfig, tmp_path / "via-proxy.kubeconfig")

    def start(direct: bool = False, **overrides: str) -> OperatorProcess:
        settings = {
            **operator_settings,
            "CHRONOS_NAMESPACES": solo_namespace,
            "CHRONOS_LEASE_NAME": f"chronos-faults-{solo_namespace}",
            **overrides,
        }
        process = OperatorProcess(cluster.kubeconfig if direct else through, tmp_path, **settings)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


def test_a_half_open_api_connection_is_noticed_and_the_operator_converges_after(
    via_proxy: Callable[..., OperatorProcess],
    proxy: FaultProxy,
    k8s: Client,
    solo_namespace: str,
) -> None:
    ns = solo_namespace
    operator = via_proxy(CHRONOS_LEADER_ELECTION="false")
    builders.create_chronosjob(k8s, ns, "before", builders.spec(**SPEC))
    wait_for(lambda: _has_cronjob(k8s, ns, "before"), what="the CronJob, through the proxy")
    wait_for(lambda: _ready(operator), what="ready before the fault")

    proxy.blackhole()
    cut = time.monotonic()
    wait_for(lambda: not _ready(operator), timeout=40, what="readiness to turn false")
    not_ready_after = time.monotonic() - cut
    builders.create_chronosjob(k8s, ns, "during", builders.spec(**SPEC))
    time.sleep(3)
    assert not _has_cronjob(k8s, ns, "during")  # it cannot know while cut off

    proxy.heal()
    healed = time.monotonic()
    wait_for(
        lambda: _has_cronjob(k8s, ns, "during"),
        timeout=HALF_OPEN_BOUND,
        what="the job created while cut off to get its CronJob",
    )
    converged = time.monotonic() - healed
    wait_for(lambda: _ready(operator), timeout=30, what="readiness back")
    ready_after = time.monotonic() - healed
    warnings = [e for e in _log(operator) if e.get("level") in ("warning", "error")]
    print(
        f"\nhalf-open: not ready {not_ready_after:.1f} s after the cut; after healing, "
        f"converged in {converged:.1f} s, ready in {ready_after:.1f} s; "
        f"{len(warnings)} warnings, {proxy.accepted} connections"
    )
    # One line per outage per watch and per failing sync, not one per retry.
    assert len(warnings) <= 12, [e.get("message") for e in warnings]


def test_connections_reset_as_by_an_api_server_restart_recover_in_seconds(
    via_proxy: Callable[..., OperatorProcess],
    proxy: FaultProxy,
    k8s: Client,
    solo_namespace: str,
) -> None:
    ns = solo_namespace
    operator = via_proxy(CHRONOS_LEADER_ELECTION="false")
    builders.create_chronosjob(k8s, ns, "before", builders.spec(**SPEC))
    wait_for(lambda: _has_cronjob(k8s, ns, "before"), what="the CronJob, through the proxy")
    accepted = proxy.accepted
    proxy.reset()
    reset = time.monotonic()
    builders.create_chronosjob(k8s, ns, "after", builders.spec(**SPEC))
    wait_for(lambda: _has_cronjob(k8s, ns, "after"), timeout=20, what="the CronJob after")
    converged = time.monotonic() - reset
    assert _ready(operator)
    reconnects = proxy.accepted - accepted
    print(f"\nreset: converged in {converged:.1f} s with {reconnects} new connections")
    # Three watches and the workers reconnect once each, not in a loop.
    assert reconnects <= 20, reconnects


def test_a_leader_cut_off_half_open_stops_before_its_standby_takes_over(
    via_proxy: Callable[..., OperatorProcess],
    proxy: FaultProxy,
    k8s: Client,
    solo_namespace: str,
    operator_settings: dict[str, str],
) -> None:
    """The leader's API connection goes half-open, the standby's does not: the leader
    stops leading (exits) within its renew deadline, the standby leads within the lease
    duration plus a renew period, and the two never lead at once."""
    ns = solo_namespace
    leader = via_proxy()
    standby = via_proxy(direct=True)
    builders.create_chronosjob(k8s, ns, "before", builders.spec(**SPEC))
    wait_for(lambda: _has_cronjob(k8s, ns, "before"), what="the leader to reconcile")
    assert "chronos_operator_leader 1.0" in leader.metrics()
    assert "chronos_operator_leader 0.0" in standby.metrics()

    proxy.blackhole()
    cut = time.monotonic()
    assert leader.proc is not None
    code = leader.proc.wait(timeout=30)
    stopped = time.monotonic() - cut
    wait_for(
        lambda: "chronos_operator_leader 1.0" in standby.metrics(), timeout=30, what="takeover"
    )
    took_over = time.monotonic() - cut
    builders.create_chronosjob(k8s, ns, "after", builders.spec(**SPEC))
    wait_for(lambda: _has_cronjob(k8s, ns, "after"), what="the new leader to reconcile")

    duration = float(operator_settings["CHRONOS_LEASE_DURATION_SECONDS"])
    renew = float(operator_settings["CHRONOS_LEASE_RENEW_SECONDS"])
    assert code == 1
    assert stopped <= duration - renew + 1.5, stopped  # the renew deadline, plus exit
    assert took_over <= duration + renew + 3, took_over
    # Never two leaders: the old one's last log line precedes the standby's acquisition.
    last_of_leader = _log(leader)[-1]["time"]
    acquired = [e["time"] for e in _log(standby) if "acquired lease" in e.get("message", "")]
    assert acquired, "the standby never logged its acquisition"
    assert last_of_leader < acquired[-1], (last_of_leader, acquired[-1])
    print(f"\nleader cut off: stopped after {stopped:.1f} s, standby led after {took_over:.1f} s")
