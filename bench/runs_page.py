"""The dashboard's Runs page over 10,000 runs (100 jobs with a full history of 100 runs
each), against the JSON export of the same page and the REST list of jobs, from one
facade process in the same run (auth ON, the caller's token sent as
``Authorization: Bearer``, as an authenticating proxy does).

    .venv/bin/python bench/runs_page.py [--jobs 100] [--seconds 6] [--rounds 5]

Each round loads every target in turn for ``--seconds``; the figures are medians over
the rounds of requests/s and of the per-round ratios (issue 22's target: Runs page /
JSON export of the same page at least 0.5). Also the first request after a change (the
10,000 rows rebuilt, filtered and sorted), median of 5. On the control plane in
``$CHRONOS_TEST_KUBECONFIG_DIR`` if set, else on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from api_list import bench_namespace, load, quantile, reader_token, start, stop
from lightkube.types import PatchType
from operator_scale import create_all

from chronos import http, kube
from chronos.devcluster.cluster import free_port
from chronos.times import rfc3339

RESULTS = ("succeeded", "succeeded", "succeeded", "failed", "missed", "aborted")


def history(job: int, now: datetime) -> list[dict[str, object]]:
    """A full history (100 runs, newest first), an hour apart, of job ``job``."""
    out: list[dict[str, object]] = []
    for i in range(100):
        ended = now - timedelta(hours=i, minutes=job % 60)
        out.append(
            {
                "runId": f"job-{job:05d}-{i:03d}",
                "trigger": "schedule" if i % 5 else "run-now",
                "result": RESULTS[(i + job) % len(RESULTS)],
                "startTime": rfc3339(ended - timedelta(seconds=30 + i)),
                "endTime": rfc3339(ended),
                "durationSeconds": 30.0 + i,
                "reason": "TaskRejected" if (i + job) % 6 == 3 else None,
                "message": f"entity_start on pipeline p: run {i}",
                "peakCpuMillicores": float(5 + i % 40),
                "peakMemoryBytes": (40 + i % 20) << 20,
            }
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    from lightkube.models.meta_v1 import ObjectMeta

    procs: list[subprocess.Popen[bytes]] = []
    with bench_namespace("chronos-bench-runs-") as (cluster, k8s, ns):
        try:
            token = reader_token(k8s, ns)
            objects = [
                kube.ChronosJobResource(
                    metadata=ObjectMeta(
                        name=f"job-{i:05d}", namespace=ns, labels={"n": str(i % 7)}
                    ),
                    spec={
                        "displayName": f"Job {i}",
                        "task": {"type": "entity_start", "pipelineId": "p", "entityIds": [f"e{i}"]},
                        "schedule": {"cron": f"{i % 60} * * * *"},
                        "historyLimit": 100,
                    },
                )
                for i in range(args.jobs)
            ]
            create_all(cluster.kubeconfig, objects, 4)
            now = datetime.now(UTC)
            started = time.perf_counter()
            for i in range(args.jobs):
                k8s.patch(
                    kube.ChronosJobResource.Status,
                    f"job-{i:05d}",
                    {"status": {"history": history(i, now)}},
                    namespace=ns,
                    patch_type=PatchType.MERGE,
                )
            runs = 100 * args.jobs
            print(f"wrote {runs} runs in {time.perf_counter() - started:.1f} s", flush=True)

            env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
            port = free_port()
            env.update(
                CHRONOS_API_KUBECONFIG=str(cluster.kubeconfig),
                CHRONOS_API_PORT=str(port),
                CHRONOS_API_SESSION_KEY="k" * 32,
            )
            # bench/api_list.py --serve ours: create_app(ApiSettings.from_env()) under uvicorn
            procs.append(start(["--serve", "ours", "--port", str(port)], env, port))
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {token}"}
            targets = {
                "Runs page (100 of 10,000)": f"{base}/ui/runs?namespace={ns}",
                "JSON export, same page": f"{base}/ui/runs/export.json?namespace={ns}&page=1",
                "REST list of jobs (100)": f"{base}/api/jobs?namespace={ns}&limit=100",
            }
            with http.Client(headers=headers, timeout=60) as client:
                deadline = time.monotonic() + 60
                while True:  # the facade's watch cache holds every run
                    body = client.get(targets["JSON export, same page"]).json()
                    if body["total"] == runs or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                assert body["total"] == runs, body["total"]
                assert len(body["items"]) == 100
                page = client.get(targets["Runs page (100 of 10,000)"])
                assert page.status_code == 200, page.text[:500]
                assert page.text.count("<tr>") >= 100
            print(
                f"{args.concurrency} concurrent clients, {args.seconds:.0f} s per target, "
                f"{args.rounds} rounds",
                flush=True,
            )
            rates: dict[str, list[float]] = {label: [] for label in targets}
            latencies: dict[str, list[float]] = {label: [] for label in targets}
            for r in range(args.rounds):
                for label, url in targets.items():
                    rps, lat = asyncio.run(load(url, headers, args.seconds, args.concurrency))
                    rates[label].append(rps)
                    latencies[label] += lat
                print(
                    f"round {r + 1}: "
                    + ", ".join(f"{label} {rates[label][-1]:.1f}" for label in targets)
                    + f" req/s; load average {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            for label in targets:
                lat = latencies[label]
                print(
                    f"{label:28s} median {statistics.median(rates[label]):7.1f} req/s  "
                    f"p50 {quantile(lat, 0.5) * 1000:6.1f} ms  "
                    f"p99 {quantile(lat, 0.99) * 1000:6.1f} ms"
                )
            page_label, *baselines = targets
            for baseline in baselines:
                ratios = [p / b for p, b in zip(rates[page_label], rates[baseline], strict=True)]
                print(
                    f"ratio Runs page / {baseline}: median {statistics.median(ratios):.2f} "
                    f"(rounds {', '.join(f'{x:.2f}' for x in ratios)})"
                )
            # Cold: the first request after a change rebuilds the 10,000 rows.
            with http.Client(headers=headers, timeout=60) as client:
                cold = []
                for i in range(5):
                    k8s.patch(
                        kube.ChronosJobResource,
                        f"job-{i:05d}",
                        {"metadata": {"labels": {"touched": str(time.time_ns())}}},
                        namespace=ns,
                        patch_type=PatchType.MERGE,
                    )
                    time.sleep(0.5)  # the watch delivers the change
                    began = time.perf_counter()
                    client.get(targets[page_label]).raise_for_status()
                    cold.append(time.perf_counter() - began)
                print(
                    f"Runs page, first request after a change: median "
                    f"{statistics.median(cold) * 1000:.0f} ms"
                )
        finally:
            stop(procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
