"""Operator mode, calendars and backfill on the real control plane (issue 19).

The clock is the real one: every slot is chosen relative to now (an every-minute cron,
a calendar excluding today and tomorrow in the job's zone), never a fixed date. The
Jobs the operator creates have no node to run on; what is checked is which Jobs exist,
with which names and annotations, and what the history records.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from builders import create_chronosjob as create
from builders import pipeline_spec, secret, service_account
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
from chronos.operator.naming import backfill_job_name, schedule_cronjob_name
from chronos.schedule.occurrences import ScheduleRule, TimeRules, slots

pytestmark = pytest.mark.cluster


@pytest.fixture
def ns(k8s: Client, namespace: str) -> str:
    k8s.create(secret(COREHUB_SECRET, namespace))
    k8s.create(service_account("chronos-runner", namespace))
    return namespace


def spec(**overrides: Any) -> dict[str, Any]:
    body = pipeline_spec(**overrides)
    if "schedules" in overrides:
        body.pop("schedule", None)
    return body


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

    def fired_until() -> datetime | None:
        mark = (get_cr(k8s, ns, "opmode").get("status") or {}).get("slotsFiredUntil")
        return datetime.fromisoformat(mark) if mark else None

    # (Written right after the create, in the operator's next request.)
    wait_for(lambda: (fired_until() or slot - timedelta(1)) >= slot, timeout=10, what="the mark")


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


def daily_at(when: datetime) -> str:
    """An RRULE whose one daily occurrence is ``when``'s UTC hour and minute."""
    return f"FREQ=DAILY;BYHOUR={when.hour};BYMINUTE={when.minute}"


def owned_by(found: dict[str, dict[str, Any]], cronjob_name: str) -> list[dict[str, Any]]:
    return [
        j
        for j in found.values()
        if any(o["name"] == cronjob_name for o in j["metadata"].get("ownerReferences") or [])
    ]


def test_an_rrule_job_fires_on_its_occurrence_and_not_otherwise(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    # The occurrence: the minute boundary 30 to 90 seconds from now; another job's
    # occurrence lies two hours back, so its next one is about a day away.
    now = datetime.now(UTC)
    slot = (now + timedelta(seconds=90)).replace(second=0, microsecond=0)
    elsewhere = slot - timedelta(hours=2)
    create(k8s, ns, "rule-now", spec(schedules=[{"rrule": daily_at(slot)}], timeZone="UTC"))
    create(k8s, ns, "rule-later", spec(schedules=[{"rrule": daily_at(elsewhere)}], timeZone="UTC"))
    for name in ("rule-now", "rule-later"):
        cj = wait_for(partial(cronjob, k8s, ns, name), what=f"{name}'s CronJob")
        assert cj["spec"]["suspend"] is True  # operator mode: the operator is the clock
    later = wait_for(
        lambda: (get_cr(k8s, ns, "rule-later").get("status") or {}).get("nextRunTimes"),
        what="rule-later's next runs",
    )
    assert datetime.fromisoformat(later[0]) == elsewhere + timedelta(days=1)
    assert jobs(k8s, ns) == {}  # nothing before the occurrence

    job = wait_for(lambda: owned_by(jobs(k8s, ns), "rule-now"), timeout=120, what="the Job")[0]
    assert job["metadata"]["name"] == slot_job_name("rule-now", slot)
    annotations = job["metadata"]["annotations"]
    assert datetime.fromisoformat(annotations[c.SCHEDULED_TIMESTAMP_ANNOTATION]) == slot
    assert annotations[c.TRIGGER_ANNOTATION] == "schedule"
    created = datetime.fromisoformat(job["metadata"]["creationTimestamp"])
    assert timedelta(0) <= created - slot < timedelta(seconds=10)
    # The minutes after it are not occurrences: no second Job, and none for the other job.
    wait_for(
        lambda: datetime.now(UTC) > slot + timedelta(seconds=75) or None,
        timeout=120,
        what="the next minute to pass",
    )
    assert list(jobs(k8s, ns)) == [slot_job_name("rule-now", slot)]


def test_two_schedules_fire_both_when_one_is_in_operator_mode(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    slot = (datetime.now(UTC) + timedelta(seconds=90)).replace(second=0, microsecond=0)
    schedules = [
        {"name": "minutely", "cron": "* * * * *"},
        {"name": "rule", "rrule": daily_at(slot)},
    ]
    create(k8s, ns, "dual", spec(schedules=schedules, timeZone="UTC", concurrencyPolicy="Allow"))
    rule_cronjob = schedule_cronjob_name("dual", "rule", 1)
    native = wait_for(lambda: cronjob(k8s, ns, "dual"), what="schedule 0's CronJob")
    operated = wait_for(lambda: cronjob(k8s, ns, rule_cronjob), what="schedule rule's CronJob")
    assert native["spec"]["suspend"] is False  # the CronJob controller fires it
    assert operated["spec"]["suspend"] is True  # the operator fires it
    modes = wait_for(
        lambda: (get_cr(k8s, ns, "dual").get("status") or {}).get("schedules"),
        what="status.schedules",
    )
    assert [(s["name"], s["mode"]) for s in modes] == [
        ("minutely", "CronJob"),
        ("rule", "Operator"),
    ]

    mine = wait_for(lambda: owned_by(jobs(k8s, ns), rule_cronjob), timeout=120, what="rule's Job")
    assert [j["metadata"]["name"] for j in mine] == [slot_job_name(rule_cronjob, slot)]
    assert mine[0]["metadata"]["annotations"][c.SCHEDULE_ANNOTATION] == "rule"
    theirs = wait_for(
        lambda: [
            j
            for j in owned_by(jobs(k8s, ns), "dual")
            if j["metadata"]["name"] == slot_job_name("dual", slot)
        ],
        timeout=60,
        what="the controller's Job for the same minute",
    )
    assert theirs[0]["metadata"]["annotations"][c.SCHEDULE_ANNOTATION] == "minutely"


def test_catch_up_all_starts_each_missed_slot_once_across_operator_restarts(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    """The operator is stopped over three every-minute slots; restarted, it catches up
    the three (trigger catchup), one at a time (concurrencyPolicy Forbid). It is killed
    and restarted while catching up: no slot is started twice — not even one whose Job
    was deleted once it had run (the Jobs here never run: the test ends each by deleting
    it, which lets the next catch-up run start)."""
    ns = solo_namespace
    k8s.create(service_account("chronos-runner", ns))
    calendar(k8s, ns, "far-holidays", days(30, 31))  # operator mode, nothing excluded soon
    first = start_operator()
    create(
        k8s,
        ns,
        "catcher",
        spec(
            schedule={"cron": "* * * * *"},
            timeZone="UTC",
            calendarRef={"name": "far-holidays"},
            concurrencyPolicy="Forbid",
            catchUp={"policy": "All", "windowSeconds": 3600, "max": 10},
        ),
    )
    wait_for(
        lambda: (get_cr(k8s, ns, "catcher").get("status") or {}).get("slotsFiredUntil"),
        what="the operator serving the job",
    )
    first.stop()
    for name in jobs(k8s, ns):  # an on-time run that slipped in before the stop
        k8s.delete(Job, name, namespace=ns)
    until = datetime.fromisoformat(get_cr(k8s, ns, "catcher")["status"]["slotsFiredUntil"])
    missed = [until.replace(second=0, microsecond=0) + timedelta(minutes=i) for i in (1, 2, 3)]
    names = [slot_job_name("catcher", s) for s in missed]
    # Restart once the third slot is past the grace in which it would start on time (15 s).
    wait_for(
        lambda: datetime.now(UTC) > missed[-1] + timedelta(seconds=18) or None,
        timeout=240,
        what="three slots to pass",
    )
    seen: dict[str, str] = {}  # Job name -> uid, every Job ever listed

    def catch_up_jobs() -> dict[str, dict[str, Any]]:
        found = jobs(k8s, ns)
        for name, job in found.items():
            uid = job["metadata"]["uid"]
            assert seen.setdefault(name, uid) == uid, f"{name} was created twice"
        return {
            n: j
            for n, j in found.items()
            if j["metadata"]["annotations"].get(c.TRIGGER_ANNOTATION) == "catchup"
        }

    def started(name: str) -> dict[str, dict[str, Any]] | None:
        found = catch_up_jobs()
        return found if name in found else None

    current = start_operator()
    for index, name in enumerate(names):
        running = wait_for(partial(started, name), timeout=60, what=f"catch-up run {index + 1}")
        assert list(running) == [name]  # one at a time, oldest first; none started again
        slot = running[name]["metadata"]["annotations"][c.SCHEDULED_TIMESTAMP_ANNOTATION]
        assert datetime.fromisoformat(slot) == missed[index]
        # Killed mid catch-up (no chance to finish a write) and restarted.
        current.stop(signal.SIGKILL)
        current = start_operator()
        if index < len(names) - 1:
            k8s.delete(Job, name, namespace=ns)  # this run ends: the next may start
    # The last run is still active: a few housekeeping rounds (3 s) of the new leader
    # (elected within the 6 s lease) start nothing more, and nothing again.
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while datetime.now(UTC) < deadline:
        assert list(catch_up_jobs()) == [names[-1]]
        time.sleep(1)
    assert set(seen) >= set(names)
    history = get_cr(k8s, ns, "catcher")["status"].get("history") or []
    assert not [h for h in history if h["runId"] in names and h["result"] == "missed"]
