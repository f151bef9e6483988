"""ChronosCalendars in the operator on the real control plane (issue 19): a calendar's
change reaches its jobs within seconds (the calendar informer queues them, not the
housekeeping round), its status says whether it can be used and which days it excludes
next, and a calendar that cannot be used blocks its jobs' runs with the reason.

Days are relative to now (today and tomorrow in UTC, a month away), never fixed dates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from builders import create_chronosjob as create
from builders import pipeline_spec as spec
from builders import secret, service_account
from fixtures_operator import COREHUB_SECRET
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType
from support import get_cr, wait_for

from chronos.devcluster.operator_process import OperatorProcess
from chronos.operator.calendars import ChronosCalendarResource

pytestmark = pytest.mark.cluster


def days(*offsets: int) -> list[str]:
    today = datetime.now(UTC).date()
    return [(today + timedelta(days=d)).isoformat() for d in offsets]


def calendar_status(k8s: Client, ns: str, name: str) -> dict[str, Any]:
    found = k8s.get(ChronosCalendarResource, name, namespace=ns).to_dict()  # type: ignore[no-untyped-call]
    return dict(found.get("status") or {})


def ready(status: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)


def condition(k8s: Client, ns: str, job: str, type: str) -> dict[str, Any] | None:
    status = get_cr(k8s, ns, job).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == type), None)


def test_a_calendar_changed_to_exclude_today_replans_next_run_times_within_seconds(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    ns = solo_namespace
    k8s.create(service_account("chronos-runner", ns))
    # Housekeeping once in ten minutes: only the calendar's own watch can bring the change.
    start_operator(CHRONOS_HOUSEKEEPING_SECONDS="600")
    k8s.create(
        ChronosCalendarResource(
            metadata=ObjectMeta(name="office", namespace=ns),
            spec={"timeZone": "UTC", "excludedDates": days(30)},
        )
    )
    create(
        k8s,
        ns,
        "every5",
        spec(schedule={"cron": "*/5 * * * *"}, timeZone="UTC", calendarRef={"name": "office"}),
    )
    first = wait_for(
        lambda: (get_cr(k8s, ns, "every5").get("status") or {}).get("nextRunTimes"),
        what="nextRunTimes",
    )
    assert datetime.fromisoformat(first[0]) - datetime.now(UTC) <= timedelta(minutes=5)
    status = wait_for(lambda: ready(s := calendar_status(k8s, ns, "office")) and s, what="status")
    assert status["excludedDaysAhead"] == days(30)

    k8s.patch(
        ChronosCalendarResource,
        "office",
        {"spec": {"excludedDates": days(0, 1)}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )
    changed = time.monotonic()
    after = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()

    def replanned() -> list[str] | None:
        times = (get_cr(k8s, ns, "every5").get("status") or {}).get("nextRunTimes") or []
        return times if times and all(t[:10] >= after for t in times) else None

    times = wait_for(replanned, timeout=15, what="nextRunTimes past the excluded days")
    took = time.monotonic() - changed
    assert took < 10, f"replanned after {took:.1f} s"
    assert times[0].startswith(f"{after}T00:00:00")  # the first slot of the next included day
    status = wait_for(
        lambda: (s := calendar_status(k8s, ns, "office"))["excludedDaysAhead"] == days(0, 1) and s,
        timeout=15,
        what="excludedDaysAhead updated",
    )
    assert ready(status) is not None
    assert ready(status)["status"] == "True"  # type: ignore[index]


BROKEN_ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Staff party\r\n"
    "DTSTART;VALUE=DATE:2026-12-XX-confidential\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
GOOD_ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Staff party\r\n"
    "DTSTART;VALUE=DATE:{day}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_a_broken_ics_sets_ready_false_and_blocks_the_jobs_runs(
    operator: OperatorProcess, k8s: Client, namespace: str
) -> None:
    ns = namespace
    k8s.create(secret(COREHUB_SECRET, ns))
    k8s.create(service_account("chronos-runner", ns))
    k8s.create(
        ConfigMap(metadata=ObjectMeta(name="party-ics", namespace=ns), data={"x.ics": BROKEN_ICS})
    )
    k8s.create(
        ChronosCalendarResource(
            metadata=ObjectMeta(name="parties", namespace=ns),
            spec={
                "timeZone": "UTC",
                "ics": {"configMapRef": {"name": "party-ics", "key": "x.ics"}},
            },
        )
    )
    create(
        k8s,
        ns,
        "partyjob",
        spec(schedule={"cron": "0 3 * * *"}, timeZone="UTC", calendarRef={"name": "parties"}),
    )
    status = wait_for(
        lambda: (
            (r := ready(s := calendar_status(k8s, ns, "parties"))) and r["status"] == "False" and s
        ),
        what="Ready=False",
    )
    cond = ready(status)
    assert cond is not None
    assert cond["reason"] == "IcsInvalid"
    assert "line 5" in cond["message"]
    assert "ConfigMap party-ics, key x.ics" in cond["message"]
    assert "confidential" not in cond["message"]  # the file's content is not echoed
    assert status["excludedDaysAhead"] == []
    blocked = wait_for(
        lambda: (
            (c := condition(k8s, ns, "partyjob", "RunsBlocked")) and c["status"] == "True" and c
        ),
        what="RunsBlocked",
    )
    assert blocked["reason"] == "IcsInvalid"
    assert "confidential" not in blocked["message"]

    # The ConfigMap repaired: read again within a housekeeping round (3 s here).
    day = days(20)[0]
    k8s.patch(
        ConfigMap,
        "party-ics",
        {"data": {"x.ics": GOOD_ICS.format(day=day.replace("-", ""))}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )
    status = wait_for(
        lambda: (
            (r := ready(s := calendar_status(k8s, ns, "parties"))) and r["status"] == "True" and s
        ),
        timeout=20,
        what="Ready=True",
    )
    assert status["excludedDaysAhead"] == [day]
    wait_for(
        lambda: (c := condition(k8s, ns, "partyjob", "RunsBlocked")) and c["status"] == "False",
        timeout=20,
        what="RunsBlocked cleared",
    )

    # The ConfigMap deleted: ConfigMapMissing, on the calendar and on the job.
    k8s.delete(ConfigMap, "party-ics", namespace=ns)
    cond = wait_for(
        lambda: (r := ready(calendar_status(k8s, ns, "parties"))) and r["status"] == "False" and r,
        timeout=20,
        what="ConfigMapMissing",
    )
    assert cond["reason"] == "ConfigMapMissing"
    blocked = wait_for(
        lambda: (
            (c := condition(k8s, ns, "partyjob", "RunsBlocked")) and c["status"] == "True" and c
        ),
        timeout=20,
        what="RunsBlocked again",
    )
    assert blocked["reason"] == "ConfigMapMissing"
