"""The operator with 10,000 ChronosJobs: memory against the chart's limit, and a restart.

    .venv/bin/python bench/operator_10k.py [--count 10000] [--threads 4]

On a control plane of its own (a temporary directory):

1. ``python -m chronos.operator`` starts (watching one namespace); its idle RSS is read.
2. ``--count`` ChronosJobs are created from ``--threads`` threads; the benchmark waits
   until every one reports ``Ready`` and then ``--settle`` seconds, and reads the
   operator's RSS (VmRSS) and its peak (VmHWM) from /proc. Both are compared with the
   memory limit in ``charts/chronos/values.yaml`` (``operator.resources.limits``).
3. **Steady state.** Threads write run results as runners do (``write_run``: a
   read-modify-write of lastRun and history) at ``--steady-rate`` per second to random
   jobs for ``--steady-seconds``: the operator's CPU, its writes, and the 409 conflicts
   the writers met.
4. **Restart.** The operator is stopped and started again with every job already in
   sync. The time from the new process's start until its reconcile counter reaches
   ``--count`` (every job compared with its CronJob and found in sync) is the restart
   time. The API server's own ``apiserver_request_total`` counters (from ``/metrics``)
   before the start and after ``--settle`` seconds past the last reconcile give the
   writes made meanwhile (POST, PUT, PATCH, DELETE; nothing else writes then).

Run on a shared machine: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import yaml
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from operator_scale import (
    chronosjob,
    counters,
    cpu_seconds,
    create_all,
    job_names,
    proc_status_mib,
    start_operator,
    wait_ready,
)

from chronos import kube
from chronos.devcluster.binaries import ensure_binaries
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.install import install_crd
from chronos.devcluster.operator_process import OperatorProcess
from chronos.models.chronosjob import RunRecord, RunResult, RunTrigger
from chronos.runner.status import write_run

CHART_VALUES = Path(__file__).resolve().parent.parent / "charts" / "chronos" / "values.yaml"
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE"}


def chart_limit_mib() -> float:
    """The operator's memory limit in the chart's defaults, in MiB."""
    values = yaml.safe_load(CHART_VALUES.read_text())
    limit = str(values["operator"]["resources"]["limits"]["memory"])
    match = re.fullmatch(r"(\d+)(Mi|Gi)", limit)
    if match is None:
        raise ValueError(f"unexpected memory limit {limit!r} in {CHART_VALUES}")
    return int(match.group(1)) * (1024 if match.group(2) == "Gi" else 1)


def apiserver_writes(cluster: Cluster) -> dict[str, float]:
    """``{"VERB resource[/subresource]": count}`` of the API server's write requests."""
    found: dict[str, float] = {}
    text = cluster.kubectl("get", "--raw", "/metrics")
    for labels, value in counters(text, "apiserver_request_total").items():
        fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if fields.get("verb") not in WRITE_VERBS:
            continue
        resource = fields.get("resource", "")
        if fields.get("subresource"):
            resource += "/" + fields["subresource"]
        key = f"{fields['verb']} {resource}"
        found[key] = found.get(key, 0.0) + value
    return found


def steady_state(
    kubeconfig: Path, namespace: str, names: list[str], rate: float, seconds: float
) -> tuple[int, int, float]:
    """Write run results as runners do (``write_run``: lastRun and history, read-modify-
    write) at ``rate`` per second to random jobs for ``seconds``.

    Returns the runs written, the conflicts the writers met, and the elapsed time.
    """
    conflicts = 0
    lock = threading.Lock()
    local = threading.local()
    rng = random.Random(11)

    def conflict(_: int) -> None:
        nonlocal conflicts
        with lock:
            conflicts += 1

    def one(i: int, name: str) -> None:
        if not hasattr(local, "client"):
            local.client = kube.client(kubeconfig)
        now = datetime.now(UTC)
        record = RunRecord(
            run_id=f"{name}-run-{i}",
            trigger=RunTrigger.SCHEDULE,
            result=RunResult.SUCCEEDED,
            scheduled_time=now,
            start_time=now,
            end_time=now,
            reported_by="runner",
        )
        write_run(local.client, name, namespace, record, 20, on_conflict=conflict)

    total = int(rate * seconds)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = []
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(one, i, rng.choice(names)))
        for future in futures:
            future.result()
    return total, conflicts, time.perf_counter() - started


def metrics_of(operator: OperatorProcess) -> str:
    """The operator's metrics, waiting while its event loop is too busy to answer."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return operator.metrics()
        except OSError:
            if time.monotonic() > deadline:
                raise


def diff(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


def reconciled(operator: OperatorProcess) -> float:
    total: float = sum(counters(metrics_of(operator), "chronos_operator_reconciles_total").values())
    return total


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--steady-rate", type=float, default=20.0, help="runs finishing per s")
    parser.add_argument("--steady-seconds", type=float, default=30.0, help="0: skip")
    args = parser.parse_args()
    count = args.count
    limit = chart_limit_mib()

    directory = Path(tempfile.mkdtemp(prefix="chronos-bench10k-"))
    cluster = Cluster(directory / "cluster", bin_dir=ensure_binaries())
    operator: OperatorProcess | None = None
    try:
        print(f"control plane ready in {cluster.start():.1f} s", flush=True)
        install_crd(cluster)
        ns = f"bench-10k-{uuid.uuid4().hex[:6]}"
        admin = kube.client(cluster.kubeconfig)
        admin.create(Namespace(metadata=ObjectMeta(name=ns)))
        admin.close()

        operator = start_operator(cluster, directory, ns)
        time.sleep(args.settle)
        idle = proc_status_mib(operator.pid, "VmRSS")
        print(f"operator idle RSS {idle:.0f} MiB; {load()}", flush=True)
        cpu0 = cpu_seconds(operator.pid)
        writes0 = apiserver_writes(cluster)
        started = time.perf_counter()
        objects = [chronosjob(n, ns) for n in job_names(count)]
        _, returned = create_all(cluster.kubeconfig, objects, args.threads)
        print(
            f"{count} ChronosJobs created in {max(returned.values()) - started:.1f} s", flush=True
        )
        ready = wait_ready(cluster.kubeconfig, ns, count, timeout=max(300.0, count * 0.1))
        ready_s = time.perf_counter() - started
        cpu_create = cpu_seconds(operator.pid) - cpu0
        time.sleep(args.settle)
        rss = proc_status_mib(operator.pid, "VmRSS")
        hwm = proc_status_mib(operator.pid, "VmHWM")
        print(
            f"{ready}/{count} Ready after {ready_s:.1f} s; operator CPU {cpu_create:.1f} s "
            f"({cpu_create / count * 1000:.1f} ms per job); {load()}",
            flush=True,
        )
        print(
            f"operator RSS with {count} jobs: {rss:.0f} MiB, peak {hwm:.0f} MiB "
            f"(chart limit {limit:.0f} MiB)",
            flush=True,
        )
        created = diff(writes0, apiserver_writes(cluster))
        own = counters(metrics_of(operator), "chronos_operator_writes_total")
        print(f"create: API-server writes {created} (total {sum(created.values()):.0f})")
        print(f"create: operator's own writes {own}", flush=True)

        if args.steady_seconds > 0:
            own0 = counters(metrics_of(operator), "chronos_operator_writes_total")
            conflicts0 = counters(metrics_of(operator), "chronos_operator_write_conflicts_total")
            cpu0 = cpu_seconds(operator.pid)
            runs, runner_conflicts, took = steady_state(
                cluster.kubeconfig, ns, job_names(count), args.steady_rate, args.steady_seconds
            )
            cpu_steady = cpu_seconds(operator.pid) - cpu0
            own = diff(own0, counters(metrics_of(operator), "chronos_operator_writes_total"))
            conflicts = diff(
                conflicts0, counters(metrics_of(operator), "chronos_operator_write_conflicts_total")
            )
            print(
                f"steady: {runs} runs in {took:.1f} s ({runs / took:.1f}/s); operator CPU "
                f"{cpu_steady / took * 100:.0f}% of a core; operator writes {own or '{}'}; "
                f"conflicts: runners {runner_conflicts} ({runner_conflicts / took:.2f}/s), "
                f"operator {conflicts or '{}'}; {load()}",
                flush=True,
            )

        operator.stop()
        operator = None
        before = apiserver_writes(cluster)
        operator = start_operator(cluster, directory, ns)
        began = time.perf_counter()  # the process is up and serving metrics
        deadline = began + max(300.0, count * 0.1)
        done = 0.0
        while time.perf_counter() < deadline:
            try:
                done = reconciled(operator)
            except OSError:  # a timeout: the operator's event loop is busy
                continue
            if done >= count:
                break
            time.sleep(0.2)
        restart_s = time.perf_counter() - began
        restart_cpu = cpu_seconds(operator.pid)
        time.sleep(args.settle)
        after = apiserver_writes(cluster)
        writes = diff(before, after)
        metrics = metrics_of(operator)
        rss2 = proc_status_mib(operator.pid, "VmRSS")
        hwm2 = proc_status_mib(operator.pid, "VmHWM")
        print(
            f"restart: {done:.0f}/{count} reconciled in {restart_s:.1f} s "
            f"(operator CPU {restart_cpu:.1f} s); {load()}",
            flush=True,
        )
        print(f"restart: reconciles {counters(metrics, 'chronos_operator_reconciles_total')}")
        own = counters(metrics, "chronos_operator_writes_total")
        print(f"restart: operator's own writes {own or '{}'}")
        print(f"restart: errors {counters(metrics, 'chronos_operator_errors_total') or '{}'}")
        print(f"restart: API-server writes {writes or '{}'} (total {sum(writes.values()):.0f})")
        print(f"restart: operator RSS {rss2:.0f} MiB, peak {hwm2:.0f} MiB")
        print()
        print(f"| measure (N = {count}) | value |")
        print("|---|---:|")
        print(f"| operator RSS idle | {idle:.0f} MiB |")
        print(f"| operator RSS with N jobs, Ready | {rss:.0f} MiB |")
        print(f"| operator peak RSS (VmHWM) creating N | {hwm:.0f} MiB |")
        print(f"| operator peak RSS after a restart | {hwm2:.0f} MiB |")
        print(f"| chart limit | {limit:.0f} MiB |")
        print(f"| operator CPU per new job | {cpu_create / count * 1000:.1f} ms |")
        print(f"| restart: every job confirmed in sync | {restart_s:.1f} s |")
        print(f"| restart: API-server writes | {sum(writes.values()):.0f} |")
        verdict = "holds" if max(hwm, hwm2) <= limit else "EXCEEDED"
        print(f"chart limit {limit:.0f} MiB {verdict} (peak {max(hwm, hwm2):.0f} MiB)")
        return 0 if max(hwm, hwm2) <= limit else 1
    finally:
        if operator is not None:
            operator.stop()
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
