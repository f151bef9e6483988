"""GET /api/jobs over N jobs, unpaged and paged: the facade against a bare FastAPI endpoint.

Both servers run as separate uvicorn processes in the same run; the bare endpoints
return the very payloads the facade served (plain dicts, serialised by FastAPI): all
N jobs (the facade with ``limit=N``) and one page (``skip=N/2&limit=--page``).
The facade runs with auth ON (identity and access verdicts, asked with the caller's
token, cached as configured), reading from its watch-backed cache.

The four loads (bare and facade, all and page) run in turn, ``--rounds`` times, each
pair back to back and its order swapped every round, so a change in the machine's load
falls on both servers alike; reported per round and as medians (the ratio's median is
that of the rounds' ratios):
requests per second, and each server's CPU time per request (its own utime + stime,
which the load generator's and other processes' use of the CPU does not change), and the
cores that makes (below one, the server was not the bottleneck: the load generator, one
Python process unless ``--processes``, or the machine was).

    .venv/bin/python bench/api_list.py [--jobs 1000] [--page 100] [--rounds 3] [--processes 1]

On the control plane in ``$CHRONOS_TEST_KUBECONFIG_DIR`` if set, else on one of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from lightkube import Client
from operator_scale import cpu_seconds, create_all

from chronos import http, kube
from chronos.devcluster.binaries import ensure_binaries
from chronos.devcluster.cluster import Cluster, free_port
from chronos.devcluster.install import install_crd


def serve(kind: str, port: int, payload: Path | None, page_payload: Path | None) -> None:
    import uvicorn
    from fastapi import FastAPI

    if kind == "bare":
        assert payload is not None
        assert page_payload is not None
        body: dict[str, Any] = json.loads(payload.read_text())
        page: dict[str, Any] = json.loads(page_payload.read_text())
        bare = FastAPI()

        @bare.get("/api/jobs")
        async def jobs() -> dict[str, Any]:
            return body

        @bare.get("/api/page")
        async def jobs_page() -> dict[str, Any]:
            return page

        @bare.get("/readyz")
        async def ready() -> dict[str, str]:
            return {"status": "ready"}

        app: Any = bare
    else:
        from chronos.api.app import create_app
        from chronos.api.settings import ApiSettings

        app = create_app(ApiSettings.from_env())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def load(
    url: str, headers: dict[str, str], seconds: float, concurrency: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    async with http.AsyncClient(headers=headers, timeout=30) as client:
        for _ in range(20):  # warm-up
            (await client.get(url)).raise_for_status()
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                r = await client.get(url)
                latencies.append(time.perf_counter() - started)
                r.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies


def load_in_process(job: tuple[str, dict[str, str], float, int]) -> tuple[float, list[float]]:
    return asyncio.run(load(*job))


def load_from(
    pool: Pool | None,
    processes: int,
    url: str,
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
) -> tuple[float, list[float]]:
    """``load`` in this process, or in ``processes`` processes of ``pool`` at once (one
    Python load generator saturates before the servers do): the rates add up."""
    if pool is None:
        return asyncio.run(load(url, headers, seconds, concurrency))
    results = pool.map(load_in_process, [(url, headers, seconds, concurrency)] * processes)
    return sum(r for r, _ in results), [x for _, lat in results for x in lat]


def start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, __file__, *args], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if http.Client().get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return proc
        except http.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server {args} did not become ready")


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1]


@contextmanager
def bench_namespace(prefix: str) -> Iterator[tuple[Cluster, Client, str]]:
    """A fresh namespace on the control plane in ``$CHRONOS_TEST_KUBECONFIG_DIR``, else
    on one of its own; deleted afterwards (with the control plane, if its own)."""
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import Namespace

    own: Path | None = None
    if "CHRONOS_TEST_KUBECONFIG_DIR" in os.environ:
        cluster = Cluster(Path(os.environ["CHRONOS_TEST_KUBECONFIG_DIR"]))
    else:
        own = Path(tempfile.mkdtemp(prefix=prefix))
        cluster = Cluster(own / "cluster", bin_dir=ensure_binaries())
    try:
        if own is not None:
            print(f"control plane ready in {cluster.start():.1f} s", flush=True)
            install_crd(cluster)
        k8s = kube.client(cluster.kubeconfig)
        ns = f"bench-{uuid.uuid4().hex[:6]}"
        k8s.create(Namespace(metadata=ObjectMeta(name=ns)))
        try:
            yield cluster, k8s, ns
        finally:
            k8s.delete(Namespace, ns)
    finally:
        if own is not None:
            cluster.stop()
            shutil.rmtree(own, ignore_errors=True)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def reader_token(k8s: Client, ns: str) -> str:
    """A token of a ServiceAccount that may get and list the chronosjobs of ``ns``."""
    from lightkube.models.authentication_v1 import TokenRequestSpec
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
    from lightkube.resources.core_v1 import ServiceAccount
    from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

    k8s.create(ServiceAccount(metadata=ObjectMeta(name="reader", namespace=ns)))
    rule = PolicyRule(
        apiGroups=["chronos.gluesync.io"], resources=["chronosjobs"], verbs=["get", "list"]
    )
    k8s.create(Role(metadata=ObjectMeta(name="reader", namespace=ns), rules=[rule]))
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name="reader", namespace=ns),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name="reader"),
            subjects=[Subject(kind="ServiceAccount", name="reader", namespace=ns)],
        )
    )
    request = ServiceAccount.Token(
        metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=[], expirationSeconds=3600)
    )
    result = k8s.create(request, name="reader", namespace=ns)
    assert result.status is not None
    return str(result.status.token)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", choices=["ours", "bare"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--payload", type=Path)
    parser.add_argument("--page-payload", type=Path)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--processes", type=int, default=1, help="load generator processes (each --concurrency)"
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.payload, args.page_payload)
        return 0

    from lightkube.models.meta_v1 import ObjectMeta

    jobs = args.jobs
    procs: list[subprocess.Popen[bytes]] = []
    with bench_namespace("chronos-bench-api-") as (cluster, k8s, ns):
        try:
            token = reader_token(k8s, ns)
            created = time.perf_counter()
            objects = [
                kube.ChronosJobResource(
                    metadata=ObjectMeta(name=f"job-{i:05d}", namespace=ns),
                    spec={
                        "displayName": f"Job {i}",
                        "task": {"type": "entity_start", "pipelineId": "p", "entityIds": [f"e{i}"]},
                        "schedule": {
                            "daysOfWeek": ["monday", "friday"],
                            "hour": i % 24,
                            "minute": i % 60,
                        },
                        "timeZone": "Europe/Rome",
                    },
                )
                for i in range(jobs)
            ]
            create_all(cluster.kubeconfig, objects, 4)
            print(
                f"created {jobs} ChronosJobs in {time.perf_counter() - created:.1f} s", flush=True
            )

            env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
            ours_port, bare_port = free_port(), free_port()
            env_ours = {
                **env,
                "CHRONOS_API_KUBECONFIG": str(cluster.kubeconfig),
                "CHRONOS_API_PORT": str(ours_port),
                "CHRONOS_API_MAX_PAGE_SIZE": str(max(jobs, 1000)),
            }
            procs.append(start(["--serve", "ours", "--port", str(ours_port)], env_ours, ours_port))
            base = f"http://127.0.0.1:{ours_port}/api/jobs?namespace={ns}"
            ours_all = f"{base}&limit={jobs}"
            ours_page = f"{base}&skip={jobs // 2}&limit={args.page}"
            headers = {"Authorization": f"Bearer {token}"}
            client = http.Client(headers=headers, timeout=60)
            payload = client.get(ours_all).json()
            assert payload["total"] == jobs, payload["total"]
            assert len(payload["items"]) == jobs
            page = client.get(ours_page).json()
            assert len(page["items"]) == min(args.page, jobs - jobs // 2)
            files = []
            for body in (payload, page):
                with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                    json.dump(body, f)
                files.append(f.name)
            procs.append(
                start(
                    [
                        "--serve",
                        "bare",
                        "--port",
                        str(bare_port),
                        "--payload",
                        files[0],
                        "--page-payload",
                        files[1],
                    ],
                    env,
                    bare_port,
                )
            )
            bare = f"http://127.0.0.1:{bare_port}/api"
            print(
                f"payloads {len(json.dumps(payload)) / 1024:.0f} KiB (all {jobs}) and "
                f"{len(json.dumps(page)) / 1024:.0f} KiB (a page of {args.page}), "
                f"{args.concurrency} concurrent clients in each of {args.processes} processes, "
                f"{args.seconds:.0f} s each, "
                f"{args.rounds} rounds"
            )
            ours_proc, bare_proc = procs
            loads = (
                ("bare, all", f"{bare}/jobs", bare_proc),
                ("Chronos, all", ours_all, ours_proc),
                ("bare, page", f"{bare}/page", bare_proc),
                ("Chronos, page", ours_page, ours_proc),
            )
            rates: dict[str, list[float]] = {label: [] for label, _, _ in loads}
            cpu: dict[str, list[float]] = {label: [] for label, _, _ in loads}
            ratios: dict[str, list[float]] = {"all": [], "page": []}
            pool = Pool(args.processes) if args.processes > 1 else None
            for n in range(1, args.rounds + 1):
                turn = loads if n % 2 else (loads[1], loads[0], loads[3], loads[2])
                for label, url, proc in turn:
                    before = cpu_seconds(proc.pid)
                    rps, lat = load_from(
                        pool, args.processes, url, headers, args.seconds, args.concurrency
                    )
                    # The server also answered each load()'s 20 warm-up requests.
                    warm_up = 20 * max(1, args.processes)
                    per_request = (cpu_seconds(proc.pid) - before) / (len(lat) + warm_up)
                    rates[label].append(rps)
                    cpu[label].append(per_request)
                    print(
                        f"round {n} {label:13s} {rps:8.1f} req/s  p50 "
                        f"{quantile(lat, 0.5) * 1000:7.1f} ms  "
                        f"p99 {quantile(lat, 0.99) * 1000:7.1f} ms  "
                        f"server CPU {per_request * 1e6:6.0f} us/req, "
                        f"{per_request * rps:.2f} cores"
                        f"  ({len(lat)} requests); "
                        f"load average {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
                for kind in ratios:
                    ratios[kind].append(rates[f"Chronos, {kind}"][-1] / rates[f"bare, {kind}"][-1])
            if pool is not None:
                pool.close()
                pool.join()
            print("medians:")
            for label, _, _ in loads:
                print(
                    f"{label:13s} {statistics.median(rates[label]):8.1f} req/s  server CPU "
                    f"{statistics.median(cpu[label]) * 1e6:6.0f} us/req"
                )
            for kind, values in ratios.items():
                work = statistics.median(cpu[f"bare, {kind}"]) / statistics.median(
                    cpu[f"Chronos, {kind}"]
                )
                print(
                    f"ratio Chronos/bare ({kind}): requests/s {statistics.median(values):.2f} "
                    f"(rounds: {', '.join(f'{r:.2f}' for r in values)}); "
                    f"bare CPU per request / Chronos's {work:.2f}"
                )
        finally:
            stop(procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
