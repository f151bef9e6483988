"""Issue 19 on the real control plane: several schedules (one CronJob each), a removed
schedule's CronJob deleted, suspendUntil resuming on time, activeUntil suspending.

Time is driven by near-future instants and every-minute crons (the CronJob controller of
the test plane fires them; the loopback plane has no node, so Jobs are created and never
run), never by the wall clock's hour or weekday.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from builders import create_chronosjob as create
from builders import pipeline_spec, secret, service_account
from fixtures_operator import COREHUB_SECRET
from lightkube import Client
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event
from support import cronjob, get_cr, patch_spec, ready, wait_for

from chronos import contract as c
from chronos.devcluster.operator_process import OperatorProcess
from chronos.operator.naming import schedule_cronjob_name
from chronos.times import rfc3339

pytestmark = pytest.mark.cluster


@pytest.fixture
def ns(k8s: Client, namespace: str) -> str:
    k8s.create(secret(COREHUB_SECRET, namespace))
    k8s.create(service_account("chronos-runner", namespace))
    return namespace


def spec(**overrides: Any) -> dict[str, Any]:
    body = pipeline_spec(timeZone="UTC", **overrides)
    if "schedules" in overrides:
        body.pop("schedule", None)
    return body


def jobs_of(k8s: Client, ns: str, cronjob_name: str) -> list[dict[str, Any]]:
    return [
        j.to_dict()
        for j in k8s.list(Job, namespace=ns)
        if j.metadata and any(o.name == cronjob_name for o in j.metadata.ownerReferences or [])
    ]


def slot_of(job: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(job["metadata"]["annotations"][c.SCHEDULED_TIMESTAMP_ANNOTATION])


def test_two_schedules_get_two_cronjobs_that_both_fire_and_a_removed_one_goes(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    schedules = [{"cron": "* * * * *"}, {"name": "late", "cron": "* * * * *"}]
    late_cronjob = schedule_cronjob_name("multi", "late", 1)
    create(k8s, ns, "multi", spec(schedules=schedules))
    first = wait_for(lambda: cronjob(k8s, ns, "multi"), what="schedule 0's CronJob")
    second = wait_for(lambda: cronjob(k8s, ns, late_cronjob), what="schedule late's CronJob")
    for cj, name in ((first, "s0"), (second, "late")):
        template = cj["spec"]["jobTemplate"]
        assert template["metadata"]["annotations"][c.SCHEDULE_ANNOTATION] == name
        env = {e["name"]: e for e in template["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env[c.ENV_SCHEDULE]["value"] == name
        assert env[c.ENV_TIME_ZONE]["value"] == "UTC"
        assert cj["spec"]["suspend"] is False
    status = wait_for(
        lambda: (s := get_cr(k8s, ns, "multi").get("status") or {}).get("schedules") and s,
        what="status.schedules",
    )
    assert [(s["name"], s["cron"], s["mode"], s["cronJobName"]) for s in status["schedules"]] == [
        ("s0", "* * * * *", "CronJob", "multi"),
        ("late", "* * * * *", "CronJob", late_cronjob),
    ]
    assert status["cronJobName"] == "multi"
    # Merged: both schedules' slots, so each minute shows twice.
    runs = [datetime.fromisoformat(t) for t in status["nextRunTimes"]]
    assert len(runs) == 5
    assert runs[0] == runs[1]
    assert runs[2] == runs[3]

    # Both fire: the controller creates a Job for each CronJob at the next minute.
    def both() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        a, b = jobs_of(k8s, ns, "multi"), jobs_of(k8s, ns, late_cronjob)
        return (a, b) if a and b else None

    zero, late = wait_for(both, timeout=100, what="a Job from each schedule's CronJob")
    assert slot_of(zero[0]) == slot_of(late[0])
    assert late[0]["metadata"]["annotations"][c.SCHEDULE_ANNOTATION] == "late"

    # Removing a schedule deletes its CronJob; the other stays.
    patch_spec(k8s, ns, "multi", {"schedules": [{"cron": "* * * * *"}]})
    wait_for(
        lambda: cronjob(k8s, ns, late_cronjob) is None, timeout=30, what="the stale CronJob gone"
    )
    assert cronjob(k8s, ns, "multi") is not None
    wait_for(
        lambda: len((get_cr(k8s, ns, "multi").get("status") or {}).get("schedules") or []) == 1,
        what="status.schedules shrinking",
    )


def test_h_is_resolved_into_the_cronjob_and_the_status(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    create(k8s, ns, "hashed", spec(schedule={"cron": "H H(1-5) * * *"}))
    cj = wait_for(lambda: cronjob(k8s, ns, "hashed"), what="the CronJob")
    minute, hour, *rest = cj["spec"]["schedule"].split()
    assert 0 <= int(minute) <= 59
    assert 1 <= int(hour) <= 5
    assert rest == ["*", "*", "*"]
    status = wait_for(
        lambda: (s := get_cr(k8s, ns, "hashed").get("status") or {}).get("cron") and s,
        what="status",
    )
    assert status["cron"] == cj["spec"]["schedule"]


def test_suspend_until_a_minute_ahead_resumes_on_time_and_is_recorded(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    until = (datetime.now(UTC) + timedelta(seconds=45)).replace(microsecond=0)
    create(
        k8s,
        ns,
        "paused",
        spec(
            schedule={"cron": "* * * * *"},
            suspendUntil=rfc3339(until),
            suspendReason="CoreHub upgrade",
        ),
    )
    cj = wait_for(lambda: cronjob(k8s, ns, "paused"), what="the CronJob")
    assert cj["spec"]["suspend"] is True
    cond = wait_for(lambda: ready(k8s, ns, "paused"), what="Ready")
    assert cond["reason"] == "SuspendedUntil"
    assert "CoreHub upgrade" in cond["message"]
    status = get_cr(k8s, ns, "paused")["status"]
    assert datetime.fromisoformat(status["suspension"]["until"]) == until
    assert "resumedAt" not in status["suspension"]
    # Nothing runs before the end of the suspension...
    assert all(datetime.fromisoformat(t) >= until for t in status["nextRunTimes"])

    resumed = wait_for(
        lambda: (get_cr(k8s, ns, "paused")["status"].get("suspension") or {}).get("resumedAt"),
        timeout=90,
        what="status.suspension.resumedAt",
    )
    at = datetime.fromisoformat(resumed)
    assert until <= at < until + timedelta(seconds=10), (until, at)
    wait_for(
        lambda: (cj := cronjob(k8s, ns, "paused")) and not cj["spec"]["suspend"], what="resumed"
    )
    events = wait_for(
        lambda: [e for e in k8s.list(Event, namespace=ns) if e.reason == "Resumed"],
        what="the Resumed Event",
    )
    assert "CoreHub upgrade" in (events[0].message or "")
    assert (ready(k8s, ns, "paused") or {}).get("reason") == "Reconciled"
    # ...and after it the schedule runs, from its first slot after the end, none before.
    job = wait_for(lambda: jobs_of(k8s, ns, "paused"), timeout=90, what="a run after resuming")
    assert all(slot_of(j) >= until for j in job)


def test_active_until_passing_suspends_the_cronjob(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    until = (datetime.now(UTC) + timedelta(seconds=20)).replace(microsecond=0)
    create(k8s, ns, "window", spec(schedule={"cron": "* * * * *"}, activeUntil=rfc3339(until)))
    cj = wait_for(lambda: cronjob(k8s, ns, "window"), what="the CronJob")
    assert cj["spec"]["suspend"] is False
    wait_for(lambda: (r := ready(k8s, ns, "window")) and r["reason"] == "Reconciled", what="Ready")
    # Only slots inside the window are shown.
    shown = get_cr(k8s, ns, "window")["status"]["nextRunTimes"]
    assert all(datetime.fromisoformat(t) < until for t in shown)
    wait_for(
        lambda: (cj := cronjob(k8s, ns, "window")) and cj["spec"]["suspend"],
        timeout=40,
        what="the CronJob suspended once activeUntil passed",
    )
    suspended_at = datetime.now(UTC)
    assert suspended_at - until < timedelta(seconds=15)
    cond = wait_for(
        lambda: (r := ready(k8s, ns, "window")) and r["reason"] == "Inactive" and r,
        what="Ready says Inactive",
    )
    assert rfc3339(until) in cond["message"]
