"""The DST proof of issue 19 on the real control plane: at a fall-back, ``RunOnce`` runs a
slot in the repeated hour once and ``RunTwice`` (Kubernetes' behaviour) twice.

How: the operator process runs under libfaketime (Debian ``faketime libfaketime``) with
its clock started six minutes before a slot in the repeated hour of the next fall-back
(the nearest one, after now, of three zones whose transitions spread over the year:
New York's in November, Berlin's in October, Sydney's in April, so it is always under
seven months ahead and inside the test certificates' validity), running ``RATE`` times
as fast (``FAKETIME="@<start> x12"``; its monotonic clock and its sleeps too, so its
timers, lease and timeouts stay consistent). Both jobs are in operator mode (the
operator, not the CronJob controller, fires: a DST policy other than the default, or a
calendar), so every slot is started by the shifted process. The control plane keeps the
real clock (static Go binaries ignore libfaketime); the API server's timestamps
(creationTimestamp) are then the real ones, months before the operator's "now":
the operator reports such pod-less Jobs as failed launches and deletes them, so the Jobs
of a slot are collected from both the Jobs seen and the runIds in the history.

The transition is found by scanning zoneinfo's offsets hour by hour and the expected
slots are zoneinfo's two readings of the slot's wall time (``fold=0`` before the
change, ``fold=1`` after), not Chronos' engine. The operator's clock is read from its
Lease (``renewTime``, written with its clock): the test ends only once it is two
minutes past the repeated slot.
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
ZONES = ("America/New_York", "Europe/Berlin", "Australia/Sydney")


def next_fall_back(after: datetime) -> tuple[str, datetime]:
    """The zone and the UTC instant of the first fall-back (the offset shrinks) after
    ``after`` among ZONES; their transitions fall on whole hours."""
    found = []
    for name in ZONES:
        zone = ZoneInfo(name)
        hour = after.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        for _ in range(24 * 400):
            before = (hour - timedelta(hours=1)).astimezone(zone).utcoffset()
            offset = hour.astimezone(zone).utcoffset()
            if before is not None and offset is not None and offset < before:
                found.append((hour, name))
                break
            hour += timedelta(hours=1)
    instant, name = min(found)
    return name, instant


ZONE_NAME, TRANSITION = next_fall_back(datetime.now(UTC) + timedelta(hours=1))
ZONE = ZoneInfo(ZONE_NAME)
#: Half past the first repeated wall hour (01:30 in New York, 02:30 in Berlin, Sydney).
SLOT_WALL = TRANSITION.astimezone(ZONE).replace(tzinfo=None, fold=0) + timedelta(minutes=30)
FIRST = SLOT_WALL.replace(tzinfo=ZONE, fold=0).astimezone(UTC)
REPEATED = SLOT_WALL.replace(tzinfo=ZONE, fold=1).astimezone(UTC)
#: Where the operator's clock starts: six minutes before the first reading of the slot.
START = FIRST - timedelta(minutes=6)
END = REPEATED + timedelta(minutes=2)


def minutes(instant: datetime) -> int:
    return int(instant.timestamp()) // 60


def test_fall_back_run_once_runs_once_and_run_twice_twice(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    if not LIBFAKETIME.is_file():
        pytest.fail(f"{LIBFAKETIME} missing: apt-get install faketime libfaketime")
    # The slot's two readings are an hour apart, the first before the transition.
    assert (FIRST < TRANSITION < REPEATED, REPEATED - FIRST) == (True, timedelta(hours=1))
    assert TRANSITION - datetime.now(UTC) < timedelta(days=220)
    ns = solo_namespace
    k8s.create(service_account("chronos-runner", ns))
    k8s.create(
        ChronosCalendarResource(
            metadata=ObjectMeta(name="far", namespace=ns),
            spec={"excludedDates": [f"{TRANSITION.date() + timedelta(days=40):%Y-%m-%d}"]},
        )
    )
    common: dict[str, Any] = {
        "schedule": {"cron": f"{SLOT_WALL.minute} {SLOT_WALL.hour} * * *"},
        "timeZone": ZONE_NAME,
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
