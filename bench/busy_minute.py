"""A busy minute on the real node: N ChronosJobs on one slot, each a real runner pod.

    flock /tmp/realnode.lock .venv/bin/python bench/busy_minute.py [--jobs 200] [--quick]
        [--jitter-seconds S] [--lead 75] [--login-seconds 0.2]

Issue 19, item 10: everyone's ``0 2 * * *`` must start promptly and not stampede CoreHub.
On a kind cluster of its own (``kindcluster.scratch``, the node image built here; its
control plane, kubelet and containerd run inside the node container), the runner image
built (warm: seconds) and loaded with ``kind load``, the operator as a local process and
the fake CoreHub on this host's address on the kind network (every fake delay 0; each
login takes ``--login-seconds``, a stand-in for CoreHub's password check, so that logins
arriving together overlap as they would), each phase:

1. creates its ChronosJobs in a namespace of its own (``pipeline_stop``, runner pods
   sized small: requests 5m CPU / 32 MiB so that 200 fit the node's 2 cores), all on one
   slot: the first whole minute at least ``--lead`` seconds from now (cron
   ``M H D Mo *`` in UTC, so it fires once), and waits until every one has its CronJob;
2. at the slot, snapshots the CPU time of every process involved, of the runner pods and
   of the whole machine (``/proc/stat``); again 60 s later ("the minute") and when the
   last runner reached CoreHub. The node's processes are found in the host's ``/proc``
   by the node container's cgroup and named by ``argv[0]`` (``nodeprocs``). The runner
   pods' figure is the kubelet's ``kubepods`` cgroup (inside the node container's) less
   the processes of the node's other pods, which on kind are pods too (the control
   plane's static pods, kube-proxy, CoreDNS, metrics-server, local-path-provisioner);
   on the home-made node that cgroup held the runner pods alone. The node container's
   whole cgroup is reported too;
3. reads the fake CoreHub's request log (in process: no HTTP, no API server load) until
   every runner has sent a request naming its pipeline, then waits for the Jobs. On kind
   the runners reach the host through the node's masquerade, so every request comes
   from the node's address (the home-made node showed each pod's): each job stops a
   pipeline of its own, named as the job, and a runner's "first CoreHub request" is its
   first request naming that pipeline, the one right after its login (the fake's
   ``--login-seconds`` later than the login itself). The logins, one per runner and
   first of all, cannot be told apart: they are reported together as well;
4. reports, per runner, slot → first CoreHub request (p50/p99/max), and the stages on
   the way from the objects' own timestamps (1 s resolution): Job created (the CronJob
   controller), Pod created (the Job controller), Pod scheduled (kube-scheduler),
   container started (kubelet + containerd); CoreHub's peak concurrent logins and
   requests (the fake's counters) and the most logins in any 1 s and 10 s; the
   controller manager's client-side throttling messages (its static pod's log since
   just before the slot, through ``kubectl logs``; kubeadm runs it at the default
   verbosity, which logs only the waits over 1 s).

Phases: ``baseline`` (one job), ``busy`` (``--jobs``, 200; ``--quick``: 20) and, with
``--jitter-seconds S``, ``jitter`` (the same jobs with ``spec.jitterSeconds: S``: the
runner waits a deterministic per-slot delay first; the bench computes each job's delay
and also reports first request - slot - delay). Needs root and the real-node lock, like
the real-node tests.
A benchmark, not a test: it asserts only that every run happened.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

from chronos import contract as c
from chronos.corehub.api import LOGIN_PATH

#: Per-runner resources: small, so that 200 pods fit a 2-core node's allocatable CPU
#: (the operator's default request of 50m admits 40 at a time).
RUNNER_RESOURCES = {
    "requests": {"cpu": "5m", "memory": "32Mi"},
    "limits": {"cpu": "500m", "memory": "96Mi"},
}
HUB_SECRET = "hub"
GOAL_P99_SECONDS = 10.0
MINUTE = 60.0
#: CPU table rows: the whole machine, and what it spent beyond the processes measured.
MACHINE = "machine (all)"
OTHERS = "everything else on the machine"
#: The node container's whole cgroup (its rows above are parts of it).
NODE = "node container (all)"
RUNNERS = "runner pods (kubepods less the system pods)"
SHIMS = "containerd shims"


# ------------------------------------------------------------------ pure helpers


def next_slot(now: datetime, lead: float) -> datetime:
    """The first whole minute (UTC) at least ``lead`` seconds after ``now``."""
    earliest = now.astimezone(UTC) + timedelta(seconds=lead)
    floor = earliest.replace(second=0, microsecond=0)
    return floor if floor == earliest else floor + timedelta(minutes=1)


def slot_cron(slot: datetime) -> str:
    """A cron (UTC) that fires at ``slot`` and then not for a year."""
    s = slot.astimezone(UTC)
    return f"{s.minute} {s.hour} {s.day} {s.month} *"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p99: float
    max: float

    def cells(self) -> str:
        return f"{self.p50:.1f} / {self.p99:.1f} / {self.max:.1f} s"


def summarize(values: Sequence[float]) -> Summary | None:
    if not values:
        return None
    return Summary(len(values), percentile(values, 50), percentile(values, 99), max(values))


def task(job: str) -> dict[str, str]:
    """Each job stops a pipeline of its own (named as the job): the fake CoreHub sees
    the runners through the node's masquerade, all from the node's address, so the
    pipeline in a request's path is what tells whose request it is."""
    return {"type": "pipeline_stop", "pipelineId": job}


def seed_pipelines(names: Iterable[str]) -> list[dict[str, Any]]:
    """One fake pipeline per job name (:func:`task`)."""
    return [
        {"id": n, "name": n, "entities": [{"id": "e1", "name": "t", "groupId": "_default"}]}
        for n in names
    ]


def pipeline_of(path: str) -> str | None:
    """The pipeline a CoreHub request path names (``/pipelines/{p}/…``), if any."""
    parts = path.split("/")
    return unquote(parts[2]) if len(parts) > 2 and parts[1] == "pipelines" else None


def first_by_pipeline(requests: Iterable[Mapping[str, Any]], since: float) -> dict[str, float]:
    """Each pipeline's earliest request received at or after ``since`` (epoch s)."""
    first: dict[str, float] = {}
    for r in requests:
        at = float(r["received"])
        pipeline = pipeline_of(str(r["path"]))
        if pipeline is not None and at >= since and (pipeline not in first or at < first[pipeline]):
            first[pipeline] = at
    return first


def peak_in_window(times: Iterable[float], window: float) -> int:
    """The most events within any interval of ``window`` seconds (both ends included)."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def job_names(count: int) -> list[str]:
    return [f"job-{i:03d}" for i in range(count)]


def jitter_delay(namespace: str, name: str, slot_unix: int, jitter_seconds: int) -> int:
    """The runner's delay before acting, as /work/ISSUE19.md fixes it (``jitterSeconds``)."""
    digest = hashlib.sha256(f"{namespace}/{name}/{slot_unix}".encode()).hexdigest()
    return int(digest, 16) % (jitter_seconds + 1)


def early_runners(first: Mapping[str, float], delays: Mapping[str, int]) -> list[str]:
    """Jobs whose first CoreHub request (s after the slot) came before their jitter delay."""
    return sorted(name for name, at in first.items() if at < delays.get(name, 0))


def k8s_time(value: str) -> float:
    """Epoch seconds of a Kubernetes timestamp (``2026-01-02T03:04:05Z``)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class PodStages:
    """When each stage of one run was reached, epoch seconds (None: never)."""

    job_created: float | None
    pod_created: float | None
    scheduled: float | None
    started: float | None
    ip: str | None


def pod_stages(job: Mapping[str, Any], pod: Mapping[str, Any] | None) -> PodStages:
    """Stages from a Job and its (first) Pod as the API server returns them."""
    job_created = k8s_time(job["metadata"]["creationTimestamp"])
    if pod is None:
        return PodStages(job_created, None, None, None, None)
    status = pod.get("status") or {}
    scheduled = next(
        (
            k8s_time(c["lastTransitionTime"])
            for c in status.get("conditions") or []
            if c.get("type") == "PodScheduled" and c.get("status") == "True"
        ),
        None,
    )
    started = None
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        for key in ("running", "terminated"):
            if (state.get(key) or {}).get("startedAt"):
                started = k8s_time(state[key]["startedAt"])
    return PodStages(
        job_created,
        k8s_time(pod["metadata"]["creationTimestamp"]),
        scheduled,
        started,
        status.get("podIP"),
    )


def cpu_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds per process between two snapshots; one that appeared since counts from 0."""
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


# ------------------------------------------------------------------ measuring


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ the run


@dataclass
class Outcome:
    label: str
    count: int
    jitter: int
    slot: datetime
    first: dict[str, float]  # job name -> first CoreHub request, s after the slot
    delays: dict[str, int]  # job name -> its jitter delay
    stages: dict[str, PodStages]
    cpu_minute: dict[str, float]
    cpu_until_first: dict[str, float]
    until_first_s: float
    until_first_window: float  # the CPU snapshots' own interval around it
    hub_stats: dict[str, Any]
    logins: list[float]  # login request times, s after the slot
    throttled: list[str]  # the controller manager's client-side throttling lines
    results: dict[str, int] = field(default_factory=dict)  # Complete / Failed / unfinished
    failed_scheduling: int = 0  # kube-scheduler's FailedScheduling events in the namespace
    unschedulable: list[str] = field(default_factory=list)  # their distinct messages
    allocatable: dict[str, str] = field(default_factory=dict)  # the node's pods and cpu

    def stage(self, name: str) -> list[float]:
        slot = self.slot.timestamp()
        return [
            at - slot
            for s in self.stages.values()
            if (at := cast(float | None, getattr(s, name))) is not None
        ]


class Bench:
    """The plane, node, fake CoreHub and operator of one run, and its phases."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def run(self) -> list[Outcome]:
        from nodeprocs import node_container, node_processes

        from chronos.devcluster import kindcluster
        from chronos.devcluster.images import build_all, ensure_tools, image_tag, start_engine
        from chronos.devcluster.operator_process import OperatorProcess
        from chronos.fakehub import DEFAULT_SEED, FakeCoreHub, FakeHubState

        ensure_tools()
        engine = start_engine()
        outcomes: list[Outcome] = []
        try:
            build_all(engine, components=("runner",))
            image = image_tag("runner")
            with tempfile.TemporaryDirectory(prefix="bench-busy-") as tmp:
                deleting = 0.0
                with kindcluster.scratch(engine, Path(tmp) / "kind", image) as made:
                    self.made = made
                    self.cluster = made.target
                    self.container = node_container(engine, made.node)
                    seed = {
                        **DEFAULT_SEED,
                        "delays": {"activate": 0, "stop": 0, "snapshot": 0},
                        "pipelines": seed_pipelines(job_names(max(n for _, n, _ in self.phases()))),
                    }
                    self.hub = FakeCoreHub(FakeHubState(seed), host=made.address).start()
                    self.operator = OperatorProcess(
                        self.cluster.kubeconfig,
                        Path(tmp),
                        CHRONOS_RUNNER_IMAGE=image,
                        CHRONOS_RUNNER_IMAGE_PULL_POLICY="Never",
                        CHRONOS_RUNNER_POD_OVERRIDES=json.dumps({"resources": RUNNER_RESOURCES}),
                        CHRONOS_LEASE_NAMESPACE="default",
                        CHRONOS_NAMESPACES="busy-*",
                    ).start()
                    try:
                        for label, count, jitter in self.phases():
                            outcomes.append(self.phase(label, count, jitter))
                            print_outcome(outcomes[-1])
                    finally:
                        self.operator.stop()
                        self.hub.stop()
                    deleting = time.monotonic()  # the rest is scratch's `kind delete cluster`
                left = len(node_processes(self.container))
                print(
                    f"teardown: kind delete cluster {time.monotonic() - deleting:.1f} s, "
                    f"{left} processes of the node left",
                    flush=True,
                )
        finally:
            engine.stop()  # only if started here
        return outcomes

    def phases(self) -> list[tuple[str, int, int]]:
        jobs = 20 if self.args.quick else self.args.jobs
        phases = [("baseline", 1, 0), ("busy", jobs, 0)]
        if self.args.jitter_seconds is not None:
            phases.append(("jitter", jobs, self.args.jitter_seconds))
        return phases

    # ---------------------------------------------------------------- a phase

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.cluster.kubectl(*args, "-o", "json"))

    def setup_namespace(self, ns: str) -> None:
        root = Path(__file__).resolve().parents[1]
        k = self.cluster.kubectl
        k("create", "namespace", ns)
        k("apply", "-f", str(root / "deploy" / "rbac" / "runner.yaml"))
        k("create", "serviceaccount", "chronos-runner", "-n", ns)
        k("create", "rolebinding", "chronos-runner", "-n", ns, "--clusterrole=chronos-runner",
          f"--serviceaccount={ns}:chronos-runner")  # fmt: skip
        k("create", "secret", "generic", HUB_SECRET, "-n", ns,
          "--from-literal=username=admin", "--from-literal=password=admin")  # fmt: skip

    def create_jobs(self, ns: str, names: list[str], cron: str, jitter: int) -> None:
        from lightkube.models.meta_v1 import ObjectMeta

        from chronos import kube

        spec: dict[str, Any] = {
            "schedule": {"cron": cron},
            "timeZone": "UTC",
            "timeoutSeconds": 600,
            "coreHub": {"url": self.hub.url, "credentialsSecretRef": {"name": HUB_SECRET}},
        }
        if jitter:
            spec["jitterSeconds"] = jitter
        local = threading.local()

        def create(name: str) -> None:
            if not hasattr(local, "client"):
                local.client = kube.client(self.cluster.kubeconfig)
            meta = ObjectMeta(name=name, namespace=ns)
            job = {**spec, "task": task(name)}
            local.client.create(kube.ChronosJobResource(metadata=meta, spec=job))

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(create, names))

    def wait_cronjobs(self, ns: str, count: int, deadline: float) -> None:
        while time.time() < deadline:
            items = self.kubectl_json("get", "cronjobs", "-n", ns)["items"]
            if len(items) >= count:
                return
            time.sleep(1)
        raise SystemExit(f"{ns}: CronJobs not all made before the slot; raise --lead")

    def snapshot(self) -> dict[str, float]:
        import nodeprocs

        processes = nodeprocs.node_processes(self.container)
        named = nodeprocs.by_name(processes, {p: nodeprocs.cpu_seconds(p) for p in processes})
        cpu = {name: named.get(name, 0.0) for name in nodeprocs.SYSTEM}
        cpu["operator"] = nodeprocs.cpu_seconds(self.operator.pid)
        cpu["bench + fake CoreHub"] = nodeprocs.cpu_seconds(os.getpid())
        cpu[SHIMS] = named.get(nodeprocs.SHIM, 0.0)
        pods = nodeprocs.container_cpu_seconds(self.container, nodeprocs.KUBEPODS)
        cpu[RUNNERS] = pods - sum(named.get(name, 0.0) for name in nodeprocs.SYSTEM_PODS)
        cpu[NODE] = nodeprocs.container_cpu_seconds(self.container)
        cpu[MACHINE] = machine_busy_seconds()
        return cpu

    def phase(self, label: str, count: int, jitter: int) -> Outcome:
        ns = f"busy-{label}-{uuid.uuid4().hex[:6]}"
        names = job_names(count)
        self.setup_namespace(ns)
        slot = next_slot(datetime.now(UTC), self.args.lead + count * 0.1)
        slot_s = slot.timestamp()
        print(f"{label}: {count} job(s) in {ns}, slot {slot:%H:%M:%S} UTC", flush=True)
        self.create_jobs(ns, names, slot_cron(slot), jitter)
        self.wait_cronjobs(ns, count, deadline=slot_s - 10)
        log_since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        state = self.hub.state
        state.reset()
        if self.args.login_seconds > 0:
            state.add_fault(
                {"kind": "latency", "method": "POST", "path": f"^{LOGIN_PATH}$",
                 "seconds": self.args.login_seconds, "count": None}
            )  # fmt: skip
        time.sleep(max(0.0, slot_s - 0.2 - time.time()))
        before, measured_from = self.snapshot(), time.time()
        minute: dict[str, float] | None = None
        deadline = slot_s + max(180.0, jitter + 120.0, count * 2.0)
        while time.time() < deadline:
            if minute is None and time.time() >= slot_s + MINUTE:
                minute = cpu_delta(before, self.snapshot())
            with state.lock:
                requests = list(state.requests)
            if len(first_by_pipeline(requests, slot_s - 1)) >= count:
                break
            time.sleep(0.25)
        cpu_until_first, reached = cpu_delta(before, self.snapshot()), time.time()
        if minute is None:
            time.sleep(max(0.0, slot_s + MINUTE - time.time()))
            minute = cpu_delta(before, self.snapshot())
        results = self.wait_jobs(ns, count, deadline=max(deadline, time.time() + 120))
        with state.lock:
            requests = list(state.requests)
        hub_stats = state.stats()
        jobs = self.kubectl_json("get", "jobs", "-n", ns)["items"]
        pods = self.kubectl_json("get", "pods", "-n", ns)["items"]
        pod_of_job: dict[str, dict[str, Any]] = {}
        for pod in sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"]):
            owner = (pod["metadata"].get("labels") or {}).get("job-name")
            if owner:
                pod_of_job.setdefault(owner, pod)
        stages: dict[str, PodStages] = {}
        for job in jobs:
            annotations = job["metadata"].get("annotations") or {}
            chronosjob = annotations.get(c.CHRONOSJOB_ANNOTATION, job["metadata"]["name"])
            stages[chronosjob] = pod_stages(job, pod_of_job.get(job["metadata"]["name"]))
        first_at = first_by_pipeline(requests, slot_s - 1)
        first = {name: first_at[name] - slot_s for name in stages if name in first_at}
        events = self.kubectl_json("get", "events", "-n", ns)["items"]
        unschedulable = sorted(
            {e.get("message", "")[:120] for e in events if e.get("reason") == "FailedScheduling"}
        )
        node = self.kubectl_json("get", "node", self.made.node)
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        text = self.cluster.kubectl(
            *("logs", "-n", "kube-system", f"kube-controller-manager-{self.made.node}"),
            f"--since-time={log_since}",
            check=False,
        )
        throttled = [line for line in text.splitlines() if "client-side throttling" in line]
        outcome = Outcome(
            label=label,
            count=count,
            jitter=jitter,
            slot=slot,
            first=first,
            delays={n: jitter_delay(ns, n, int(slot_s), jitter) for n in names} if jitter else {},
            stages=stages,
            cpu_minute=minute,
            cpu_until_first=cpu_until_first,
            until_first_s=reached - slot_s,
            until_first_window=reached - measured_from,
            hub_stats=hub_stats,
            logins=[
                float(r["received"]) - slot_s
                for r in requests
                if r["method"] == "POST" and r["path"] == LOGIN_PATH
            ],
            throttled=throttled,
            results=results,
            failed_scheduling=sum(
                int(e.get("count") or 1) for e in events if e.get("reason") == "FailedScheduling"
            ),
            unschedulable=unschedulable,
            allocatable={k: str(allocatable.get(k)) for k in ("pods", "cpu")},
        )
        self.delete_namespace(ns)
        return outcome

    def wait_jobs(self, ns: str, count: int, deadline: float) -> dict[str, int]:
        """Until every Job finished (or the deadline): how many Complete, Failed, unfinished."""
        results: dict[str, int] = {}
        while True:
            jobs = self.kubectl_json("get", "jobs", "-n", ns)["items"]
            results = {"Complete": 0, "Failed": 0}
            for job in jobs:
                for cond in (job.get("status") or {}).get("conditions") or []:
                    if cond["type"] in results and cond["status"] == "True":
                        results[cond["type"]] += 1
            results["unfinished"] = count - results["Complete"] - results["Failed"]
            if results["unfinished"] <= 0 or time.time() > deadline:
                return results
            time.sleep(3)

    def delete_namespace(self, ns: str) -> None:
        """Delete the phase's objects and wait until its pods left the node."""
        self.cluster.kubectl("delete", "namespace", ns, "--wait=false")
        deadline = time.time() + 300
        while time.time() < deadline:
            pods = self.kubectl_json("get", "pods", "-n", ns)["items"]
            if not pods:
                return
            time.sleep(2)
        print(f"{ns}: pods still there after 300 s", flush=True)


# ------------------------------------------------------------------ report


CPU_ORDER = (
    "kube-apiserver",
    "etcd",
    "kube-controller-manager",
    "kube-scheduler",
    "operator",
    "kubelet",
    "containerd",
    SHIMS,
    "kube-proxy",
    "coredns",
    "metrics-server",
    "local-path-provisioner",
    RUNNERS,
    NODE,
    "bench + fake CoreHub",
    MACHINE,
)


def others(cpu: Mapping[str, float]) -> dict[str, float]:
    """``cpu`` plus what the machine spent beyond the processes measured (other users);
    the node container's total is not added again (its parts are rows of their own)."""
    ours = sum(v for k, v in cpu.items() if k not in (MACHINE, NODE))
    return {**cpu, OTHERS: cpu.get(MACHINE, 0.0) - ours}


def print_outcome(o: Outcome) -> None:
    jitter = f", jitterSeconds {o.jitter}" if o.jitter else ""
    print(f"\n### {o.label}: {o.count} job(s), slot {o.slot:%Y-%m-%d %H:%M:%S} UTC{jitter}")
    print(f"runs: {o.results}; runners seen at CoreHub: {len(o.first)}/{o.count}")
    print(
        f"node allocatable {o.allocatable}; FailedScheduling events: {o.failed_scheduling} "
        f"{o.unschedulable[:2]}"
    )
    print("| stage (s after the slot) | n | p50 / p99 / max |")
    print("|---|---:|---:|")
    rows = [
        ("Job created (CronJob controller)", o.stage("job_created")),
        ("Pod created (Job controller)", o.stage("pod_created")),
        ("Pod scheduled (kube-scheduler)", o.stage("scheduled")),
        ("container started (kubelet, containerd)", o.stage("started")),
        ("logins (any runner's; unattributed)", o.logins),
        ("**first CoreHub request** (naming its pipeline)", list(o.first.values())),
    ]
    if o.jitter:
        net = [t - o.delays[n] for n, t in o.first.items()]
        rows.append(("first request - jitter delay", net))
        rows.append(("jitter delays (computed)", [float(d) for d in o.delays.values()]))
        early = early_runners(o.first, o.delays)
        # A runner that reached CoreHub before its delay ended did not wait: the runner
        # in the image does not honour jitterSeconds, and the figures say nothing of it.
        print(f"runners that acted before their jitter delay: {len(early)} {early[:5]}")
    for title, values in rows:
        s = summarize(values)
        print(f"| {title} | {s.n if s else 0} | {s.cells() if s else '—'} |")
    stats = o.hub_stats
    print(
        f"CoreHub: peak concurrent logins {stats['peakInFlight']['logins']}, requests "
        f"{stats['peakInFlight']['requests']}; most logins in 1 s "
        f"{peak_in_window(o.logins, 1.0)}, in 10 s {peak_in_window(o.logins, 10.0)}; "
        f"{len(o.logins)} logins, {stats['requests']} requests"
    )
    window = max(o.until_first_window, 0.001)
    print(f"CPU seconds (cores) | the minute after the slot | slot → last first request "
          f"({o.until_first_s:.1f} s)")  # fmt: skip
    print("|---|---:|---:|")
    minute, until_first = others(o.cpu_minute), others(o.cpu_until_first)
    for name in (*CPU_ORDER, OTHERS):
        if name in minute:
            a, b = minute[name], until_first.get(name, 0.0)
            print(f"| {name} | {a:.1f} ({a / MINUTE:.2f}) | {b:.1f} ({b / window:.2f}) |")
    last = max(o.throttled[-1:], default="none")
    print(f"controller manager waits > 1 s for its client-side rate limit: "
          f"{len(o.throttled)} (last: {last[:300]})", flush=True)  # fmt: skip


def print_summary(outcomes: list[Outcome]) -> None:
    print("\n| phase | jobs | slot → first CoreHub request p50 / p99 / max | goal |")
    print("|---|---:|---:|---|")
    for o in outcomes:
        s = summarize(list(o.first.values()))
        verdict = ""
        if o.label == "busy" and s is not None:
            verdict = "met" if s.p99 <= GOAL_P99_SECONDS else "MISSED"
        print(f"| {o.label} | {o.count} | {s.cells() if s else '—'} | {verdict} |")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end: {load}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200, help="jobs on the busy slot")
    parser.add_argument("--quick", action="store_true", help="20 jobs instead of --jobs")
    parser.add_argument(
        "--jitter-seconds",
        type=int,
        default=None,
        help="also run the busy slot with spec.jitterSeconds = this (0..3600)",
    )
    parser.add_argument(
        "--lead", type=float, default=60.0, help="seconds from now to the slot, at least"
    )
    parser.add_argument(
        "--login-seconds",
        type=float,
        default=0.2,
        help="how long the fake CoreHub takes to answer a login",
    )
    args = parser.parse_args(argv)
    if args.jitter_seconds is not None:
        if not 0 <= args.jitter_seconds <= 3600:
            parser.error("--jitter-seconds must be within 0..3600")
        crd = Path(__file__).resolve().parents[1] / "deploy" / "crd"
        if "jitterSeconds" not in "".join(p.read_text() for p in crd.glob("*.yaml")):
            parser.error("--jitter-seconds: this tree's CRD has no spec.jitterSeconds yet")
    if os.geteuid() != 0:
        parser.error("needs root (a kind cluster), like the real-node tests")
    outcomes = Bench(args).run()
    print_summary(outcomes)
    unfinished = [o.label for o in outcomes if len(o.first) < o.count]
    if unfinished:
        print(f"not every runner reached CoreHub in: {', '.join(unfinished)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
