"""Operator mode, calendars and backfill on the real control plane (issue 19).

The clock is the real one: every slot is chosen relative to now (an every-minute cron,
a calendar excluding today and tomorrow in the job's zone), never a fixed date. The
Jobs the operator creates have no node to run on; what is checked is which Jobs exist,
with which names and annotations, and what the history records.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from builders import create_chronosjob as create
from builders import pipeline_spec as spec
from builders import secret, service_account
from fixtures_operator import COREHUB_SECRET
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.types import PatchType
from support import cronjob, get_cr, wait_for

from chronos import contract as c
from chronos.devcluster.operator_process import OperatorProcess
from chronos.kube import ChronosJobResource
from chronos.operator.calendars import ChronosCalendarResource
from chronos.operator.firing import slot_job_name
from chronos.operator.naming import backfill_job_name
from chronos.schedule.occurrences import ScheduleRule, TimeRules, slots

pytestmark = pytest.mark.cluster


@pytest.fixture
def ns(k8s: Client, namespace: str) -> str:
    k8s.create(secret(COREHUB_SECRET, namespace))
    k8s.create(service_account("chronos-runner", namespace))
    return namespace


def jobs(k8s: Client, ns: str) -> dict[str, dict[str, Any]]:
    found = [j.to_dict() for j in k8s.list(Job, namespace=ns)]
    return {str(j["metadata"]["name"]): j for j in found}


def calendar(k8s: Client, ns: str, name: str, excluded: list[str]) -> None:
    k8s.create(
        ChronosCalendarResource(
            metadata=ObjectMeta(name=name, namespace=ns),
            spec={"timeZone": "UTC", "excludedDates": excluded},
        )
    )


def days(*offsets: int) -> list[str]:
    today = datetime.now(UTC).date()
    return [(today + timedelta(days=d)).isoformat() for d in offsets]


def test_operator_mode_fires_the_slot_itself_with_the_controllers_name(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    # A calendar puts the job in operator mode; it excludes days a month away only.
    calendar(k8s, ns, "far-holidays", days(30, 31))
    create(
        k8s,
        ns,
        "opmode",
        spec(
            schedule={"cron": "* * * * *"},
            timeZone="UTC",
            calendarRef={"name": "far-holidays"},
            concurrencyPolicy="Allow",
        ),
    )
    cj = wait_for(lambda: cronjob(k8s, ns, "opmode"), what="the CronJob")
    assert cj["spec"]["suspend"] is True  # the template and owner, not the clock
    job = wait_for(
        lambda: next(iter(jobs(k8s, ns).values()), None), timeout=90, what="a slot's Job"
    )
    annotations = job["metadata"]["annotations"]
    slot = datetime.fromisoformat(annotations[c.SCHEDULED_TIMESTAMP_ANNOTATION])
    assert job["metadata"]["name"] == slot_job_name("opmode", slot)
    assert annotations[c.TRIGGER_ANNOTATION] == "schedule"
    assert job["metadata"]["ownerReferences"][0]["name"] == "opmode"
    created = datetime.fromisoformat(job["metadata"]["creationTimestamp"])
    assert timedelta(0) <= created - slot < timedelta(seconds=10)  # on time
    status = get_cr(k8s, ns, "opmode")["status"]
    assert datetime.fromisoformat(status["slotsFiredUntil"]) >= slot


def test_an_excluded_day_is_skipped_and_recorded_once(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    # Today and tomorrow excluded: the next minute's slot falls on one of them whenever
    # the test runs (even across midnight UTC).
    calendar(k8s, ns, "today-off", days(0, 1))
    create(
        k8s,
        ns,
        "holiday",
        spec(schedule={"cron": "* * * * *"}, timeZone="UTC", calendarRef={"name": "today-off"}),
    )

    def skipped() -> list[dict[str, Any]]:
        history = (get_cr(k8s, ns, "holiday").get("status") or {}).get("history") or []
        return [h for h in history if h["result"] == "skipped"]

    first = wait_for(lambda: skipped() or None, timeout=90, what="a skipped slot")[0]
    assert first["calendar"] == "today-off"
    assert first["trigger"] == "schedule"
    slot = datetime.fromisoformat(first["scheduledTime"])
    assert first["runId"] == slot_job_name("holiday", slot)
    # A few housekeeping rounds later: still recorded once, and never run.
    wait_for(lambda: len(skipped()) >= 2 or None, timeout=90, what="the next slot skipped too")
    ids = [h["runId"] for h in skipped()]
    assert len(ids) == len(set(ids))
    assert jobs(k8s, ns) == {}


def test_backfill_over_a_range_creates_exactly_the_expected_runs(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    create(
        k8s,
        ns,
        "filler",
        spec(schedule={"cron": "0 * * * *"}, timeZone="UTC", concurrencyPolicy="Allow"),
    )
    wait_for(lambda: cronjob(k8s, ns, "filler"), what="the CronJob")
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - timedelta(hours=5, minutes=30), now - timedelta(minutes=30)
    rules = TimeRules(schedules=(ScheduleRule("s0", "0 * * * *", None),), zone="UTC")
    expected = {
        backfill_job_name("filler", "last-hours", s.instant): s.instant
        for s in slots(rules, start, until=end, limit=20)
    }
    assert len(expected) == 5

    def ask(requests: list[dict[str, Any]]) -> None:
        k8s.patch(
            ChronosJobResource,
            "filler",
            {"metadata": {"annotations": {c.BACKFILL_ANNOTATION: json.dumps(requests)}}},
            namespace=ns,
            patch_type=PatchType.MERGE,
        )

    stamp = {"from": start.isoformat(), "to": end.isoformat()}
    ask(
        [
            {"id": "last-hours", **stamp},
            {
                "id": "future",
                "from": start.isoformat(),
                "to": (now + timedelta(hours=2)).isoformat(),
            },
        ]
    )

    def backfills() -> dict[str, dict[str, Any]]:
        status = get_cr(k8s, ns, "filler").get("status") or {}
        return {b["id"]: b for b in status.get("backfills") or []}

    done = wait_for(
        lambda: (b := backfills()).get("last-hours", {}).get("state") == "Created" and b,
        what="the backfill served",
    )
    assert done["last-hours"]["created"] == done["last-hours"]["slots"] == 5
    assert done["future"]["state"] == "Rejected"
    assert "in the future" in done["future"]["message"]
    found = jobs(k8s, ns)
    assert set(found) == set(expected)
    for name, slot in expected.items():
        annotations = found[name]["metadata"]["annotations"]
        assert annotations[c.TRIGGER_ANNOTATION] == "backfill"
        assert datetime.fromisoformat(annotations[c.SCHEDULED_TIMESTAMP_ANNOTATION]) == slot
    # Served requests leave the annotation; the same id asked again starts nothing.
    wait_for(
        lambda: (
            c.BACKFILL_ANNOTATION
            not in (get_cr(k8s, ns, "filler")["metadata"].get("annotations") or {})
        ),
        what="the served requests dropped",
    )
    ask([{"id": "last-hours", **stamp}])
    wait_for(
        lambda: (
            c.BACKFILL_ANNOTATION
            not in (get_cr(k8s, ns, "filler")["metadata"].get("annotations") or {})
        ),
        what="the repeated request dropped",
    )
    assert set(jobs(k8s, ns)) == set(expected)
