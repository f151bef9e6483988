"""The DST proof of issue 19 on the real control plane: at a fall-back, ``RunOnce`` runs a
slot in the repeated hour once and ``RunTwice`` (Kubernetes' behaviour) twice.

How: the operator process runs under libfaketime (Debian ``faketime libfaketime``) with
its clock started a few minutes before America/New_York's next fall-back of the test
certificates' year (01:24 EDT on 2027-11-07) and running ``RATE`` times as fast
(``FAKETIME="@2027-11-07 05:24:00 x12"``; its monotonic clock and its sleeps too, so
its timers, lease and timeouts stay consistent). Both jobs are in operator mode (the
operator, not the CronJob controller, fires: a DST policy other than the default, or a
calendar), so every slot is started by the shifted process. The control plane keeps the
real clock (static Go binaries ignore libfaketime); the API server's timestamps
(creationTimestamp) are then the real ones, eleven months before the operator's "now":
the operator reports such pod-less Jobs as failed launches and deletes them, so the Jobs
of a slot are collected from both the Jobs seen and the runIds in the history.

The expected slots are written here from zoneinfo's two readings of 01:30 on that day
(``fold=0``: EDT, 05:30 UTC; ``fold=1``: EST, 06:30 UTC), not from Chronos' engine.
The operator's clock is read from its Lease (``renewTime``, written with its clock): the
test ends only once it is past 06:32 UTC, after the repeated 01:30.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from builders import create_chronosjob as create
from builders import pipeline_spec as spec
from builders import service_account
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.resources.coordination_v1 import Lease
from support import get_cr

from chronos.devcluster.operator_process import OperatorProcess
from chronos.operator.calendars import ChronosCalendarResource

pytestmark = pytest.mark.cluster

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
RATE = 12
ZONE = ZoneInfo("America/New_York")
#: Where the operator's clock starts: 01:24 EDT, six minutes before the 01:30 slot.
START = datetime(2027, 11, 7, 5, 24, tzinfo=UTC)
FIRST = datetime(2027, 11, 7, 1, 30, tzinfo=ZONE, fold=0).astimezone(UTC)
REPEATED = datetime(2027, 11, 7, 1, 30, tzinfo=ZONE, fold=1).astimezone(UTC)
END = REPEATED + timedelta(minutes=2)


def minutes(instant: datetime) -> int:
    return int(instant.timestamp()) // 60


def test_fall_back_run_once_runs_once_and_run_twice_twice(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    if not LIBFAKETIME.is_file():
        pytest.fail(f"{LIBFAKETIME} missing: apt-get install faketime libfaketime")
    assert (  # the instants, spelled out
        datetime(2027, 11, 7, 5, 30, tzinfo=UTC),
        datetime(2027, 11, 7, 6, 30, tzinfo=UTC),
    ) == (FIRST, REPEATED)
    # The control plane's certificates must still be valid at the operator's "now".
    assert START - datetime.now(UTC) < timedelta(days=360)
    ns = solo_namespace
    k8s.create(service_account("chronos-runner", ns))
    k8s.create(
        ChronosCalendarResource(
            metadata=ObjectMeta(name="far", namespace=ns),
            spec={"excludedDates": ["2027-12-25"]},
        )
    )
    common: dict[str, Any] = {
        "schedule": {"cron": "30 1 * * *"},
        "timeZone": "America/New_York",
        "concurrencyPolicy": "Allow",
    }
    create(k8s, ns, "once", spec(**common, dstPolicy={"fallBack": "RunOnce"}))
    # The default policy (RunTwice); the calendar (excluding a day weeks later) puts the
    # job in operator mode, so the shifted operator fires it too.
    create(k8s, ns, "twice", spec(**common, calendarRef={"name": "far"}))
    operator = start_operator(
        LD_PRELOAD=str(LIBFAKETIME),
        FAKETIME=f"@{START:%Y-%m-%d %H:%M:%S} x{RATE}",
        TZ="UTC",
        # In the operator's (fast) seconds: a 5 s round, a 20 s lease, a 25 s grace.
        CHRONOS_HOUSEKEEPING_SECONDS=str(5 * RATE),
        CHRONOS_LEASE_DURATION_SECONDS=str(20 * RATE),
        CHRONOS_LEASE_RENEW_SECONDS=str(5 * RATE),
        CHRONOS_MISSED_RUN_GRACE_SECONDS=str(25 * RATE),
    )
    lease = operator.env["CHRONOS_LEASE_NAME"]

    def operator_now() -> datetime | None:
        found = k8s.get(Lease, lease, namespace="default")
        renewed = found.spec.renewTime if found.spec else None
        return None if renewed is None else renewed.astimezone(UTC)

    seen: dict[str, set[str]] = {"once": set(), "twice": set()}

    def collect() -> None:
        for job in k8s.list(Job, namespace=ns):
            name = job.metadata.name if job.metadata else ""
            for owner in seen:
                if name and name.startswith(f"{owner}-"):
                    seen[owner].add(name)
        for owner in seen:
            history = (get_cr(k8s, ns, owner).get("status") or {}).get("history") or []
            seen[owner] |= {h["runId"] for h in history if h.get("trigger") == "schedule"}

    started = time.monotonic()
    budget = (END - START).total_seconds() / RATE + 90
    clock = None
    while time.monotonic() - started < budget:
        collect()
        clock = operator_now()
        if clock is not None and clock > END:
            break
        time.sleep(0.5)
    assert clock is not None, "the operator never renewed its lease"
    assert clock > END, f"the operator's clock reached only {clock} in {budget:.0f} s"
    collect()
    log = operator.log_path.read_text()
    assert seen["once"] == {f"once-{minutes(FIRST)}"}, log[-3000:]
    assert seen["twice"] == {f"twice-{minutes(FIRST)}", f"twice-{minutes(REPEATED)}"}, log[-3000:]
