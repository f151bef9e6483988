"""Prometheus metrics and the liveness/readiness endpoints of the operator."""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from chronos.readiness import Readiness

RECONCILES = Counter(
    "chronos_operator_reconciles_total", "ChronosJob reconciliations by outcome", ["outcome"]
)
#: ``source``: ``sync`` (a worker's sync failed and was re-queued) or ``watch_<kind>``.
ERRORS = Counter(
    "chronos_operator_errors_total", "Failed syncs and watch requests, by source", ["source"]
)
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
QUEUED = Gauge("chronos_operator_queued_jobs", "ChronosJobs waiting for a worker")
LEADER = Gauge("chronos_operator_leader", "1 while this replica holds the leader lease")
# H4 stand-in until H3's definitions are merged (issue 21 design's names).
NOTIFICATIONS = Counter(
    "chronos_notifications",
    "Notification delivery attempts by channel type and result",
    ["type", "result"],
)
NOTIFICATIONS_UNDELIVERED = Counter(
    "chronos_notifications_undelivered", "Notifications given up", ["type"]
)


class Health:
    """Live while the process serves; ready while ``readiness`` says so (chronos.readiness:
    the API server answers and, on the leader, the watches have listed).

    Three GET endpoints for the kubelet's probes and Prometheus, on asyncio's own server:
    a web framework for them cost ~35 MiB and 180 ms of start-up.
    """

    def __init__(self, readiness: Readiness) -> None:
        self.readiness = readiness

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._handle, host, port)

    def answer(self, method: str, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for a request."""
        if method not in ("GET", "HEAD"):
            return 405, _JSON, b'{"error":"method not allowed"}'
        match path.split("?", 1)[0]:
            case "/healthz":
                return 200, _JSON, b'{"status":"ok"}'
            case "/readyz":
                ok, why = self.readiness.state()
                body = json.dumps({"ready": ok, "reason": why}).encode()
                return (200 if ok else 503), _JSON, body
            case "/metrics":
                return 200, CONTENT_TYPE_LATEST, generate_latest()
        return 404, _JSON, b'{"error":"not found"}'

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), _READ_SECONDS)
            while (await asyncio.wait_for(reader.readline(), _READ_SECONDS)).strip():
                pass  # headers: nothing here depends on them
            method, path = [*request.decode("latin-1").split(), "", ""][:2]
            code, content_type, body = self.answer(method, path)
            head = (
                f"HTTP/1.1 {code} {HTTPStatus(code).phrase}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


_JSON = "application/json"
_READ_SECONDS = 5.0
