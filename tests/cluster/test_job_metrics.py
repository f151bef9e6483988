"""The per-job Prometheus series (issue 21) from the real operator on the real control
plane: set from the job's status at its syncs, and gone once the job is deleted."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from builders import create_chronosjob as create
from builders import pipeline_spec as spec
from lightkube import Client
from support import get_cr, set_status, wait_for

from chronos.devcluster.operator_process import OperatorProcess
from chronos.kube import ChronosJobResource
from chronos.times import rfc3339

pytestmark = pytest.mark.cluster


def series(operator: OperatorProcess, name: str, namespace: str, job: str) -> float | None:
    """The value of ``name`` for one job, None while the operator has no such series."""
    for line in operator.metrics().splitlines():
        if not line.startswith(name + "{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if labels == {"namespace": namespace, "job": job}:
            return float(line.rsplit(" ", 1)[1])
    return None


def test_job_series_follow_the_status_and_leave_with_the_job(
    operator: OperatorProcess, k8s: Client, namespace: str
) -> None:
    create(k8s, namespace, "metered", spec(schedule={"cron": "*/5 * * * *"}))
    wait_for(
        lambda: (get_cr(k8s, namespace, "metered").get("status") or {}).get("nextRunTimes"),
        what="the job reconciled",
    )
    now = datetime.now(UTC).replace(microsecond=0)
    ok_end = now - timedelta(minutes=20)
    history = [
        {
            "runId": "metered-2",
            "trigger": "schedule",
            "result": "failed",
            "startTime": rfc3339(now - timedelta(minutes=6)),
            "endTime": rfc3339(now - timedelta(minutes=5)),
            "reportedBy": "runner",
        },
        {
            "runId": "missed-x",
            "trigger": "schedule",
            "result": "missed",
            "scheduledTime": rfc3339(now - timedelta(minutes=10)),
            "reportedBy": "operator",
        },
        {
            "runId": "metered-1",
            "trigger": "schedule",
            "result": "succeeded",
            "startTime": rfc3339(ok_end - timedelta(minutes=1)),
            "endTime": rfc3339(ok_end),
            "reportedBy": "runner",
        },
    ]
    set_status(k8s, namespace, "metered", {"history": history})

    def synced() -> bool:
        return series(operator, "chronos_job_consecutive_failures", namespace, "metered") == 1

    wait_for(synced, what="the gauges set from the new history")
    last = series(operator, "chronos_job_last_success_timestamp_seconds", namespace, "metered")
    assert last == ok_end.timestamp()

    def next_run_shown() -> bool:
        following = get_cr(k8s, namespace, "metered")["status"]["nextRunTimes"][0]
        value = series(operator, "chronos_job_next_run_timestamp_seconds", namespace, "metered")
        return value == datetime.fromisoformat(following).timestamp()

    wait_for(next_run_shown, what="the next run gauge at status.nextRunTimes[0]")
    # The missed record arrived after the operator first saw the job: counted once.
    assert series(operator, "chronos_job_missed_runs_total", namespace, "metered") == 1

    k8s.delete(ChronosJobResource, "metered", namespace=namespace)
    wait_for(
        lambda: series(operator, "chronos_job_consecutive_failures", namespace, "metered") is None,
        what="the series removed with the job",
    )
    for name in (
        "chronos_job_last_success_timestamp_seconds",
        "chronos_job_next_run_timestamp_seconds",
        "chronos_job_missed_runs_total",
    ):
        assert series(operator, name, namespace, "metered") is None, name
