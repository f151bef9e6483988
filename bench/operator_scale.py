"""1,000 ChronosJobs through the operator, against a minimal controller and raw CronJobs.

    .venv/bin/python bench/operator_scale.py [--count 1000] [--repeat 1] [--threads 4]

Runs on a control plane of its own (a temporary directory; ``.devcluster`` is never
touched) and, for each repeat:

1. **Baseline (the ceiling).** ``--threads`` threads, each with its own lightkube
   client, create N CronJobs directly in one namespace: the very manifests the operator
   would apply, without the owner reference.
2. **ChronosJobs alone.** The same threads create N ChronosJobs with no operator
   running: the API server's own share of the cost.
3. **Minimal controller.** ``bench/minimal_controller.py`` (a lightkube watch that
   creates each new ChronosJob's CronJob and patches its status, nothing else) in a
   subprocess, and N ChronosJobs in a namespace of its own: the same writes as the
   operator's for a new job, without its logic. The target is Chronos at 0.8 of it.
4. **Chronos.** ``python -m chronos.operator`` runs as a subprocess (watching only its
   namespace, default clocks); the same threads create N ChronosJobs in another
   namespace. A watch on CronJobs (a thread with its own client) records when each
   CronJob appears, in this phase and in the baseline.

Throughput is N divided by the time from the first create to the last CronJob seen by
the watch; latency is from the moment a ChronosJob's create returned to the moment its
CronJob was seen. The operator's memory is read from /proc (VmRSS after the run,
VmHWM its peak), and /proc gives the CPU seconds each process spent in each phase.
With ``--repeat`` > 1 the tables show medians over the repeats.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from lightkube import Client
from lightkube.core.resource import NamespacedResource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import CronJob
from lightkube.resources.core_v1 import Namespace

from chronos import kube
from chronos.devcluster.binaries import ensure_binaries
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.install import install_crd
from chronos.devcluster.operator_process import OperatorProcess
from chronos.models.chronosjob import ChronosJobSpec
from chronos.models.resolve import resolve_schedule
from chronos.operator.cronjob import build_cronjob
from chronos.operator.naming import cronjob_name
from chronos.operator.settings import OperatorSettings

SPEC: dict[str, Any] = {
    "task": {"type": "pipeline_start", "pipelineId": "p1"},
    "schedule": {"cron": "0 3 * * *"},
    "timeZone": "Europe/Rome",
}
COREHUB_URL = "http://127.0.0.1:9"
COREHUB_SECRET = "x"
TARGET_RATIO = 0.8  # of the minimal controller's throughput


def job_names(count: int) -> list[str]:
    return [f"job-{i:05d}" for i in range(count)]


def proc_status_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


# ------------------------------------------------------------------- objects


def baseline_cronjob(name: str, namespace: str) -> CronJob:
    """What the operator applies for ``name``, minus the owner reference (no owner exists)."""
    spec = ChronosJobSpec.model_validate(SPEC)
    settings = OperatorSettings(corehub_url=COREHUB_URL, corehub_credentials_secret=COREHUB_SECRET)
    manifest = build_cronjob(
        name=name,
        namespace=namespace,
        uid=str(uuid.uuid4()),
        spec=spec,
        schedule=resolve_schedule(spec, settings.default_time_zone),
        settings=settings,
    )
    manifest["metadata"].pop("ownerReferences", None)
    return cast(CronJob, CronJob.from_dict(manifest))


def chronosjob(name: str, namespace: str) -> NamespacedResource:
    resource: NamespacedResource = kube.ChronosJobResource(
        metadata=ObjectMeta(name=name, namespace=namespace), spec=SPEC
    )
    return resource


# ------------------------------------------------------------------- client side


def create_all(
    kubeconfig: Path, objects: Sequence[NamespacedResource], threads: int
) -> tuple[float, dict[int, float]]:
    """Create ``objects`` from ``threads`` threads, each with its own client.

    Returns the start time and, for each object's index, when its create returned.
    """
    returned: dict[int, float] = {}
    errors: list[BaseException] = []
    clients = [kube.client(kubeconfig) for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def work(client: Client, indices: range) -> None:
        barrier.wait()
        try:
            for i in indices:
                client.create(objects[i])
                returned[i] = time.perf_counter()
        except BaseException as exc:  # noqa: BLE001 - a thread hands every error to the caller
            errors.append(exc)

    workers = [
        threading.Thread(target=work, args=(clients[t], range(t, len(objects), threads)))
        for t in range(threads)
    ]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    for client in clients:
        client.close()
    if errors:
        raise RuntimeError(f"{len(errors)} creating thread(s) failed: {errors[0]!r}")
    return started, returned


class CronJobWatch(threading.Thread):
    """Records when each expected CronJob is first seen in ``namespace``."""

    def __init__(self, kubeconfig: Path, namespace: str, expected: set[str]) -> None:
        super().__init__(daemon=True)
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.expected = expected
        self.seen: dict[str, float] = {}
        self.done = threading.Event()
        self.connected = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        client = kube.client(self.kubeconfig)
        try:
            # Start from the list's resource version, so nothing created after it is lost.
            listing = client.list(CronJob, namespace=self.namespace)
            for obj in listing:
                self._saw(obj)
            version = cast(Any, listing).resourceVersion
            self.connected.set()
            for _, obj in client.watch(CronJob, namespace=self.namespace, resource_version=version):
                self._saw(obj)
                if self.done.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - a thread hands every error to the caller
            self.error = exc
        finally:
            self.connected.set()
            client.close()

    def _saw(self, obj: CronJob) -> None:
        name = obj.metadata.name if obj.metadata else None
        if name in self.expected and name not in self.seen:
            self.seen[name] = time.perf_counter()
            if len(self.seen) == len(self.expected):
                self.done.set()


# ------------------------------------------------------------------- operator


def start_operator(cluster: Cluster, log_dir: Path, namespace: str) -> OperatorProcess:
    """The operator as tests/fixtures_operator.py runs it, watching only ``namespace``."""
    return OperatorProcess(
        cluster.kubeconfig,
        log_dir,
        CHRONOS_COREHUB_URL=COREHUB_URL,
        CHRONOS_COREHUB_CREDENTIALS_SECRET=COREHUB_SECRET,
        CHRONOS_LEASE_NAMESPACE="default",
        CHRONOS_LEASE_NAME=f"chronos-bench-{uuid.uuid4().hex[:6]}",
        CHRONOS_NAMESPACES=namespace,
    ).start()


def counters(metrics: str, prefix: str) -> dict[str, float]:
    """``{labels: value}`` for the samples of one metric family in Prometheus text."""
    found: dict[str, float] = {}
    for line in metrics.splitlines():
        match = re.match(rf"^{re.escape(prefix)}(\{{[^}}]*\}})?\s+(\S+)$", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


# ------------------------------------------------------------------- phases


@dataclass
class Phase:
    create_s: float  # first create until the last create returned
    total_s: float  # first create until the last CronJob was seen (or creates done)
    latencies: list[float]  # create returned -> CronJob seen, seconds
    cpu: dict[str, float]  # CPU seconds each process spent during the phase

    def rate(self, count: int) -> float:
        return count / self.total_s


def run_phase(
    kubeconfig: Path,
    namespace: str,
    names: list[str],
    make: Callable[[str, str], NamespacedResource],
    threads: int,
    timeout: float,
    pids: dict[str, int],
    watch_cronjobs: bool = True,
) -> Phase:
    objects = [make(n, namespace) for n in names]
    cpu_before = cpu_snapshot(pids)
    if not watch_cronjobs:
        started, returned = create_all(kubeconfig, objects, threads)
        created = max(returned.values()) - started
        cpu = {k: v - cpu_before[k] for k, v in cpu_snapshot(pids).items()}
        return Phase(created, created, [], cpu)
    watch = CronJobWatch(kubeconfig, namespace, {cronjob_name(n) for n in names})
    watch.start()
    watch.connected.wait(30)
    cpu_before = cpu_snapshot(pids)
    started, returned = create_all(kubeconfig, objects, threads)
    created = max(returned.values())
    if not watch.done.wait(timeout):
        raise RuntimeError(
            f"only {len(watch.seen)} of {len(names)} CronJobs in {namespace} after "
            f"{timeout:.0f} s (watch error: {watch.error!r})"
        )
    cpu = {k: v - cpu_before[k] for k, v in cpu_snapshot(pids).items()}
    latencies = [watch.seen[cronjob_name(n)] - returned[i] for i, n in enumerate(names)]
    return Phase(created - started, max(watch.seen.values()) - started, latencies, cpu)


def wait_ready(kubeconfig: Path, namespace: str, count: int, timeout: float) -> int:
    """Poll until every ChronosJob reports Ready=True; returns how many do."""
    client = kube.client(kubeconfig)
    deadline = time.monotonic() + timeout
    ready = 0
    try:
        while time.monotonic() < deadline:
            ready = 0
            for obj in client.list(kube.ChronosJobResource, namespace=namespace):
                status = cast(dict[str, Any], getattr(obj, "status", None) or {})
                conditions = status.get("conditions") or []
                if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                    ready += 1
            if ready >= count:
                break
            time.sleep(max(0.5, count / 2000))  # a LIST of 10,000 costs the CPU it measures
    finally:
        client.close()
    return ready


@dataclass
class Outcome:
    baseline: Phase
    crs_only: Phase  # ChronosJobs created with no operator running: the API server's share
    minimal: Phase  # bench/minimal_controller.py: the same writes, no logic
    chronos: Phase
    ready_s: float  # first ChronosJob create until all report Ready
    ready: int
    rss_idle_mib: float
    rss_after_mib: float
    hwm_mib: float
    reconciles: dict[str, float]
    errors: dict[str, float]

    def ratio(self) -> float:
        """Chronos' objects per second over the baseline's."""
        return self.baseline.total_s / self.chronos.total_s

    def minimal_ratio(self) -> float:
        """Chronos' objects per second over the minimal controller's."""
        return self.minimal.total_s / self.chronos.total_s


def one_repeat(cluster: Cluster, log_dir: Path, count: int, threads: int, settle: float) -> Outcome:
    kubeconfig = cluster.kubeconfig
    tag = uuid.uuid4().hex[:6]
    ns_base, ns_crs, ns_min, ns_chronos = (
        f"bench-{p}-{tag}" for p in ("base", "crs", "min", "chronos")
    )
    admin = kube.client(kubeconfig)
    for ns in (ns_base, ns_crs, ns_min, ns_chronos):
        admin.create(Namespace(metadata=ObjectMeta(name=ns)))
    admin.close()
    names = job_names(count)
    timeout = max(120.0, count * 0.5)
    pids = {**cluster.pids(), "bench": os.getpid()}

    baseline = run_phase(kubeconfig, ns_base, names, baseline_cronjob, threads, timeout, pids)
    print(
        f"  baseline: {count} CronJobs in {baseline.total_s:.2f} s "
        f"({baseline.rate(count):.0f}/s; creates {baseline.create_s:.2f} s)",
        flush=True,
    )
    time.sleep(settle)  # let kube-controller-manager finish with the baseline's CronJobs
    crs_only = run_phase(
        kubeconfig, ns_crs, names, chronosjob, threads, timeout, pids, watch_cronjobs=False
    )
    print(f"  ChronosJobs alone (no operator): created in {crs_only.total_s:.2f} s", flush=True)
    time.sleep(settle)
    minimal_proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("minimal_controller.py")),
            str(kubeconfig),
            ns_min,
        ]
    )
    try:
        time.sleep(settle)  # imported and watching
        minimal = run_phase(
            kubeconfig,
            ns_min,
            names,
            chronosjob,
            threads,
            timeout,
            {**pids, "operator": minimal_proc.pid},
        )
    finally:
        minimal_proc.kill()
        minimal_proc.wait()
    print(
        f"  minimal controller: {count} CronJobs in {minimal.total_s:.2f} s "
        f"({minimal.rate(count):.0f}/s; creates {minimal.create_s:.2f} s)",
        flush=True,
    )
    time.sleep(settle)

    operator = start_operator(cluster, log_dir, ns_chronos)
    try:
        time.sleep(settle)  # let the operator list its (empty) namespace and settle
        rss_idle = proc_status_mib(operator.pid, "VmRSS")
        pids["operator"] = operator.pid
        started = time.perf_counter()
        chronos = run_phase(kubeconfig, ns_chronos, names, chronosjob, threads, timeout, pids)
        print(
            f"  chronos:  {count} CronJobs in {chronos.total_s:.2f} s "
            f"({chronos.rate(count):.0f}/s; creates {chronos.create_s:.2f} s)",
            flush=True,
        )
        ready = wait_ready(kubeconfig, ns_chronos, count, timeout)
        ready_s = time.perf_counter() - started
        time.sleep(settle)
        metrics = operator.metrics()
        outcome = Outcome(
            baseline=baseline,
            crs_only=crs_only,
            minimal=minimal,
            chronos=chronos,
            ready_s=ready_s,
            ready=ready,
            rss_idle_mib=rss_idle,
            rss_after_mib=proc_status_mib(operator.pid, "VmRSS"),
            hwm_mib=proc_status_mib(operator.pid, "VmHWM"),
            reconciles=counters(metrics, "chronos_operator_reconciles_total"),
            errors=counters(metrics, "chronos_operator_errors_total"),
        )
    finally:
        operator.stop()
    return outcome


# ------------------------------------------------------------------- report


def report(outcomes: list[Outcome], count: int, threads: int) -> None:
    def med(get: Callable[[Outcome], float]) -> float:
        return statistics.median(get(o) for o in outcomes)

    label = "median of " + str(len(outcomes)) if len(outcomes) > 1 else "value"
    rows: list[tuple[str, str]] = [
        ("baseline: all CronJobs exist", f"{med(lambda o: o.baseline.total_s):.2f} s"),
        ("baseline: throughput", f"{med(lambda o: o.baseline.rate(count)):.0f} /s"),
        ("ChronosJobs alone: creates done", f"{med(lambda o: o.crs_only.total_s):.2f} s"),
        ("minimal controller: all CronJobs exist", f"{med(lambda o: o.minimal.total_s):.2f} s"),
        (
            "minimal controller: create -> CronJob p99",
            f"{med(lambda o: percentile(o.minimal.latencies, 99)) * 1000:.0f} ms",
        ),
        ("chronos: ChronosJob creates done", f"{med(lambda o: o.chronos.create_s):.2f} s"),
        ("chronos: all CronJobs exist", f"{med(lambda o: o.chronos.total_s):.2f} s"),
        ("chronos: throughput", f"{med(lambda o: o.chronos.rate(count)):.0f} /s"),
        (
            "create -> CronJob p50",
            f"{med(lambda o: percentile(o.chronos.latencies, 50)) * 1000:.0f} ms",
        ),
        (
            "create -> CronJob p99",
            f"{med(lambda o: percentile(o.chronos.latencies, 99)) * 1000:.0f} ms",
        ),
        ("chronos: all ChronosJobs Ready", f"{med(lambda o: o.ready_s):.2f} s"),
        ("throughput ratio chronos/minimal controller", f"{med(Outcome.minimal_ratio):.2f}"),
        ("throughput ratio chronos/baseline", f"{med(Outcome.ratio):.2f}"),
        (
            "ratio chronos/ChronosJobs alone",
            f"{med(lambda o: o.crs_only.total_s / o.chronos.total_s):.2f}",
        ),
        ("operator RSS idle", f"{med(lambda o: o.rss_idle_mib):.0f} MiB"),
        ("operator RSS after the run", f"{med(lambda o: o.rss_after_mib):.0f} MiB"),
        ("operator peak RSS (VmHWM)", f"{med(lambda o: o.hwm_mib):.0f} MiB"),
    ]
    print()
    print(f"N = {count} objects, {threads} creating threads, {len(outcomes)} repeat(s)")
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure':{width}} | {label:>12} |")
    print(f"|{'-' * (width + 2)}|{'-' * 13}:|")
    for name, value in rows:
        print(f"| {name:{width}} | {value:>12} |")
    print()
    print("CPU seconds spent during each phase (user + system):")
    procs = ["kube-apiserver", "etcd", "kube-controller-manager", "operator", "bench"]
    short = ["apiserver", "etcd", "kcm", "operator", "bench"]
    print(f"| {'phase':18} | " + " | ".join(f"{p:>9}" for p in short) + " |")
    print(f"|{'-' * 20}|" + "|".join("-" * 10 + ":" for _ in procs) + "|")
    phases: list[tuple[str, Callable[[Outcome], Phase]]] = [
        ("baseline", lambda o: o.baseline),
        ("ChronosJobs alone", lambda o: o.crs_only),
        ("minimal controller", lambda o: o.minimal),
        ("chronos", lambda o: o.chronos),
    ]
    for title, phase in phases:
        cells = [
            f"{statistics.median(phase(o).cpu.get(p, 0.0) for o in outcomes):9.1f}" for p in procs
        ]
        print(f"| {title:18} | " + " | ".join(cells) + " |")
    print()
    for i, o in enumerate(outcomes, 1):
        print(
            f"repeat {i}: ratio {o.ratio():.2f}, ready {o.ready}/{count}, "
            f"reconciles {o.reconciles or '{}'}, errors {o.errors or '{}'}"
        )
    verdict = "meets" if med(Outcome.minimal_ratio) >= TARGET_RATIO else "BELOW"
    print(
        f"ratio to the minimal controller {med(Outcome.minimal_ratio):.2f} {verdict} the "
        f"target of {TARGET_RATIO}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000, help="objects per phase")
    parser.add_argument("--repeat", type=int, default=1, help="repeats (medians reported)")
    parser.add_argument("--threads", type=int, default=4, help="creating threads")
    parser.add_argument("--settle", type=float, default=5.0, help="pause between phases, s")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    bin_dir = ensure_binaries()
    directory = Path(tempfile.mkdtemp(prefix="chronos-bench-"))
    cluster = Cluster(directory / "cluster", bin_dir=bin_dir)
    outcomes: list[Outcome] = []
    try:
        print(f"control plane in {directory} ready in {cluster.start():.1f} s", flush=True)
        install_crd(cluster)
        for i in range(args.repeat):
            print(f"repeat {i + 1}/{args.repeat}", flush=True)
            outcomes.append(one_repeat(cluster, directory, args.count, args.threads, args.settle))
    finally:
        cluster.stop()
        if args.keep:
            print(f"kept {directory} (operator logs: operator-*.log)")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    report(outcomes, args.count, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
