"""Prometheus metrics and the liveness/readiness endpoints of the operator."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
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

# ------------------------------------------------------------------ per job (issue 21)
# Labelled (namespace, job) only, so the series are bounded by the jobs; a deleted job's
# are removed (``forget_job``). Scrape them with honorLabels (the chart's ServiceMonitor
# does): else Prometheus renames ``job`` and ``namespace`` to ``exported_*``.
JOB_LABELS = ("namespace", "job")
LAST_SUCCESS = Gauge(
    "chronos_job_last_success_timestamp_seconds",
    "When the job's newest succeeded run ended (Unix seconds)",
    JOB_LABELS,
)
CONSECUTIVE_FAILURES = Gauge(
    "chronos_job_consecutive_failures",
    "Failed runs since the job's last success (missed, skipped, aborted aside)",
    JOB_LABELS,
)
NEXT_RUN = Gauge(
    "chronos_job_next_run_timestamp_seconds",
    "When the job runs next (Unix seconds; absent while nothing is scheduled)",
    JOB_LABELS,
)
MISSED_RUNS = Counter(
    "chronos_job_missed_runs_total", "Missed runs recorded for the job", JOB_LABELS
)
#: Deliveries (chronos.operator.notifier): ``type`` the channel type, ``result`` one of
#: the three below.
NOTIFICATIONS = Counter(
    "chronos_notifications_total", "Notification delivery attempts", ["type", "result"]
)
#: NOTIFICATIONS results: acknowledged; an attempt failed and will be retried; given up
#: after the channel's attempts (NOTIFICATIONS_UNDELIVERED counts these too).
DELIVERED, RETRIED, UNDELIVERED = "delivered", "retried", "undelivered"
NOTIFICATIONS_UNDELIVERED = Counter(
    "chronos_notifications_undelivered_total",
    "Notifications given up after their retry budget",
    ["type"],
)


@dataclass(frozen=True)
class JobGauges:
    """One job's values (``notices.job_gauges`` computes them from its status)."""

    #: Unix seconds of the newest succeeded run's end (None: none in history).
    last_success: float | None
    consecutive_failures: int
    #: Unix seconds of status.nextRunTimes[0] (None: nothing scheduled).
    next_run: float | None
    #: runIds of the missed runs in history (the counter counts the new ones).
    missed: frozenset[str]


#: The missed runIds each job had at its last observation, so the counter counts new
#: ones only (status.history is bounded, so is each set).
_missed_seen: dict[tuple[str, str], frozenset[str]] = {}


def observe_job(namespace: str, name: str, gauges: JobGauges) -> None:
    """Set a job's series from ``notices.job_gauges`` (at each sync of the job).

    The missed-runs counter starts at 0 when this process first sees the job (the
    missed runs already in its history were counted by the process before, and a
    counter that started at their number would read as an increase after each restart)
    and grows by each missed run recorded from then on.
    """
    labels = (namespace, name)
    _set_or_remove(LAST_SUCCESS, labels, gauges.last_success)
    CONSECUTIVE_FAILURES.labels(*labels).set(gauges.consecutive_failures)
    _set_or_remove(NEXT_RUN, labels, gauges.next_run)
    before = _missed_seen.get(labels)
    new = 0 if before is None else len(gauges.missed - before)
    MISSED_RUNS.labels(*labels).inc(new)
    _missed_seen[labels] = gauges.missed


def forget_job(namespace: str, name: str) -> None:
    """Remove a deleted job's series."""
    labels = (namespace, name)
    for metric in (LAST_SUCCESS, CONSECUTIVE_FAILURES, NEXT_RUN, MISSED_RUNS):
        _remove(metric, labels)
    _missed_seen.pop(labels, None)


def _set_or_remove(gauge: Gauge, labels: tuple[str, str], value: float | None) -> None:
    if value is None:
        _remove(gauge, labels)
    else:
        gauge.labels(*labels).set(value)


def _remove(metric: Gauge | Counter, labels: tuple[str, str]) -> None:
    with contextlib.suppress(KeyError):  # never set
        metric.remove(*labels)


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
