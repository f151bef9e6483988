"""The operator on the real control plane: lifecycle, drift, restarts, runs, HA."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from builders import create_chronosjob as create
from builders import pipeline_spec as spec
from builders import secret, service_account
from fixtures_operator import COREHUB_SECRET
from lightkube import ApiError, Client
from lightkube.resources.admissionregistration_v1 import (
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
)
from lightkube.resources.batch_v1 import CronJob, Job
from lightkube.resources.core_v1 import Event
from lightkube.types import PatchType
from support import cronjob, get_cr, patch_spec, ready, wait_for

from chronos import contract as c
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.operator_process import OperatorProcess
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster


RUNNER_ACCOUNT = "chronos-runner"


@pytest.fixture
def bare_ns(k8s: Client, namespace: str) -> str:
    """A namespace with the CoreHub Secret but no runner ServiceAccount."""
    k8s.create(secret(COREHUB_SECRET, namespace))
    return namespace


@pytest.fixture
def ns(k8s: Client, bare_ns: str) -> str:
    """A namespace set up for runs: the CoreHub Secret and the runner ServiceAccount."""
    k8s.create(service_account(RUNNER_ACCOUNT, bare_ns))
    return bare_ns


def run_now(k8s: Client, ns: str, name: str, token: str) -> None:
    """Ask for a run now, as a user does with kubectl annotate."""
    k8s.patch(
        ChronosJobResource,
        name,
        {"metadata": {"annotations": {c.RUN_NOW_ANNOTATION: token}}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )


def metric(process: OperatorProcess, name: str) -> float:
    """The sum of the operator's samples whose line starts with ``name``."""
    lines = process.metrics().splitlines()
    return sum(float(x.rsplit(" ", 1)[1]) for x in lines if x.startswith(name))


def blocked(k8s: Client, ns: str, name: str) -> dict[str, Any] | None:
    return ready(k8s, ns, name, "RunsBlocked")


def test_lifecycle_create_update_disable_delete(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    create(k8s, ns, "nightly", spec())
    cj = wait_for(lambda: cronjob(k8s, ns, "nightly"), what="the CronJob")
    assert cj["spec"]["schedule"] == "0 3 * * *"
    assert cj["spec"]["timeZone"] == "Europe/Rome"
    assert cj["spec"]["suspend"] is False
    assert cj["spec"]["concurrencyPolicy"] == "Forbid"
    owner = cj["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("ChronosJob", "nightly", True)
    pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    env = {e["name"]: e for e in container["env"]}
    assert env[c.ENV_COREHUB_PASSWORD]["valueFrom"]["secretKeyRef"]["name"] == COREHUB_SECRET
    assert json.loads(env[c.ENV_TASK]["value"])["pipelineId"] == "p1"

    cond = wait_for(lambda: ready(k8s, ns, "nightly"), what="Ready")
    assert cond["status"] == "True"
    # Nothing written to the object itself: GitOps tools see only what Git holds.
    meta = get_cr(k8s, ns, "nightly")["metadata"]
    assert meta.get("annotations") is None
    assert meta.get("finalizers") is None
    status = get_cr(k8s, ns, "nightly")["status"]
    assert status["cron"] == "0 3 * * *"
    assert status["cronJobName"] == "nightly"
    first = datetime.fromisoformat(status["nextRunTimes"][0])
    assert (first.hour, first.minute, first.utcoffset()) in {
        (3, 0, timedelta(hours=1)),
        (3, 0, timedelta(hours=2)),
    }

    patch_spec(
        k8s,
        ns,
        "nightly",
        {
            "schedule": {"daysOfWeek": ["friday"], "hour": 6, "minute": 15, "cron": None},
            "timeZone": "Asia/Tokyo",
        },
    )
    wait_for(
        lambda: (
            (cj := cronjob(k8s, ns, "nightly"))
            and cj["spec"]["schedule"] == "15 6 * * 5"
            and cj["spec"]["timeZone"] == "Asia/Tokyo"
        ),
        what="the schedule update",
    )
    patch_spec(k8s, ns, "nightly", {"enabled": False})
    wait_for(lambda: (cj := cronjob(k8s, ns, "nightly")) and cj["spec"]["suspend"], what="suspend")
    wait_for(
        lambda: (r := ready(k8s, ns, "nightly")) and r["reason"] == "Suspended", what="Suspended"
    )
    assert get_cr(k8s, ns, "nightly")["status"]["nextRunTimes"] == []

    k8s.delete(ChronosJobResource, "nightly", namespace=ns)
    wait_for(lambda: cronjob(k8s, ns, "nightly") is None, timeout=60, what="garbage collection")


def test_drift_is_repaired(operator: OperatorProcess, k8s: Client, ns: str) -> None:
    create(k8s, ns, "drifty", spec())
    wait_for(lambda: cronjob(k8s, ns, "drifty"), what="the CronJob")
    k8s.patch(
        CronJob, "drifty", {"spec": {"schedule": "*/5 * * * *", "suspend": True}}, namespace=ns
    )
    wait_for(
        lambda: (
            (cj := cronjob(k8s, ns, "drifty"))
            and cj["spec"]["schedule"] == "0 3 * * *"
            and not cj["spec"]["suspend"]
        ),
        timeout=15,
        what="the edited CronJob to be restored",
    )
    old_uid = cronjob(k8s, ns, "drifty")["metadata"]["uid"]  # type: ignore[index]
    k8s.delete(CronJob, "drifty", namespace=ns)
    restored = wait_for(
        lambda: (cj := cronjob(k8s, ns, "drifty")) and cj["metadata"]["uid"] != old_uid and cj,
        timeout=15,
        what="the deleted CronJob to be re-created",
    )
    assert restored["spec"]["schedule"] == "0 3 * * *"


def _refuse_cronjobs(k8s: Client, ns: str) -> str:
    """An admission policy refusing every CronJob write in ``ns``; returns its name once
    the API server enforces it."""
    name = f"refuse-cronjobs-{ns}"
    k8s.create(
        cast(
            ValidatingAdmissionPolicy,
            ValidatingAdmissionPolicy.from_dict(
                {
                    "metadata": {"name": name},
                    "spec": {
                        "failurePolicy": "Fail",
                        "matchConstraints": {
                            "resourceRules": [
                                {
                                    "apiGroups": ["batch"],
                                    "apiVersions": ["v1"],
                                    "operations": ["CREATE", "UPDATE"],
                                    "resources": ["cronjobs"],
                                }
                            ]
                        },
                        "validations": [{"expression": "false", "message": "refused by the test"}],
                    },
                }
            ),
        )
    )
    k8s.create(
        cast(
            ValidatingAdmissionPolicyBinding,
            ValidatingAdmissionPolicyBinding.from_dict(
                {
                    "metadata": {"name": name},
                    "spec": {
                        "policyName": name,
                        "validationActions": ["Deny"],
                        "matchResources": {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": ns}
                            }
                        },
                    },
                }
            ),
        )
    )
    probe = cast(
        CronJob,
        CronJob.from_dict(
            {
                "metadata": {"name": "probe", "namespace": ns},
                "spec": {
                    "schedule": "0 3 * * *",
                    "jobTemplate": {
                        "spec": {
                            "template": {
                                "spec": {
                                    "restartPolicy": "Never",
                                    "containers": [{"name": "c", "image": "busybox"}],
                                }
                            }
                        }
                    },
                },
            }
        ),
    )

    def refused() -> bool:
        try:
            k8s.create(probe, dry_run=True)
        except ApiError as exc:
            return exc.status.code in (403, 422)
        return False

    wait_for(refused, 30, "the admission policy to be enforced")
    return name


def test_a_repair_refused_for_a_while_is_retried_and_ready_says_so(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    """The CronJob is deleted while admission refuses its re-creation: Ready turns False
    with the reason, and once the refusal ends the CronJob is back and Ready=True (the
    failed repair used to leave the job without a CronJob for ever, Ready=True)."""
    create(k8s, ns, "repair", spec())
    wait_for(lambda: cronjob(k8s, ns, "repair"), what="the CronJob")
    wait_for(lambda: (r := ready(k8s, ns, "repair")) and r["status"] == "True", what="Ready")
    policy = _refuse_cronjobs(k8s, ns)
    try:
        k8s.delete(CronJob, "repair", namespace=ns)
        cond = wait_for(
            lambda: (r := ready(k8s, ns, "repair")) and r["status"] == "False" and r,
            timeout=20,
            what="Ready=False while the CronJob cannot be re-created",
        )
        assert cond["reason"] == "CronJobMissing", cond
        assert "refused by the test" not in cond["message"]  # a code, never the answer
        time.sleep(8)  # several retries fail meanwhile
        assert cronjob(k8s, ns, "repair") is None
    finally:
        k8s.delete(ValidatingAdmissionPolicyBinding, policy)
        k8s.delete(ValidatingAdmissionPolicy, policy)
    lifted = time.monotonic()
    wait_for(lambda: cronjob(k8s, ns, "repair"), timeout=60, what="the CronJob to be re-created")
    cond = wait_for(
        lambda: (r := ready(k8s, ns, "repair")) and r["status"] == "True" and r,
        timeout=30,
        what="Ready=True again",
    )
    assert cond["reason"] == "Reconciled"
    print(f"repaired {time.monotonic() - lifted:.1f} s after the refusal ended")


def test_long_names_get_a_stable_valid_cronjob_name(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    name = "a-very-long-chronosjob-name-that-goes-on-and-on-beyond-fifty-two-characters"
    create(k8s, ns, name, spec())
    status = wait_for(
        lambda: (get_cr(k8s, ns, name).get("status") or {}).get("cronJobName"), what="status"
    )
    assert len(status) <= 52
    assert cronjob(k8s, ns, status) is not None


def test_invalid_spec_reports_condition_and_event_then_recovers(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    create(k8s, ns, "zone", spec())
    wait_for(lambda: cronjob(k8s, ns, "zone"), what="the CronJob")
    # Well-formed, so the CRD accepts it, but not in any tz database.
    patch_spec(k8s, ns, "zone", {"timeZone": "Mars/Olympus_Mons"})
    cond = wait_for(
        lambda: (r := ready(k8s, ns, "zone")) and r["status"] == "False" and r, what="Ready=False"
    )
    assert cond["reason"] == "InvalidTimeZone"
    assert "spec.timeZone" in cond["message"]
    assert cond["observedGeneration"] == get_cr(k8s, ns, "zone")["metadata"]["generation"]
    assert cronjob(k8s, ns, "zone")["spec"]["timeZone"] == "Europe/Rome"  # type: ignore[index]
    wait_for(
        lambda: [e for e in k8s.list(Event, namespace=ns) if e.reason == "InvalidTimeZone"],
        what="a warning Event",
    )
    patch_spec(k8s, ns, "zone", {"timeZone": "America/New_York"})
    wait_for(lambda: (r := ready(k8s, ns, "zone")) and r["status"] == "True", what="recovery")
    assert cronjob(k8s, ns, "zone")["spec"]["timeZone"] == "America/New_York"  # type: ignore[index]


def test_run_now_creates_one_job_per_token(operator: OperatorProcess, k8s: Client, ns: str) -> None:
    # Allow: no node runs these Jobs here, so the first stays active (Forbid would refuse
    # the second run; tests/cluster/test_run_now.py covers that).
    create(k8s, ns, "manual", spec(concurrencyPolicy="Allow"))
    wait_for(lambda: cronjob(k8s, ns, "manual"), what="the CronJob")

    def annotate(values: dict[str, str]) -> None:
        k8s.patch(
            ChronosJobResource,
            "manual",
            {"metadata": {"annotations": values}},
            namespace=ns,
            patch_type=PatchType.MERGE,
        )

    def run_now_jobs() -> list[Job]:
        return [
            j
            for j in k8s.list(Job, namespace=ns)
            if j.metadata and (j.metadata.annotations or {}).get(c.TRIGGER_ANNOTATION) == "run-now"
        ]

    annotate({c.RUN_NOW_ANNOTATION: "token-a"})
    first = wait_for(run_now_jobs, what="the run-now Job")
    assert len(first) == 1
    annotate({"unrelated": "change"})  # another event with the same token
    time.sleep(5)
    assert len(run_now_jobs()) == 1
    annotate({c.RUN_NOW_ANNOTATION: "token-b"})
    wait_for(lambda: len(run_now_jobs()) == 2, what="a second Job for a new token")
    time.sleep(5)
    jobs = run_now_jobs()
    assert len(jobs) == 2
    tokens = {
        (j.metadata.annotations or {})[c.RUN_NOW_TOKEN_ANNOTATION] for j in jobs if j.metadata
    }
    assert tokens == {"token-a", "token-b"}
    served = json.loads(
        get_cr(k8s, ns, "manual")["metadata"]["annotations"][c.RUN_NOW_DONE_ANNOTATION]
    )
    assert set(served) == {"token-b", "token-a"}


def test_job_failing_by_deadline_without_a_pod_is_recorded(
    operator: OperatorProcess, k8s: Client, bare_ns: str
) -> None:
    """The Job hits its deadline before it ever had a pod (no runner ServiceAccount), so
    no runner could report it: the operator records it, saying why it never launched.

    (The loopback plane runs no pods, so without a ServiceAccount this is the one way a
    Job there fails: no runner could ever report it.)"""
    ns = bare_ns
    create(k8s, ns, "slow", spec(timeoutSeconds=2))
    wait_for(lambda: cronjob(k8s, ns, "slow"), what="the CronJob")
    run_now(k8s, ns, "slow", "go")
    history = wait_for(
        lambda: (get_cr(k8s, ns, "slow").get("status") or {}).get("history"),
        timeout=60,
        what="a history entry",
    )
    entry = history[0]
    assert entry["result"] == "failed"
    assert entry["reason"] == "FailedLaunch"
    assert "serviceaccount" in entry["message"]
    assert entry["trigger"] == "run-now"
    assert entry["reportedBy"] == "operator"
    assert entry["runId"].startswith("slow-now-")


def test_schedule_edit_never_fires_a_past_slot(
    operator: OperatorProcess, cluster: Cluster, k8s: Client, ns: str
) -> None:
    """kubernetes/kubernetes#63371: a bare CronJob fires at once after such an edit.

    Both CronJobs last ran three hours ago; each schedule is then moved to a slot two
    minutes ago. The bare one starts a Job immediately; the operator's does not.
    """
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # The old schedule last fired three hours ago, so it has no slot pending...
    last = now - timedelta(hours=3)
    old_slot = f"{last.minute} {last.hour} * * *"
    # ...and the new one has a slot two minutes ago, after that last run.
    past = now - timedelta(minutes=2)
    past_slot = f"{past.minute} {past.hour} * * *"
    last_run = last.strftime("%Y-%m-%dT%H:%M:%SZ")

    cluster.kubectl("-n", ns, "create", "cronjob", "bare", "--image=x", f"--schedule={old_slot}")
    create(k8s, ns, "guarded", spec(timeZone="UTC", schedule={"cron": old_slot}))
    wait_for(lambda: cronjob(k8s, ns, "guarded"), what="the CronJob")
    for name in ("bare", "guarded"):
        k8s.patch(
            CronJob.Status,
            name,
            {"status": {"lastScheduleTime": last_run}},
            namespace=ns,
            patch_type=PatchType.MERGE,
        )
    k8s.patch(CronJob, "bare", {"spec": {"schedule": past_slot}}, namespace=ns)
    patch_spec(k8s, ns, "guarded", {"schedule": {"cron": past_slot}})
    wait_for(
        lambda: (cj := cronjob(k8s, ns, "guarded")) and cj["spec"]["schedule"] == past_slot,
        what="the operator to apply the new schedule",
    )
    # The controller only notices the pending slot on its next sync of the object; any
    # later update (a label, a controller restart) triggers one.
    for name in ("bare", "guarded"):
        k8s.patch(CronJob, name, {"metadata": {"labels": {"touched": "yes"}}}, namespace=ns)

    def jobs_of(cronjob_name: str) -> list[Job]:
        return [
            j
            for j in k8s.list(Job, namespace=ns)
            if j.metadata and any(o.name == cronjob_name for o in j.metadata.ownerReferences or [])
        ]

    wait_for(lambda: jobs_of("bare"), timeout=20, what="the native controller's unintended run")
    time.sleep(10)
    assert jobs_of("guarded") == []


def test_slot_skipped_under_forbid_is_recorded_as_missed(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    # Made suspended, so that no slot comes before the blocker is in place (at whatever
    # second of the minute the test starts), then enabled.
    create(k8s, ns, "busy", spec(schedule={"cron": "* * * * *"}, enabled=False))
    cj = wait_for(
        lambda: (cj := cronjob(k8s, ns, "busy")) and cj["spec"]["suspend"] and cj,
        what="the suspended CronJob",
    )
    # A run that never ends (the loopback plane has no node to run it),
    # entered in the CronJob's active list as if the controller had started it.
    blocker = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "busy-blocker",
            "namespace": ns,
            "annotations": {c.CHRONOSJOB_ANNOTATION: "busy"},
            "labels": {c.JOB_LABEL: "busy"},
        },
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "wait", "image": "x"}],
                }
            }
        },
    }
    job = k8s.create(cast(Job, Job.from_dict(blocker)))
    assert job.metadata is not None
    ref = {"apiVersion": "batch/v1", "kind": "Job", "name": "busy-blocker", "namespace": ns}
    k8s.patch(
        CronJob.Status,
        "busy",
        {"status": {"active": [{**ref, "uid": job.metadata.uid}]}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )
    del cj
    patch_spec(k8s, ns, "busy", {"enabled": True})
    missed = wait_for(
        lambda: [
            h
            for h in (get_cr(k8s, ns, "busy").get("status") or {}).get("history") or []
            if h["result"] == "missed"
        ],
        timeout=100,
        what=f"a missed slot in the history of {ns}/busy",
    )
    assert missed[0]["reason"] == "ConcurrencyForbid"
    assert missed[0]["reportedBy"] == "operator"
    wait_for(
        lambda: [e for e in k8s.list(Event, namespace=ns) if e.reason == "MissedRun"],
        what="a MissedRun Event (posted from housekeeping)",
    )
    slot = datetime.fromisoformat(missed[0]["scheduledTime"])
    assert slot.second == 0
    assert [
        j for j in k8s.list(Job, namespace=ns) if j.metadata and j.metadata.name != "busy-blocker"
    ] == []


def test_missing_runner_account_blocks_runs_records_the_failed_launch_and_clears(
    operator: OperatorProcess, k8s: Client, bare_ns: str
) -> None:
    """Without the runner ServiceAccount the Job controller cannot create a pod (the
    ServiceAccount admission plugin refuses it) and retries for ever."""
    ns = bare_ns
    create(k8s, ns, "orphan", spec())
    cond = wait_for(
        lambda: (b := blocked(k8s, ns, "orphan")) and b["status"] == "True" and b,
        what="RunsBlocked=True",
    )
    assert cond["reason"] == "RunnerServiceAccountMissing"
    assert f"ServiceAccount {RUNNER_ACCOUNT} does not exist in namespace {ns}" in cond["message"]
    assert (ready(k8s, ns, "orphan") or {}).get("status") == "True"  # the CronJob is there

    run_now(k8s, ns, "orphan", "go")
    history = wait_for(
        lambda: (get_cr(k8s, ns, "orphan").get("status") or {}).get("history"),
        timeout=60,
        what="the failed launch in the history",
    )
    entry = history[0]
    assert (entry["result"], entry["reason"], entry["reportedBy"]) == (
        "failed",
        "FailedLaunch",
        "operator",
    )
    assert f'serviceaccount "{RUNNER_ACCOUNT}" not found' in entry["message"]
    assert entry["trigger"] == "run-now"
    # The Job is gone, so it can neither start hours later nor block the next slot.
    wait_for(
        lambda: (
            not [
                j
                for j in k8s.list(Job, namespace=ns)
                if j.metadata and j.metadata.name == entry["runId"]
            ]
        ),
        what="the stuck Job to be deleted",
    )
    wait_for(
        lambda: [e for e in k8s.list(Event, namespace=ns) if e.reason == "FailedLaunch"],
        what="a FailedLaunch Event on the ChronosJob",
    )

    k8s.create(service_account(RUNNER_ACCOUNT, ns))
    cleared = wait_for(
        lambda: (b := blocked(k8s, ns, "orphan")) and b["status"] == "False" and b,
        what="RunsBlocked to clear once the ServiceAccount exists",
    )
    assert cleared["reason"] == "RunsCanStart"


def test_a_schedule_that_never_fires_is_flagged(
    operator: OperatorProcess, k8s: Client, ns: str
) -> None:
    create(k8s, ns, "leap", spec(schedule={"cron": "0 0 30 2 *"}))
    cond = wait_for(
        lambda: (b := blocked(k8s, ns, "leap")) and b["status"] == "True" and b,
        what="RunsBlocked=True",
    )
    assert cond["reason"] == "NeverFires"
    assert "never fires" in cond["message"]
    assert get_cr(k8s, ns, "leap")["status"]["nextRunTimes"] == []
    assert (ready(k8s, ns, "leap") or {}).get("status") == "True"
    # A schedule that fires clears it.
    patch_spec(k8s, ns, "leap", {"schedule": {"cron": "0 0 29 2 *"}})
    wait_for(
        lambda: (b := blocked(k8s, ns, "leap")) and b["status"] == "False",
        what="RunsBlocked to clear",
    )


def test_a_schedule_below_the_minimum_interval_is_refused(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    start_operator(CHRONOS_MIN_INTERVAL_SECONDS="300")
    ns = solo_namespace
    create(k8s, ns, "chatty", spec(schedule={"cron": "*/2 * * * *"}))
    cond = wait_for(
        lambda: (r := ready(k8s, ns, "chatty")) and r["status"] == "False" and r,
        what="Ready=False",
    )
    assert cond["reason"] == "ScheduleTooFrequent"
    assert cond["message"].startswith("spec.schedule.cron: runs can come 2m apart")
    assert cronjob(k8s, ns, "chatty") is None
    patch_spec(k8s, ns, "chatty", {"schedule": {"cron": "*/5 * * * *"}})
    wait_for(lambda: (r := ready(k8s, ns, "chatty")) and r["status"] == "True", what="recovery")
    assert cronjob(k8s, ns, "chatty") is not None


def test_the_operators_history_limit_applies_to_jobs_without_their_own(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    """A ChronosJob without spec.historyLimit keeps CHRONOS_HISTORY_LIMIT runs.

    (With a CRD default for historyLimit the operator's setting never applied.) The runs
    are run-now requests refused under Forbid while the first one's Job waits for a pod
    that cannot start (no runner ServiceAccount in this namespace): the operator records
    each refusal."""
    start_operator(CHRONOS_HISTORY_LIMIT="3")
    ns = solo_namespace
    create(k8s, ns, "short", spec())
    assert "historyLimit" not in get_cr(k8s, ns, "short")["spec"]
    manifest = wait_for(lambda: cronjob(k8s, ns, "short"), what="the CronJob")
    container = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    runner_env = {e["name"]: e.get("value") for e in container["env"]}
    assert runner_env[c.ENV_HISTORY_LIMIT] == "3"  # runs the runner records, too

    def served(token: str) -> bool:
        annotations = get_cr(k8s, ns, "short")["metadata"].get("annotations") or {}
        return token in json.loads(annotations.get(c.RUN_NOW_DONE_ANNOTATION) or "{}")

    for i in range(6):
        token = f"t{i}"
        run_now(k8s, ns, "short", token)
        wait_for(lambda token=token: served(token), what=f"run-now {token} served")  # type: ignore[misc]
    history = wait_for(
        lambda: (
            len(h := (get_cr(k8s, ns, "short").get("status") or {}).get("history") or []) >= 3 and h
        ),
        what="three history entries",
    )
    time.sleep(2)  # a fourth entry, if the limit did not hold, has been written by now
    history = get_cr(k8s, ns, "short")["status"]["history"]
    assert len(history) == 3
    assert next(h["runId"] for h in history).startswith("short-now-")


def test_a_restart_leaves_runs_trimmed_from_a_full_history_out(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    """historyLimit 1 keeps one run while the Jobs of two stay: a restarted operator
    sees the older finished Job, which is in no history any more, and must not record it
    again (it did, pushing the newer run out). The runs are failed launches (no runner
    ServiceAccount in this namespace), which only the operator records."""
    ns = solo_namespace
    operator = start_operator()
    create(k8s, ns, "trim", spec(timeoutSeconds=2, historyLimit=1))
    wait_for(lambda: cronjob(k8s, ns, "trim"), what="the CronJob")

    def new_run() -> str | None:
        """The newest run's id, once it is a run not seen before."""
        history = (get_cr(k8s, ns, "trim").get("status") or {}).get("history") or []
        newest = str(history[0]["runId"]) if history else None
        return newest if newest not in run_ids else None

    run_ids: list[str] = []
    for token in ("first", "second"):
        run_now(k8s, ns, "trim", token)
        run_ids.append(wait_for(new_run, timeout=60, what=f"run-now {token} recorded"))
    jobs = {j.metadata.name for j in k8s.list(Job, namespace=ns)}  # type: ignore[union-attr]
    assert set(run_ids) <= jobs  # both Jobs outlive the first run's history entry
    before = get_cr(k8s, ns, "trim")["status"]["history"]
    assert [h["runId"] for h in before] == [run_ids[1]]

    operator.stop()
    restarted = start_operator()
    wait_for(lambda: metric(restarted, "chronos_operator_leader") == 1, what="leadership")
    time.sleep(4)  # its first sync of the job, and a housekeeping round (every 3 s), ran
    assert get_cr(k8s, ns, "trim")["status"]["history"] == before
    assert metric(restarted, 'chronos_operator_writes_total{write="status_update"}') == 0
