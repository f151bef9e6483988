"""The operator's pure functions: names, the CronJob, status, and run accounting."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import builders
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronos import contract as c
from chronos.models.chronosjob import ChronosJobSpec, ChronosJobStatus, ConcurrencyPolicy
from chronos.models.resolve import resolve_schedule
from chronos.models.wire import ChronosJobDict, ConditionDict
from chronos.operator import naming, runs
from chronos.operator import status as status_mod
from chronos.operator.cronjob import ConfigError, build_cronjob, run_now_job
from chronos.operator.desired import RejectedError, desired_state, is_subset
from chronos.operator.settings import OperatorSettings
from chronos.settings import SettingsError
from chronos.times import rfc3339

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NOW = datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC)


settings = builders.operator_settings


def spec(**overrides: Any) -> ChronosJobSpec:
    """Two entities started at 08:30 on Mondays and Fridays, Rome time."""
    return builders.spec_model(
        **{
            "task": {"type": "entity_start", "pipelineId": "p", "entityIds": ["e1", "e2"]},
            "schedule": {"daysOfWeek": ["monday", "friday"], "hour": 8, "minute": 30},
        }
        | overrides
    )


def cronjob(s: ChronosJobSpec | None = None, cfg: OperatorSettings | None = None) -> dict[str, Any]:
    s = s or spec()
    cfg = cfg or settings()
    return build_cronjob(
        name="orders",
        namespace="ns",
        uid="uid-1",
        spec=s,
        schedule=resolve_schedule(s, cfg.default_time_zone),
        settings=cfg,
    )


# ------------------------------------------------------------------------- naming


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=253))
def test_cronjob_names_are_valid_short_and_stable(name: str) -> None:
    short = naming.cronjob_name(name)
    assert len(short) <= naming.CRONJOB_NAME_MAX
    assert DNS_LABEL.match(short), short
    assert naming.cronjob_name(name) == short
    assert len(naming.label_value(name)) <= naming.LABEL_VALUE_MAX


def test_short_names_are_kept_and_altered_names_do_not_collide() -> None:
    assert naming.cronjob_name("nightly") == "nightly"
    assert naming.cronjob_name("a.b") != naming.cronjob_name("a-b")
    long_a, long_b = "x" * 60 + "a", "x" * 60 + "b"
    assert naming.cronjob_name(long_a) != naming.cronjob_name(long_b)


def test_run_now_job_names_depend_on_the_token_and_when_it_was_accepted() -> None:
    at, later = "2025-01-01T00:00:00.000001Z", "2025-01-02T00:00:00.000001Z"
    name = naming.run_now_job_name
    assert name("orders", "t1", at) == name("orders", "t1", at)
    assert name("orders", "t1", at) != name("orders", "t2", at)
    # The same key accepted again (after the served window) is another run, another name.
    assert name("orders", "t1", at) != name("orders", "t1", later)
    assert len(name("y" * 253, "t", at)) <= 63


# ------------------------------------------------------------------------ cronjob


def test_cronjob_carries_schedule_zone_policy_and_owner() -> None:
    cj = cronjob(spec(concurrencyPolicy="Replace", startingDeadlineSeconds=120))
    assert cj["spec"]["schedule"] == "30 8 * * 1,5"
    assert cj["spec"]["timeZone"] == "Europe/Rome"
    assert cj["spec"]["suspend"] is False
    assert cj["spec"]["concurrencyPolicy"] == "Replace"
    assert cj["spec"]["startingDeadlineSeconds"] == 120
    (owner,) = cj["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "chronos.gluesync.io/v1alpha1",
        "kind": "ChronosJob",
        "name": "orders",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert cj["metadata"]["labels"][c.JOB_LABEL] == "orders"
    assert cj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "chronos-operator"


def test_disabled_jobs_are_suspended_and_the_default_zone_applies() -> None:
    cj = cronjob(spec(enabled=False, timeZone=None), settings(default_time_zone="Asia/Tokyo"))
    assert cj["spec"]["suspend"] is True
    assert cj["spec"]["timeZone"] == "Asia/Tokyo"


def test_job_template_runs_the_runner_safely() -> None:
    s = spec(timeoutSeconds=600, retries=2, historyLimit=7)
    job = cronjob(s)["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 600
    assert job["backoffLimit"] == 2
    assert job["ttlSecondsAfterFinished"] > 0
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == "chronos-runner"
    assert pod["restartPolicy"] == "Never"
    # No service-link variables: CHRONOS_API_SERVICE_HOST & co. would stop the runner.
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "chronos.runner"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"]["limits"]["memory"]
    env = {e["name"]: e for e in container["env"]}
    assert json.loads(env[c.ENV_TASK]["value"]) == s.task.model_dump(mode="json", exclude_none=True)
    assert env[c.ENV_TIMEOUT_SECONDS]["value"] == "600"
    assert env[c.ENV_HISTORY_LIMIT]["value"] == "7"
    assert env[c.ENV_COREHUB_URL]["value"] == "https://hub:1717"
    for secret_env in (c.ENV_COREHUB_USERNAME, c.ENV_COREHUB_PASSWORD):
        assert env[secret_env]["valueFrom"]["secretKeyRef"]["name"] == "hub"
        assert "value" not in env[secret_env]
    assert env[c.ENV_RUN_ID]["valueFrom"]["fieldRef"]["fieldPath"].endswith("job-name']")
    assert c.TRIGGER_ANNOTATION in env[c.ENV_TRIGGER]["valueFrom"]["fieldRef"]["fieldPath"]


def test_job_overrides_corehub_and_mounts_its_ca() -> None:
    s = spec(
        coreHub={
            "url": "https://other:1717",
            "credentialsSecretRef": {"name": "mine", "usernameKey": "u", "passwordKey": "p"},
            "tls": {"caSecretRef": {"name": "ca", "key": "bundle.pem"}, "insecureSkipVerify": True},
        }
    )
    pod = cronjob(s)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env[c.ENV_COREHUB_URL]["value"] == "https://other:1717"
    assert env[c.ENV_COREHUB_USERNAME]["valueFrom"]["secretKeyRef"] == {"name": "mine", "key": "u"}
    assert env[c.ENV_COREHUB_PASSWORD]["valueFrom"]["secretKeyRef"] == {"name": "mine", "key": "p"}
    assert env[c.ENV_COREHUB_INSECURE_SKIP_VERIFY]["value"] == "true"
    assert env[c.ENV_COREHUB_CA_FILE]["value"].startswith(c.COREHUB_CA_MOUNT)
    assert pod["volumes"][0]["secret"]["secretName"] == "ca"
    assert pod["containers"][0]["volumeMounts"][0]["readOnly"] is True


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        ({"corehub_url": None}, "spec.coreHub.url"),
        ({"corehub_credentials_secret": None}, "spec.coreHub.credentialsSecretRef"),
    ],
)
def test_missing_corehub_configuration_is_a_config_error(cfg: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        cronjob(cfg=settings(**cfg))
    assert info.value.field == field


def test_run_now_job_copies_the_template_and_marks_the_trigger() -> None:
    cj = cronjob()
    cj["metadata"]["uid"] = "cj-uid"
    at = "2025-01-01T00:00:00.000001Z"
    job = run_now_job(cj, chronosjob="orders", token="abc", requested_at=at)
    assert job["metadata"]["name"] == naming.run_now_job_name("orders", "abc", at)
    assert job["metadata"]["annotations"][c.TRIGGER_ANNOTATION] == "run-now"
    assert job["metadata"]["annotations"][c.RUN_NOW_TOKEN_ANNOTATION] == "abc"
    assert job["metadata"]["annotations"][c.CHRONOSJOB_ANNOTATION] == "orders"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "cj-uid"
    pod_meta = job["spec"]["template"]["metadata"]
    assert pod_meta["annotations"][c.TRIGGER_ANNOTATION] == "run-now"
    # The CronJob's own template is not changed by making the Job.
    assert (
        c.TRIGGER_ANNOTATION
        not in cj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
    )


# ------------------------------------------------------------------ desired state


def test_desired_state_names_the_reason_of_a_rejection() -> None:
    cr = {"metadata": {"name": "x", "namespace": "ns", "uid": "u"}}
    good = spec().model_dump(mode="json", exclude_none=True)
    for body, reason in (
        ({**good, "timeZone": "Mars/Olympus_Mons"}, "InvalidTimeZone"),
        ({**good, "schedule": {"cron": "61 * * * *"}}, "InvalidSchedule"),
        ({**good, "task": {"type": "entity_start", "pipelineId": "p"}}, "InvalidSpec"),
    ):
        with pytest.raises(RejectedError) as info:
            desired_state(cast(ChronosJobDict, {**cr, "spec": body}), settings())
        assert info.value.reason == reason
        assert info.value.message.startswith("spec.")


def test_is_subset_ignores_server_defaults_but_not_changes() -> None:
    desired = {"a": 1, "b": {"c": [{"d": 2}]}}
    assert is_subset(desired, {"a": 1, "b": {"c": [{"d": 2, "e": 3}], "f": 4}})
    assert not is_subset(desired, {"a": 1, "b": {"c": [{"d": 3}]}})
    assert not is_subset(desired, {"a": 1, "b": {"c": [{"d": 2}, {"d": 2}]}})
    assert not is_subset(desired, {"b": {"c": [{"d": 2}]}})


# ------------------------------------------------------------------------- status


def test_condition_transition_time_changes_only_with_status() -> None:
    first = status_mod.set_condition(
        None, type="Ready", status=True, reason="A", message="m", generation=1, now=NOW
    )
    later = NOW + timedelta(hours=1)
    same = status_mod.set_condition(
        first, type="Ready", status=True, reason="B", message="n", generation=2, now=later
    )
    assert same[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    assert (same[0]["reason"], same[0]["observedGeneration"]) == ("B", 2)
    flipped = status_mod.set_condition(
        same, type="Ready", status=False, reason="C", message="o", generation=3, now=later
    )
    assert flipped[0]["lastTransitionTime"] == "2026-11-23T11:00:30Z"
    assert len(flipped) == 1


def test_reconciled_status_reports_the_effective_schedule() -> None:
    s = spec()
    patch = status_mod.reconciled(
        {},
        generation=4,
        schedule=resolve_schedule(s, "UTC"),
        cronjob="orders",
        enabled=True,
        now=NOW,
    )
    body = status_mod.status_body(patch)
    assert set(body) <= status_mod.OPERATOR_FIELDS
    assert body["cron"] == "30 8 * * 1,5"
    assert body["nextRunTimes"][:2] == ["2026-11-27T08:30:00+01:00", "2026-11-30T08:30:00+01:00"]
    assert body["conditions"][0]["reason"] == "Reconciled"
    assert body["conditions"][0]["lastTransitionTime"] == rfc3339(NOW)


# --------------------------------------------------------------------------- runs


def job(name: str, **status: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "annotations": {}}
    return {"metadata": meta, "status": status}


def failed(reason: str) -> dict[str, Any]:
    return {"type": "Failed", "status": "True", "reason": reason, "message": f"{reason}!"}


def test_unreported_failure_is_recorded_with_the_jobs_reason() -> None:
    j = job(
        "orders-1",
        startTime="2026-11-23T10:00:00Z",
        conditions=[{**failed("DeadlineExceeded"), "lastTransitionTime": "2026-11-23T10:00:05Z"}],
    )
    record = runs.unreported_run(j, [], [])
    assert record is not None
    assert (record.result, record.reason, record.reported_by) == (
        "failed",
        "DeadlineExceeded",
        "operator",
    )
    assert record.duration_seconds == 5


def test_reported_unfinished_or_known_runs_are_not_recorded_again() -> None:
    done = job("orders-1", conditions=[failed("BackoffLimitExceeded")])
    assert runs.unreported_run(done, [], [{"runId": "orders-1"}]) is None
    assert runs.unreported_run(job("orders-2"), [], []) is None


def test_the_runners_termination_message_wins_over_the_job() -> None:
    j = job("orders-1", conditions=[{"type": "Complete", "status": "True"}])
    message = json.dumps(
        {"runId": "orders-1", "trigger": "schedule", "result": "succeeded", "message": "ok"}
    )
    pod = {"status": {"containerStatuses": [{"state": {"terminated": {"message": message}}}]}}
    record = runs.unreported_run(j, [pod], [])
    assert record is not None
    assert (record.result, record.message, record.reported_by) == ("succeeded", "ok", "operator")


def test_missed_slots_and_their_reasons() -> None:
    schedule = resolve_schedule(spec(schedule={"cron": "*/10 * * * *"}, timeZone="UTC"), "UTC")
    since = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    ran = job("orders-a")
    ran["metadata"]["annotations"][c.SCHEDULED_TIMESTAMP_ANNOTATION] = "2026-11-23T09:10:00Z"
    active = job("orders-b", startTime="2026-11-23T09:15:00Z")  # still running
    records, mark = runs.missed_slots(
        schedule,
        since=since,
        now=datetime(2026, 11, 23, 9, 41, tzinfo=UTC),
        jobs=[ran, active],
        history=[],
        context=runs.SlotContext(ConcurrencyPolicy.FORBID, None),
        grace=timedelta(seconds=90),
    )
    assert [r.scheduled_time.minute for r in records if r.scheduled_time] == [20, 30]
    assert {r.reason for r in records} == {"ConcurrencyForbid"}
    assert mark == datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # the last slot examined

    records, _ = runs.missed_slots(
        schedule,
        since=since,
        now=datetime(2026, 11, 23, 9, 31, tzinfo=UTC),
        jobs=[],
        history=[{"scheduledTime": "2026-11-23T09:20:00Z"}],
        context=runs.SlotContext(ConcurrencyPolicy.ALLOW, 60),
        grace=timedelta(seconds=30),
    )
    assert [(r.scheduled_time.minute, r.reason) for r in records if r.scheduled_time] == [
        (10, "StartingDeadlineExceeded"),
        (30, "NotStarted"),
    ]


def test_a_slot_inside_the_grace_period_is_not_missed_yet() -> None:
    schedule = resolve_schedule(spec(schedule={"cron": "0 * * * *"}, timeZone="UTC"), "UTC")
    since = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    records, mark = runs.missed_slots(
        schedule,
        since=since,
        now=datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC),
        jobs=[],
        history=[],
        context=runs.SlotContext(ConcurrencyPolicy.FORBID, None),
        grace=timedelta(seconds=90),
    )
    assert records == []
    assert mark == since  # no slot passed: nothing to write


def test_the_mark_stays_until_a_slot_passes() -> None:
    schedule = resolve_schedule(spec(schedule={"cron": "0 3 * * *"}, timeZone="UTC"), "UTC")
    since = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    for hours in (1, 5, 17):
        _, mark = runs.missed_slots(
            schedule,
            since=since,
            now=since + timedelta(hours=hours),
            jobs=[],
            history=[],
            context=runs.SlotContext(ConcurrencyPolicy.ALLOW, None),
            grace=timedelta(seconds=90),
        )
        assert mark == since, hours
    records, mark = runs.missed_slots(
        schedule,
        since=since,
        now=since + timedelta(hours=19),
        jobs=[],
        history=[],
        context=runs.SlotContext(ConcurrencyPolicy.ALLOW, None),
        grace=timedelta(seconds=90),
    )
    assert [r.scheduled_time for r in records] == [datetime(2026, 11, 24, 3, 0, tzinfo=UTC)]
    assert mark == datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


# ----------------------------------------------------------------------- settings


@pytest.fixture(autouse=True)
def _no_chronos_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment: a developer's CHRONOS_* variables must not leak in."""
    for name in [n for n in os.environ if n.startswith("CHRONOS_")]:
        monkeypatch.delenv(name)


def test_a_misspelt_setting_stops_the_operator_with_a_suggestion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHRONOS_DEFAULT_TIMEZONE", "Europe/Rome")
    with pytest.raises(SettingsError, match="did you mean CHRONOS_DEFAULT_TIME_ZONE"):
        OperatorSettings.from_env()


def test_an_unknown_default_zone_stops_the_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHRONOS_DEFAULT_TIME_ZONE", "Mars/Base")
    with pytest.raises(SettingsError, match="CHRONOS_DEFAULT_TIME_ZONE"):
        OperatorSettings.from_env()


def test_runner_pod_overrides_reach_every_runner_pod() -> None:
    overrides = {
        "imagePullSecrets": [{"name": "registry"}],
        "nodeSelector": {"pool": "batch"},
        "tolerations": [{"key": "batch", "operator": "Exists"}],
        "resources": {"requests": {"cpu": "10m"}},
    }
    pod = cronjob(cfg=settings(runner_pod_overrides=overrides))["spec"]["jobTemplate"]["spec"][
        "template"
    ]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "registry"}]
    assert pod["nodeSelector"] == {"pool": "batch"}
    assert pod["tolerations"] == [{"key": "batch", "operator": "Exists"}]
    assert pod["containers"][0]["resources"] == {"requests": {"cpu": "10m"}}
    assert pod["securityContext"]["runAsNonRoot"] is True  # not replaceable


def test_runner_pod_overrides_from_the_environment_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHRONOS_RUNNER_POD_OVERRIDES", '{"nodeSelector": {"pool": "batch"}}')
    assert OperatorSettings.from_env().runner_pod_overrides == {"nodeSelector": {"pool": "batch"}}
    monkeypatch.setenv("CHRONOS_RUNNER_POD_OVERRIDES", '{"securityContext": {}}')
    with pytest.raises(SettingsError, match=r"CHRONOS_RUNNER_POD_OVERRIDES.*securityContext"):
        OperatorSettings.from_env()


# ------------------------------------------------------- blocked runs, failed launches


def test_a_schedule_closer_than_the_minimum_is_rejected_with_a_reason() -> None:
    cr = {"metadata": {"name": "x", "namespace": "ns", "uid": "u"}}
    body = spec(schedule={"cron": "*/2 * * * *"}).model_dump(mode="json", exclude_none=True)
    job = cast(ChronosJobDict, {**cr, "spec": body})
    desired_state(job, settings())  # the default minimum is one minute
    with pytest.raises(RejectedError) as info:
        desired_state(job, settings(min_interval_seconds=300))
    assert info.value.reason == "ScheduleTooFrequent"
    assert info.value.message.startswith("spec.schedule.cron: runs can come 2m apart")


def test_runs_blocked_names_each_cause_and_clears() -> None:
    def blocked(blockers: status_mod.Blockers, conditions: Any = None) -> ConditionDict:
        found = status_mod.condition(
            status_mod.blocked_condition(
                conditions, blockers, cron="0 0 30 2 *", namespace="ns", generation=2, now=NOW
            ),
            status_mod.RUNS_BLOCKED,
        )
        assert found is not None
        return found

    clear = blocked(status_mod.Blockers())
    assert (clear["status"], clear["reason"]) == ("False", "RunsCanStart")
    account = blocked(status_mod.Blockers(missing_account="chronos-runner"))
    assert (account["status"], account["reason"]) == ("True", "RunnerServiceAccountMissing")
    assert "ServiceAccount chronos-runner does not exist in namespace ns" in account["message"]
    both = blocked(status_mod.Blockers(never_fires=True, missing_account="chronos-runner"))
    assert (both["status"], both["reason"]) == ("True", "NeverFires")
    assert "0 0 30 2 * never fires" in both["message"]
    assert "chronos-runner" in both["message"]


def test_reconciled_status_keeps_ready_and_reports_blockers() -> None:
    patch = status_mod.reconciled(
        {},
        generation=1,
        schedule=resolve_schedule(spec(schedule={"cron": "0 0 30 2 *"}), "UTC"),
        cronjob="orders",
        enabled=True,
        now=NOW,
        namespace="ns",
        blockers=status_mod.Blockers(never_fires=True),
    )
    body = status_mod.status_body(patch)
    ready = status_mod.condition(body["conditions"], status_mod.READY)
    blocked = status_mod.condition(body["conditions"], status_mod.RUNS_BLOCKED)
    assert ready is not None
    assert ready["status"] == "True"
    assert blocked is not None
    assert (blocked["status"], blocked["reason"]) == ("True", "NeverFires")
    assert body["nextRunTimes"] == []


def test_a_status_patch_deletes_what_it_sets_to_none_and_sends_nothing_else() -> None:
    patch = ChronosJobStatus(next_run_times=["2026-11-27T08:30:00+01:00"])
    patch.slots_checked_until = None
    assert status_mod.status_body(patch) == {
        "nextRunTimes": ["2026-11-27T08:30:00+01:00"],
        "slotsCheckedUntil": None,
    }
    patch = ChronosJobStatus(slots_checked_until=status_mod.to_seconds(NOW))
    assert status_mod.status_body(patch) == {"slotsCheckedUntil": rfc3339(NOW)}


def test_a_stored_condition_the_models_refuse_is_replaced_not_fatal() -> None:
    """An object written under an older CRD version must not stop the operator."""
    stored: list[ConditionDict] = [
        {"type": "Old", "status": "Maybe", "reason": "x", "lastTransitionTime": "never"}
    ]
    patch = status_mod.rejected(
        {"conditions": stored}, generation=2, reason="InvalidSpec", message="m", now=NOW
    )
    assert [c.type for c in patch.conditions or []] == ["Stalled", "Ready"]


FAILED_CREATE = {
    "reason": "FailedCreate",
    "lastTimestamp": "2026-11-23T09:59:00Z",
    "message": 'Error creating: pods "orders-1-" is forbidden: error looking up service '
    'account ns/chronos-runner: serviceaccount "chronos-runner" not found',
}


def pending_job(created: datetime, **status: Any) -> dict[str, Any]:
    j = job("orders-1", ready=0, terminating=0, uncountedTerminatedPods={}, **status)
    j["metadata"]["creationTimestamp"] = created.isoformat()
    j["metadata"]["annotations"] = {c.SCHEDULED_TIMESTAMP_ANNOTATION: "2026-11-23T09:58:00Z"}
    return j


def test_a_job_that_cannot_create_its_pod_becomes_a_failed_launch() -> None:
    grace = timedelta(seconds=90)
    overdue = pending_job(NOW - timedelta(minutes=2))
    assert runs.launch_overdue(overdue, now=NOW, grace=grace)
    record = runs.failed_launch(overdue, [FAILED_CREATE], now=NOW, grace=grace)
    assert record is not None
    assert (record.run_id, record.result, record.reason, record.reported_by) == (
        "orders-1",
        "failed",
        "FailedLaunch",
        "operator",
    )
    assert record.message is not None
    assert 'serviceaccount "chronos-runner" not found' in record.message
    assert record.scheduled_time == datetime(2026, 11, 23, 9, 58, tzinfo=UTC)
    # Not yet: within the grace period, with a pod, or without a FailedCreate Event.
    young = pending_job(NOW - timedelta(seconds=30))
    assert runs.failed_launch(young, [FAILED_CREATE], now=NOW, grace=grace) is None
    running = pending_job(NOW - timedelta(minutes=2), active=1)
    assert not runs.launch_overdue(running, now=NOW, grace=grace)
    assert runs.failed_launch(running, [FAILED_CREATE], now=NOW, grace=grace) is None
    assert runs.failed_launch(overdue, [], now=NOW, grace=grace) is None


def test_a_launch_failure_message_never_carries_url_credentials() -> None:
    leaky = {**FAILED_CREATE, "message": "denied: env COREHUB_URL=https://admin:s3cret@hub:1717/"}
    record = runs.failed_launch(
        pending_job(NOW - timedelta(minutes=5)), [leaky], now=NOW, grace=timedelta(0)
    )
    assert record is not None
    assert record.message is not None
    assert "s3cret" not in record.message
    assert "https://***@hub:1717/" in record.message


def test_a_job_ended_by_its_deadline_before_any_pod_is_a_failed_launch() -> None:
    ended = pending_job(
        NOW - timedelta(minutes=2),
        conditions=[{**failed("DeadlineExceeded"), "lastTransitionTime": "2026-11-23T10:00:05Z"}],
    )
    assert runs.failed_without_pods(ended)
    record = runs.unreported_run(ended, [], [], [FAILED_CREATE])
    assert record is not None
    assert (record.result, record.reason) == ("failed", "FailedLaunch")
    # Without the Event (or once a pod failed) the Job's own reason stands.
    plain = runs.unreported_run(ended, [], [])
    assert plain is not None
    assert plain.reason == "DeadlineExceeded"
    ran = {**ended, "status": {**ended["status"], "failed": 1}}
    assert not runs.failed_without_pods(ran)
    ran_record = runs.unreported_run(ran, [], [], [FAILED_CREATE])
    assert ran_record is not None
    assert ran_record.reason == "DeadlineExceeded"


def waiting_pod(reason: str, message: str) -> dict[str, Any]:
    state = {"waiting": {"reason": reason, "message": message}}
    return {"status": {"phase": "Pending", "containerStatuses": [{"state": state}]}}


def test_a_pod_waiting_for_an_image_it_cannot_get_is_a_failed_launch() -> None:
    grace = timedelta(seconds=90)
    stuck = pending_job(NOW - timedelta(minutes=2), active=1)
    assert runs.start_overdue(stuck, now=NOW, grace=grace)
    never = waiting_pod(
        "ErrImageNeverPull",
        'Container image "chronos-runner:nope" is not present with pull policy of Never',
    )
    record = runs.stuck_launch(stuck, [never], now=NOW)
    assert record is not None
    assert (record.run_id, record.result, record.reason, record.reported_by) == (
        "orders-1",
        "failed",
        "FailedLaunch",
        "operator",
    )
    assert record.message is not None
    assert "ErrImageNeverPull" in record.message
    assert "chronos-runner:nope" in record.message
    # A pod still being created (or pulling) is not a failure; nor is a young Job or one
    # whose pod became ready.
    creating = waiting_pod("ContainerCreating", "")
    assert runs.stuck_launch(stuck, [creating], now=NOW) is None
    assert not runs.start_overdue(
        pending_job(NOW - timedelta(seconds=10), active=1), now=NOW, grace=grace
    )
    ready = pending_job(NOW - timedelta(minutes=2), active=1)
    ready["status"]["ready"] = 1
    assert not runs.start_overdue(ready, now=NOW, grace=grace)
    # Image references with URL credentials are redacted.
    leaky = waiting_pod("ErrImagePull", "pull https://bob:s3cret@registry/x failed")
    leaked = runs.stuck_launch(stuck, [leaky], now=NOW)
    assert leaked is not None
    assert leaked.message is not None
    assert "s3cret" not in leaked.message
    # Finished with such a pod (the deadline came first): still a failed launch.
    ended = pending_job(
        NOW - timedelta(minutes=2),
        active=0,
        conditions=[{**failed("DeadlineExceeded"), "lastTransitionTime": "2026-11-23T10:00:05Z"}],
    )
    ended_record = runs.unreported_run(ended, [never], [])
    assert ended_record is not None
    assert ended_record.reason == "FailedLaunch"


def test_a_runner_killed_for_its_memory_limit_is_recorded_as_oomkilled() -> None:
    j = job("orders-1", failed=1, conditions=[failed("BackoffLimitExceeded")])
    pod = {
        "status": {
            "containerStatuses": [
                {"state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
            ]
        }
    }
    record = runs.unreported_run(j, [pod], [])
    assert record is not None
    assert (record.result, record.reason) == ("failed", "OOMKilled")
    assert record.message is not None
    assert "memory limit" in record.message
    # Without the OOM kill the Job's own reason stands.
    plain = runs.unreported_run(j, [{"status": {}}], [])
    assert plain is not None
    assert plain.reason == "BackoffLimitExceeded"


def test_a_rejected_spec_is_stalled_for_kstatus_until_it_is_reconciled() -> None:
    """kstatus (and so Flux) reads Ready=False alone as in progress; Stalled=True says
    the operator cannot act on the spec, and goes once it can."""
    rejected = status_mod.rejected(
        {}, generation=2, reason="InvalidTimeZone", message="spec.timeZone: x", now=NOW
    )
    body = status_mod.status_body(rejected)
    by_type = {cond["type"]: cond for cond in body["conditions"]}
    assert set(by_type) == {"Ready", "Stalled"}
    assert by_type["Stalled"]["status"] == "True"
    assert by_type["Stalled"]["reason"] == by_type["Ready"]["reason"] == "InvalidTimeZone"
    assert by_type["Stalled"]["observedGeneration"] == 2
    # Rejected again later: nothing to write (the transition time is kept).
    again = status_mod.rejected(
        cast(Any, body), generation=2, reason="InvalidTimeZone", message="spec.timeZone: x",
        now=NOW + timedelta(minutes=5),
    )  # fmt: skip
    assert status_mod.changes(cast(Any, body), again) is None
    fixed = status_mod.reconciled(
        cast(Any, body),
        generation=3,
        schedule=resolve_schedule(spec(), "UTC"),
        cronjob="orders",
        enabled=True,
        now=NOW,
    )
    types = [cond.type for cond in fixed.conditions or []]
    assert "Stalled" not in types
    assert "Ready" in types
    # A CronJob that could not be written is retried: not stalled.
    retried = status_mod.unapplied(
        cast(Any, body), generation=2, cronjob="orders", missing=True, error="500", now=NOW
    )
    assert "Stalled" not in [cond.type for cond in retried.conditions or []]
