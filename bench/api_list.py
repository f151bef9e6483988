"""GET /api/jobs with 1,000 jobs: the facade against a bare FastAPI endpoint.

Both servers run as separate uvicorn processes in the same run; the bare endpoint
returns the very payload the facade served (a plain dict, serialised by FastAPI).
The facade runs with auth ON (identity and access verdicts, asked with the caller's
token, cached as configured), reading from its watch-backed cache.

    CHRONOS_TEST_KUBECONFIG_DIR=.devcluster .venv/bin/python bench/api_list.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from chronos import http, kube
from chronos.devcluster.cluster import Cluster, free_port

JOBS = 1000


def serve(kind: str, port: int, payload: Path | None) -> None:
    import uvicorn
    from fastapi import FastAPI

    if kind == "bare":
        assert payload is not None
        body: dict[str, Any] = json.loads(payload.read_text())
        bare = FastAPI()

        @bare.get("/api/jobs")
        async def jobs() -> dict[str, Any]:
            return body

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", choices=["ours", "bare"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--payload", type=Path)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.payload)
        return 0

    from lightkube.models.authentication_v1 import TokenRequestSpec
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
    from lightkube.resources.core_v1 import Namespace, ServiceAccount
    from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

    cluster = Cluster(Path(os.environ.get("CHRONOS_TEST_KUBECONFIG_DIR", ".devcluster")))
    k8s = kube.client(cluster.kubeconfig)
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    k8s.create(Namespace(metadata=ObjectMeta(name=ns)))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        k8s.create(ServiceAccount(metadata=ObjectMeta(name="reader", namespace=ns)))
        k8s.create(
            Role(
                metadata=ObjectMeta(name="reader", namespace=ns),
                rules=[
                    PolicyRule(
                        apiGroups=["chronos.gluesync.io"],
                        resources=["chronosjobs"],
                        verbs=["get", "list"],
                    )
                ],
            )
        )
        k8s.create(
            RoleBinding(
                metadata=ObjectMeta(name="reader", namespace=ns),
                roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name="reader"),
                subjects=[Subject(kind="ServiceAccount", name="reader", namespace=ns)],
            )
        )
        token_request = ServiceAccount.Token(
            metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=[], expirationSeconds=3600)
        )
        token_result = k8s.create(token_request, name="reader", namespace=ns)
        assert token_result.status is not None
        token = token_result.status.token
        created = time.perf_counter()
        for i in range(JOBS):
            k8s.create(
                kube.ChronosJobResource(
                    metadata=ObjectMeta(name=f"job-{i:04d}", namespace=ns),
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
            )
        print(f"created {JOBS} ChronosJobs in {time.perf_counter() - created:.1f} s")

        env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
        ours_port, bare_port = free_port(), free_port()
        env_ours = {
            **env,
            "CHRONOS_API_KUBECONFIG": str(cluster.kubeconfig),
            "CHRONOS_API_PORT": str(ours_port),
        }
        procs.append(start(["--serve", "ours", "--port", str(ours_port)], env_ours, ours_port))
        ours_url = f"http://127.0.0.1:{ours_port}/api/jobs?namespace={ns}&limit={JOBS}"
        headers = {"Authorization": f"Bearer {token}"}
        payload = http.Client(headers=headers).get(ours_url).json()
        assert payload["total"] == JOBS, payload["total"]
        assert len(payload["items"]) == JOBS
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(payload, f)
        procs.append(
            start(
                ["--serve", "bare", "--port", str(bare_port), "--payload", f.name], env, bare_port
            )
        )
        bare_url = f"http://127.0.0.1:{bare_port}/api/jobs"
        size = len(json.dumps(payload))
        print(
            f"payload {size / 1024:.0f} KiB, {args.concurrency} concurrent clients, "
            f"{args.seconds:.0f} s each"
        )
        results = {}
        for label, url in (("bare FastAPI", bare_url), ("Chronos API", ours_url)):
            rps, lat = asyncio.run(load(url, headers, args.seconds, args.concurrency))
            results[label] = rps
            print(
                f"{label:13s} {rps:8.1f} req/s  p50 {quantile(lat, 0.5) * 1000:7.1f} ms  "
                f"p99 {quantile(lat, 0.99) * 1000:7.1f} ms  ({len(lat)} requests)"
            )
        print(f"ratio Chronos/bare: {results['Chronos API'] / results['bare FastAPI']:.2f}")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        k8s.delete(Namespace, ns)
    return 0


if __name__ == "__main__":
    sys.exit(main())
