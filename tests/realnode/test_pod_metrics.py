"""The overview's CPU and memory of a running run, from the REAL metrics-server.

The real node runs metrics-server (``chronos.devcluster.metrics``): aggregated by the
API server as ``metrics.k8s.io``, scraping the kubelet's ``/metrics/resource`` with its
own RBAC (no ``nodes/proxy``). A run kept busy by the fake CoreHub's delays shows real,
nonzero numbers on the overview of a user whose RBAC allows reading pod metrics; a user
without that right sees the calm "you may not" note instead, and no numbers.
"""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal

import pytest
from builders import allow, grant
from fixtures_api import ApiServer, sa_token
from fixtures_ui import signed_in
from lightkube import Client
from lightkube.models.rbac_v1 import PolicyRule
from support import get_cr, wait_for

from chronos.api.podmetrics import parse_quantity
from chronos.devcluster.operator_process import OperatorProcess
from chronos.fakehub import FakeCoreHub, FakeHubControl
from realnode.fixtures import RUNNER_RESOURCES, Node, request_run_now

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]

#: A row's usage cell: "12 m CPU · 34 MiB", "<0.1 m CPU · 900 KiB", "1.25 CPU · 1.2 GiB".
USAGE = re.compile(r'<td class="usage">(<0\.1|[0-9.]+) (m )?CPU · ([0-9.]+) (KiB|MiB|GiB)</td>')
UNIT = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def _row(html: str, run: str) -> str | None:
    """The "Running now" row of ``run``, if shown."""
    for row in html.split("<tr>"):
        if f'/runs/{run}"' in row:
            return row
    return None


def test_a_running_run_shows_its_real_cpu_and_memory_to_who_may_read_pod_metrics(
    operator: OperatorProcess,
    fakehub_server: FakeCoreHub,
    fakehub: FakeHubControl,
    k8s: Client,
    runner_rbac: str,
    node_api_server: ApiServer,
    real_node: Node,
) -> None:
    ns = runner_rbac
    grant(k8s, ns, "watcher", ("get", "list", "watch"), role="chronos-viewer")
    allow(
        k8s,
        ns,
        "watcher",
        PolicyRule(apiGroups=["metrics.k8s.io"], resources=["pods"], verbs=["get", "list"]),
    )
    grant(k8s, ns, "blind", ("get", "list", "watch"), role="blind-viewer")
    watcher, blind = sa_token(k8s, ns, "watcher"), sa_token(k8s, ns, "blind")
    # Each entity takes 30 s to become active: the run lasts about 90 s, long enough for
    # metrics-server's first scrapes (every 10 s; a CPU rate needs two samples).
    fakehub.configure(delays={"activate": 30.0, "stop": 0.05, "snapshot": 0.2})
    task = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1", "e2", "e3"]}
    request_run_now(k8s, ns, "busy", fakehub_server.url, task, timeoutSeconds=150)
    runs = wait_for(
        lambda: (get_cr(k8s, ns, "busy").get("status") or {}).get("activeRuns"), 60, "the run"
    )
    run = runs[0]

    # Without the right: the run is listed, without numbers, and the note says why.
    with signed_in(node_api_server, blind) as client:

        def listed() -> str | None:
            html = client.get("/ui/fragments/overview").text
            return html if _row(html, run) else None

        html = wait_for(listed, 30, "the run on the overview")
    assert not USAGE.search(html)
    assert "you may not read pod metrics there" in html
    assert f"namespace &#34;{ns}&#34;" in html

    def cores(found: re.Match[str]) -> Decimal:
        cpu, milli = found.group(1), found.group(2)
        return Decimal("0.00005") if cpu == "<0.1" else Decimal(cpu) / (1000 if milli else 1)

    # A runner waiting on CoreHub may truly use no CPU between two scrapes ("0 m CPU" is
    # then the honest reading): the row must show a nonzero figure at some point of the run.
    with signed_in(node_api_server, watcher) as client:
        seen = ""
        readings: list[str] = []
        deadline = time.monotonic() + 80
        while not ((found := USAGE.search(_row(seen, run) or "")) and cores(found) > 0):
            if found:
                readings.append(found.group(0))
            status = get_cr(k8s, ns, "busy").get("status") or {}
            if run not in (status.get("activeRuns") or []) or time.monotonic() > deadline:
                raise AssertionError(
                    f"no nonzero CPU for the run while it ran (readings: {readings[-5:]}); "
                    f"the overview:\n{seen}\n"
                    f"metrics-server's log:\n{real_node.metrics_server_log()}"
                )
            time.sleep(1)
            seen = client.get("/ui/fragments/overview").text
    print(f"the overview shows {found.group(0)} for run {run}")  # for the record
    size = Decimal(found.group(3)) * UNIT[found.group(4)]
    # The runner's working set: more than a MiB, within its pod's memory limit.
    assert 2**20 < size <= parse_quantity(RUNNER_RESOURCES["limits"]["memory"])
    # metrics-server's own answer, read as the admin through the aggregator, has the pod.
    raw = real_node.cluster.kubectl(
        "get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods"
    )
    labels = [p["metadata"].get("labels") or {} for p in json.loads(raw)["items"]]
    assert any(lab.get("batch.kubernetes.io/job-name") == run for lab in labels), raw
