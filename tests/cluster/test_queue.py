"""concurrencyPolicy Enqueue on the real control plane (issue 20, feature 4).

The clock is the real one: an every-minute cron, slots chosen relative to now. The Jobs
the operator creates have no node to run on, so a run stays active until the test ends
it by deleting its Job (as the catch-up tests do); what is checked is which Jobs exist,
what status.queued shows, and what the history records.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from builders import create_chronosjob as create
from builders import pipeline_spec, secret, service_account
from fixtures_operator import COREHUB_SECRET
from lightkube import Client
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.batch_v1 import Job
from lightkube.types import PatchType
from support import cronjob, get_cr, wait_for
from support_runnow import active_job, annotation_json, jobs_by_token

from chronos import contract as c
from chronos.devcluster.operator_process import OperatorProcess
from chronos.kube import ChronosJobResource
from chronos.operator.firing import slot_job_name

pytestmark = pytest.mark.cluster


@pytest.fixture
def ns(k8s: Client, namespace: str) -> str:
    k8s.create(secret(COREHUB_SECRET, namespace))
    k8s.create(service_account("chronos-runner", namespace))
    return namespace


def jobs(k8s: Client, ns: str) -> dict[str, dict[str, Any]]:
    found = [j.to_dict() for j in k8s.list(Job, namespace=ns)]
    return {str(j["metadata"]["name"]): j for j in found}


def slot_of(job: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(job["metadata"]["annotations"][c.SCHEDULED_TIMESTAMP_ANNOTATION])


def test_enqueue_with_max_queued_1_under_three_overlapping_slots_runs_two_and_drops_one(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    create(
        k8s,
        ns,
        "queued",
        pipeline_spec(
            schedule={"cron": "* * * * *"},
            timeZone="UTC",
            concurrencyPolicy="Enqueue",
            maxQueued=1,
        ),
    )
    cj = wait_for(lambda: cronjob(k8s, ns, "queued"), what="the CronJob")
    # The operator holds the slots (operator mode); the CronJob API has no Enqueue.
    assert cj["spec"]["suspend"] is True
    assert cj["spec"]["concurrencyPolicy"] == "Forbid"
    seen: dict[str, str] = {}  # Job name -> uid: none is ever created twice

    def listed() -> dict[str, dict[str, Any]]:
        found = jobs(k8s, ns)
        for name, job in found.items():
            assert seen.setdefault(name, job["metadata"]["uid"]) == job["metadata"]["uid"]
        return found

    first = wait_for(lambda: next(iter(listed().values()), None), timeout=90, what="slot 1")
    slot1 = slot_of(first)
    assert first["metadata"]["name"] == slot_job_name("queued", slot1)

    def status() -> dict[str, Any]:
        return get_cr(k8s, ns, "queued").get("status") or {}

    # Slot 2 arrives while run 1 is active: it waits.
    waiting = wait_for(lambda: status().get("queued"), timeout=90, what="slot 2 queued")
    assert [q["trigger"] for q in waiting] == ["schedule"]
    slot2 = datetime.fromisoformat(waiting[0]["scheduledTime"])
    assert (slot2 - slot1).total_seconds() == 60
    assert waiting[0]["runId"] == slot_job_name("queued", slot2)
    assert status()["queuedCount"] == 1
    # Slot 3 arrives: beyond maxQueued 1 the oldest waiting (slot 2) is dropped.
    name2 = slot_job_name("queued", slot2)

    def dropped() -> dict[str, Any] | None:
        history = status().get("history") or []
        return next((h for h in history if h["runId"] == name2), None)

    record = wait_for(dropped, timeout=90, what="slot 2 dropped")
    assert (record["result"], record["reason"]) == ("missed", "QueueFull")
    after = status()
    slot3 = slot2 + timedelta(minutes=1)
    assert [q["runId"] for q in after["queued"]] == [slot_job_name("queued", slot3)]
    assert after["queuedCount"] == 1
    assert list(listed()) == [first["metadata"]["name"]]  # nothing else started meanwhile
    # Run 1 ends: the queued slot 3 starts, under its slot's own name.
    k8s.delete(Job, first["metadata"]["name"], namespace=ns)
    name3 = after["queued"][0]["runId"]
    third = wait_for(lambda: listed().get(name3), timeout=30, what="slot 3 started")
    assert slot_of(third) == slot3
    wait_for(lambda: not status().get("queued") or None, timeout=30, what="the queue emptied")
    assert "queuedCount" not in status()
    assert name2 not in seen  # the dropped slot never ran
    assert {first["metadata"]["name"], name3} <= set(seen)


def test_kubectl_shows_the_queued_count(k8s: Client) -> None:
    crd = k8s.get(CustomResourceDefinition, "chronosjobs.chronos.gluesync.io")
    columns = {c.name: c.jsonPath for c in crd.spec.versions[0].additionalPrinterColumns or []}
    assert columns["Queued"] == ".status.queuedCount"


def test_run_now_under_enqueue_waits_for_the_active_run_then_starts_under_its_name(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    # A yearly slot: no scheduled run during the test, only the run it plays.
    create(
        k8s,
        ns,
        "later",
        pipeline_spec(schedule={"cron": "0 0 1 1 *"}, timeZone="UTC", concurrencyPolicy="Enqueue"),
    )
    cronjob_name = wait_for(
        lambda: (get_cr(k8s, ns, "later").get("status") or {}).get("cronJobName"),
        what="the CronJob",
    )
    running = f"{cronjob_name}-running"
    active_job(k8s, ns, cronjob_name, running)
    wait_for(
        lambda: (get_cr(k8s, ns, "later").get("status") or {}).get("activeRuns") == [running],
        what="status.activeRuns",
    )
    k8s.patch(
        ChronosJobResource,
        "later",
        {
            "metadata": {
                "annotations": {
                    c.RUN_NOW_ANNOTATION: "q1",
                    c.RUN_NOW_PARAMETERS_ANNOTATION: json.dumps(
                        {"q1": {"withSnapshot": True, "asOf": "2026-03-01T09:00:00Z"}}
                    ),
                }
            }
        },
        namespace=ns,
        patch_type=PatchType.MERGE,
    )
    waiting = wait_for(
        lambda: (get_cr(k8s, ns, "later").get("status") or {}).get("queued"),
        what="the run-now queued",
    )
    assert [(q["trigger"], q.get("token")) for q in waiting] == [("run-now", "q1")]
    # It waits with its parameters, and its Job gets them when its turn comes.
    given = {"withSnapshot": True, "asOf": "2026-03-01T09:00:00Z"}
    assert waiting[0]["parameters"] == given
    # Served once queued (the token is marked right after the queue's write).
    wait_for(
        lambda: "q1" in annotation_json(k8s, ns, "later", c.RUN_NOW_DONE_ANNOTATION) or None,
        what="the token served",
    )
    assert jobs_by_token(k8s, ns) == {}  # it waits: no Job yet
    k8s.delete(Job, running, namespace=ns)  # the active run ends
    started = wait_for(lambda: jobs_by_token(k8s, ns).get("q1"), what="the queued run-now")
    assert started == [waiting[0]["runId"]]
    job = k8s.get(Job, started[0], namespace=ns)
    assert job.spec is not None
    assert job.spec.template.spec is not None
    env = {e.name: e.value for e in job.spec.template.spec.containers[0].env or []}
    assert json.loads(env[c.ENV_PARAMETERS] or "") == given
    wait_for(
        lambda: not (get_cr(k8s, ns, "later").get("status") or {}).get("queued") or None,
        what="the queue emptied",
    )
