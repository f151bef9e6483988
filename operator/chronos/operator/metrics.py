"""Prometheus metrics and the liveness/readiness endpoints of the operator."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from chronos.readiness import Readiness

RECONCILES = Counter(
    "chronos_operator_reconciles_total", "ChronosJob reconciliations by outcome", ["outcome"]
)
ERRORS = Counter("chronos_operator_errors_total", "Unexpected errors in handlers", ["handler"])
RECONCILE_SECONDS = Histogram(
    "chronos_operator_reconcile_duration_seconds", "Time to reconcile one ChronosJob"
)
MANAGED = Gauge("chronos_operator_managed_jobs", "ChronosJobs this operator manages")
RUNS_RECORDED = Counter(
    "chronos_operator_runs_recorded_total",
    "Runs recorded by the operator (unreported or missed)",
    ["result"],
)
RUNS_STARTED = Counter("chronos_operator_run_now_total", "Jobs created by run-now requests")
#: Every write request the operator sends (kubeio), by what it writes: a restart with
#: every job in sync sends none, a new job one CronJob create and one status patch.
WRITES = Counter("chronos_operator_writes_total", "API write requests sent", ["write"])
#: Read-modify-writes that met a concurrent writer (409) and were retried.
WRITE_CONFLICTS = Counter(
    "chronos_operator_write_conflicts_total", "Write requests answered 409 Conflict", ["write"]
)
LEADER = Gauge("chronos_operator_leader", "1 while this replica holds the leader lease")


class Health:
    """Live while the process serves; ready while ``readiness`` says so (chronos.readiness:
    the API server answers and, on the leader, Kopf's watches run)."""

    def __init__(self, readiness: Readiness) -> None:
        self.readiness = readiness

    async def serve(self, host: str, port: int) -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        return runner

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        ok, why = self.readiness.state()
        return web.json_response({"ready": ok, "reason": why}, status=200 if ok else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
