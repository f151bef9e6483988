"""The dashboard's overview and jobs pages over N jobs, against the JSON list of the same
jobs, from one facade process in the same run (auth ON, the caller's token sent as
``Authorization: Bearer``, as an authenticating proxy does; identity and access
verdicts cached as configured).

    .venv/bin/python bench/ui_pages.py [--jobs 1000] [--seconds 8] [--concurrency 4]

Prints requests/s, p50 and p99 of each and the ratio page/JSON (issue 12's target:
at least 0.5). The JSON baseline is ``GET /api/jobs`` with the default page size (100)
and with every job (``limit=N``); the jobs page shows its default page of jobs.
On the control plane in ``$CHRONOS_TEST_KUBECONFIG_DIR`` if set, else on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

from api_list import bench_namespace, load, quantile, reader_token, start, stop
from lightkube.types import PatchType
from operator_scale import create_all

from chronos import http, kube
from chronos.devcluster.cluster import free_port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    from lightkube.models.meta_v1 import ObjectMeta

    procs: list[subprocess.Popen[bytes]] = []
    with bench_namespace("chronos-bench-ui-") as (cluster, k8s, ns):
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
                        # a mix: most daily, some hourly (many upcoming runs), some weekly
                        "schedule": {"cron": f"{i % 60} * * * *"}
                        if i % 10 == 0
                        else {"hour": i % 24, "minute": i % 60}
                        if i % 3
                        else {"daysOfWeek": ["monday", "friday"], "hour": i % 24, "minute": 5},
                        "timeZone": ("Europe/Rome", "America/New_York", "UTC")[i % 3],
                        "enabled": i % 11 != 0,
                    },
                )
                for i in range(args.jobs)
            ]
            created = time.perf_counter()
            create_all(cluster.kubeconfig, objects, 4)
            print(f"created {args.jobs} ChronosJobs in {time.perf_counter() - created:.1f} s")

            env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
            port = free_port()
            env.update(
                CHRONOS_API_KUBECONFIG=str(cluster.kubeconfig),
                CHRONOS_API_PORT=str(port),
                CHRONOS_API_MAX_PAGE_SIZE=str(max(args.jobs, 1000)),
                CHRONOS_API_SESSION_KEY="k" * 32,
            )
            # bench/api_list.py --serve ours: create_app(ApiSettings.from_env()) under uvicorn
            procs.append(start(["--serve", "ours", "--port", str(port)], env, port))
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {token}"}
            with http.Client(headers=headers, timeout=60) as client:
                listing = client.get(f"{base}/api/jobs?namespace={ns}&limit={args.jobs}").json()
                assert listing["total"] == args.jobs, listing["total"]
                page = client.get(f"{base}/ui/jobs?namespace={ns}")
                assert page.status_code == 200, page.text[:500]
                assert "Job 1<" in page.text
            targets = {
                "JSON, page of 100": f"{base}/api/jobs?namespace={ns}",
                f"JSON, all {args.jobs}": f"{base}/api/jobs?namespace={ns}&limit={args.jobs}",
                "jobs page": f"{base}/ui/jobs?namespace={ns}",
                "overview": f"{base}/ui/",
            }
            print(f"{args.concurrency} concurrent clients, {args.seconds:.0f} s each")
            results = {}
            for label, url in targets.items():
                rps, lat = asyncio.run(load(url, headers, args.seconds, args.concurrency))
                results[label] = rps
                print(
                    f"{label:18s} {rps:8.1f} req/s  p50 {quantile(lat, 0.5) * 1000:7.1f} ms  "
                    f"p99 {quantile(lat, 0.99) * 1000:7.1f} ms  ({len(lat)} requests); "
                    f"load average {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            # Cold: the first request after a change recomputes (later ones reuse the result).
            with http.Client(headers=headers, timeout=60) as client:
                for label, url in (
                    ("jobs page", targets["jobs page"]),
                    ("overview", targets["overview"]),
                ):
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
                        started = time.perf_counter()
                        client.get(url).raise_for_status()
                        cold.append(time.perf_counter() - started)
                    median = statistics.median(cold) * 1000
                    print(f"{label:18s} first request after a change: median {median:.0f} ms")
            for page_label in ("jobs page", "overview"):
                for json_label in ("JSON, page of 100", f"JSON, all {args.jobs}"):
                    ratio = results[page_label] / results[json_label]
                    print(f"ratio {page_label} / {json_label}: {ratio:.2f}")
        finally:
            stop(procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
