"""The desired CronJob for a ChronosJob: a pure function of the spec and the settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chronos import contract as c
from chronos.models.chains import RunCause
from chronos.models.chronosjob import (
    GROUP,
    KIND,
    VERSION,
    ChronosJobSpec,
    ConcurrencyPolicy,
    CoreHub,
    RunTrigger,
    redirects,
)
from chronos.models.params import RunParameters, dumps
from chronos.models.queue import enqueues
from chronos.models.resolve import ResolvedSchedule
from chronos.operator.container import pod_spec as container_pod_spec
from chronos.operator.naming import cronjob_name as default_cronjob_name
from chronos.operator.naming import label_value, run_now_job_name
from chronos.operator.settings import OperatorSettings, host_allowed, url_host
from chronos.times import rfc3339

RUNNER_UID = 65532
SUCCESSFUL_JOBS_KEPT = 3
FAILED_JOBS_KEPT = 5
#: Finished Jobs stay at least this long so the operator can account for every slot.
JOB_TTL_SECONDS = 24 * 3600
RUNNER_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}


class ConfigError(ValueError):
    """The spec is valid but cannot be run with this operator's configuration."""

    def __init__(self, field: str, message: str, reason: str = "ConfigurationError") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = reason


def labels(chronosjob: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "chronos",
        "app.kubernetes.io/instance": label_value(chronosjob),
        "app.kubernetes.io/component": "runner",
        "app.kubernetes.io/managed-by": "chronos-operator",
        c.JOB_LABEL: label_value(chronosjob),
    }


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _default_credentials_refusal(
    hub: CoreHub | None, url: str, settings: OperatorSettings
) -> str | None:
    """Why the job may not run with the operator's default credentials, if so: they go
    only to the operator's own CoreHub URL, verified as it is configured (issue 17, F2).

    Unnamed, the models refuse it too (COREHUB_RULES), checked again here whatever a
    stored object holds. Named explicitly, the default Secret is held to the same: the
    admission policy <fullname>-operator-writes, which cannot see the ChronosJob, refuses
    it with another URL or TLS either way.
    """
    if hub is None:
        return None
    creds = hub.credentials_secret_ref
    if creds is None:
        if redirects(hub):
            return (
                "the operator's default credentials are only sent to its own CoreHub URL, "
                "verified as configured; name a Secret here to set url or tls"
            )
        return None
    default = settings.corehub_credentials_secret
    tls = hub.tls
    own_tls = tls is not None and (tls.ca_secret_ref is not None or tls.insecure_skip_verify)
    if default and creds.name == default and (url != settings.corehub_url or own_tls):
        return (
            f"Secret {default!r} holds the operator's default credentials, which are only "
            "sent to its own CoreHub URL, verified as configured; name another Secret"
        )
    return None


def _runner_env(
    name: str,
    spec: ChronosJobSpec,
    settings: OperatorSettings,
    schedule: ResolvedSchedule,
    schedule_name: str | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Environment, volumes and volume mounts of the runner container."""
    hub = spec.core_hub
    url = (hub.url if hub else None) or settings.corehub_url
    if not url:
        raise ConfigError(
            "spec.coreHub.url", "no CoreHub URL: set it here or the operator's CHRONOS_COREHUB_URL"
        )
    if hub is not None and hub.url is not None:
        host = url_host(hub.url)
        if not host_allowed(host, settings.allowed_hosts):
            raise ConfigError(
                "spec.coreHub.url",
                f"host {host!r} is not among the CoreHub hosts this operator allows "
                f"(CHRONOS_COREHUB_ALLOWED_HOSTS: {settings.corehub_allowed_hosts})",
                reason="CoreHubHostNotAllowed",
            )
    creds = hub.credentials_secret_ref if hub else None
    secret = creds.name if creds else settings.corehub_credentials_secret
    if refusal := _default_credentials_refusal(hub, url, settings):
        raise ConfigError(
            "spec.coreHub.credentialsSecretRef", refusal, reason="DefaultCredentialsRefused"
        )
    if not secret:
        raise ConfigError(
            "spec.coreHub.credentialsSecretRef",
            "no CoreHub credentials: reference a Secret here or set the operator's "
            "CHRONOS_COREHUB_CREDENTIALS_SECRET",
        )
    user_key = creds.username_key if creds else "username"
    password_key = creds.password_key if creds else "password"
    env: list[dict[str, Any]] = [
        {"name": c.ENV_JOB_NAME, "value": name},
        _field_env(c.ENV_JOB_NAMESPACE, "metadata.namespace"),
        _field_env(c.ENV_RUN_ID, "metadata.labels['batch.kubernetes.io/job-name']"),
        _field_env(c.ENV_POD_NAME, "metadata.name"),
        _field_env(c.ENV_TRIGGER, f"metadata.annotations['{c.TRIGGER_ANNOTATION}']"),
        _field_env(c.ENV_CAUSE, f"metadata.annotations['{c.CAUSE_ANNOTATION}']"),
        {"name": c.ENV_TASK, "value": spec.task.model_dump_json(exclude_none=True)},
        {"name": c.ENV_HISTORY_LIMIT, "value": str(settings.history_limit_of(spec))},
        {"name": c.ENV_COREHUB_URL, "value": url},
        {
            "name": c.ENV_COREHUB_USERNAME,
            "valueFrom": {"secretKeyRef": {"name": secret, "key": user_key}},
        },
        {
            "name": c.ENV_COREHUB_PASSWORD,
            "valueFrom": {"secretKeyRef": {"name": secret, "key": password_key}},
        },
    ]
    if spec.timeout_seconds is not None:
        env.append({"name": c.ENV_TIMEOUT_SECONDS, "value": str(spec.timeout_seconds)})
    # The slot a run serves (chronos.runner.slot): which schedule, its zone (the wall time
    # in history), the slot itself when the pod carries it (the operator's own Jobs), and
    # the jitter to wait before acting.
    if schedule_name is not None:
        env.append({"name": c.ENV_SCHEDULE, "value": schedule_name})
    env.append(
        _field_env(
            c.ENV_SCHEDULED_TIME, f"metadata.annotations['{c.SCHEDULED_TIMESTAMP_ANNOTATION}']"
        )
    )
    env.append({"name": c.ENV_TIME_ZONE, "value": schedule.time_zone})
    if spec.jitter_seconds:
        env.append({"name": c.ENV_JITTER_SECONDS, "value": str(spec.jitter_seconds)})
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    tls = hub.tls if hub else None
    if tls and tls.insecure_skip_verify:
        env.append({"name": c.ENV_COREHUB_INSECURE_SKIP_VERIFY, "value": "true"})
    if tls and tls.ca_secret_ref:
        ref = tls.ca_secret_ref
        volumes.append(
            {
                "name": "corehub-ca",
                "secret": {"secretName": ref.name, "items": [{"key": ref.key, "path": "ca.crt"}]},
            }
        )
        mounts.append({"name": "corehub-ca", "mountPath": c.COREHUB_CA_MOUNT, "readOnly": True})
        env.append({"name": c.ENV_COREHUB_CA_FILE, "value": f"{c.COREHUB_CA_MOUNT}/ca.crt"})
    return env, volumes, mounts


def _runner_pod_spec(
    name: str,
    spec: ChronosJobSpec,
    settings: OperatorSettings,
    schedule: ResolvedSchedule,
    schedule_name: str | None,
) -> dict[str, Any]:
    """The runner pod of a CoreHub task."""
    env, volumes, mounts = _runner_env(name, spec, settings, schedule, schedule_name)
    return {
        "restartPolicy": "Never",
        # No {SERVICE}_PORT variables: in a namespace with Services named
        # chronos-* they read as unknown CHRONOS_* settings and stop the runner.
        "enableServiceLinks": False,
        "serviceAccountName": settings.runner_service_account,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNNER_UID,
            "runAsGroup": RUNNER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "runner",
                "image": settings.runner_image,
                "imagePullPolicy": settings.runner_image_pull_policy,
                "command": ["python", "-m", "chronos.runner"],
                "env": env,
                "resources": RUNNER_RESOURCES,
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                **({"volumeMounts": mounts} if mounts else {}),
            }
        ],
        **({"volumes": volumes} if volumes else {}),
    }


def build_cronjob(
    *,
    name: str,
    namespace: str,
    uid: str,
    spec: ChronosJobSpec,
    schedule: ResolvedSchedule,
    settings: OperatorSettings,
    cronjob_name: str | None = None,
    schedule_name: str | None = None,
    suspend: bool | None = None,
) -> dict[str, Any]:
    """The complete CronJob manifest, for server-side apply (every field we own, no more).

    One per schedule (``cronjob_name``, ``schedule_name``; default: the job's own CronJob
    name, the first schedule's name); ``suspend`` defaults to ``not spec.enabled``.
    """
    if schedule_name is None:
        listed = spec.all_schedules()
        schedule_name = listed[0].name if listed else None
    job_labels = labels(name)
    owner = {c.CHRONOSJOB_ANNOTATION: name}
    marks = {**owner, **({c.SCHEDULE_ANNOTATION: schedule_name} if schedule_name else {})}
    # A container task's pod is its declared container alone (chronos.operator.container);
    # every other task's is the runner's.
    task = spec.task.container
    pod_spec = (
        container_pod_spec(task, pull_policy=settings.runner_image_pull_policy)
        if task is not None
        else _runner_pod_spec(name, spec, settings, schedule, schedule_name)
    )
    job_spec: dict[str, Any] = {
        "backoffLimit": spec.retries,
        "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
        "template": {"metadata": {"labels": job_labels, "annotations": marks}, "spec": pod_spec},
    }
    if spec.timeout_seconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.timeout_seconds
    pod = job_spec["template"]["spec"]
    overrides = dict(settings.runner_pod_overrides)
    if "resources" in overrides:
        resources = overrides.pop("resources")
        if task is None:  # a container task's resources are its own
            pod["containers"][0]["resources"] = resources
    pod.update(overrides)
    cron_spec: dict[str, Any] = {
        "schedule": schedule.cron,
        "timeZone": schedule.time_zone,
        "suspend": (not spec.enabled) if suspend is None else suspend,
        # Enqueue is the operator's (its CronJobs stay suspended, operator mode): the
        # CronJob API knows only the other three; Forbid is the closest.
        "concurrencyPolicy": (
            ConcurrencyPolicy.FORBID if enqueues(spec) else spec.concurrency_policy
        ).value,
        "successfulJobsHistoryLimit": SUCCESSFUL_JOBS_KEPT,
        "failedJobsHistoryLimit": FAILED_JOBS_KEPT,
        "jobTemplate": {
            "metadata": {"labels": job_labels, "annotations": marks},
            "spec": job_spec,
        },
    }
    if spec.starting_deadline_seconds is not None:
        cron_spec["startingDeadlineSeconds"] = spec.starting_deadline_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": cronjob_name or default_cronjob_name(name),
            "namespace": namespace,
            "labels": job_labels,
            "annotations": owner,
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": KIND,
                    "name": name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": cron_spec,
    }


def _job_from_template(
    cronjob: dict[str, Any], *, name: str, marks: dict[str, str], job_only: dict[str, str]
) -> dict[str, Any]:
    """A Job from the CronJob's template, owned by the CronJob (as the controller and
    ``kubectl create job --from=cronjob/...`` make them): ``marks`` annotate the Job and
    its pod (the runner reads them through the downward API), ``job_only`` the Job."""
    template = cronjob["spec"]["jobTemplate"]
    meta = template.get("metadata") or {}
    spec = dict(template["spec"])
    pod_template = dict(spec["template"])
    pod_meta = dict(pod_template.get("metadata") or {})
    pod_meta["annotations"] = {**(pod_meta.get("annotations") or {}), **marks}
    pod_template["metadata"] = pod_meta
    spec["template"] = pod_template
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": cronjob["metadata"]["namespace"],
            "labels": dict(meta.get("labels") or {}),
            "annotations": {**(meta.get("annotations") or {}), **marks, **job_only},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": cronjob["metadata"]["name"],
                    "uid": cronjob["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def run_now_job(
    cronjob: dict[str, Any], *, chronosjob: str, token: str, requested_at: str
) -> dict[str, Any]:
    """A Job from the CronJob's template, as ``kubectl create job --from=cronjob/...`` makes.

    Its name is derived from the request (token and time accepted), so serving one
    request twice cannot create two Jobs: the second create is a conflict.
    """
    return _job_from_template(
        cronjob,
        name=run_now_job_name(chronosjob, token, requested_at),
        marks={c.TRIGGER_ANNOTATION: "run-now", c.RUN_NOW_TOKEN_ANNOTATION: token},
        job_only={"cronjob.kubernetes.io/instantiate": "manual"},
    )


def with_parameters(manifest: dict[str, Any], params: RunParameters | None) -> dict[str, Any]:
    """The run-now Job ``manifest`` with ``params`` for its runner (env
    CHRONOS_PARAMETERS); unchanged without parameters."""
    if params is None:
        return manifest
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    env = [e for e in container.get("env") or [] if e.get("name") != c.ENV_PARAMETERS]
    container["env"] = [*env, {"name": c.ENV_PARAMETERS, "value": dumps(params)}]
    return manifest


def slot_job(cronjob: dict[str, Any], *, name: str, slot: datetime, trigger: str) -> dict[str, Any]:
    """The Job of one slot that the operator starts itself (operator mode, catch-up,
    backfill): named by the caller (``firing.slot_job_name`` /
    ``naming.backfill_job_name``), carrying the slot as the CronJob controller marks its
    own Jobs (``batch.kubernetes.io/cronjob-scheduled-timestamp``), on the pod too, so
    the runner knows the slot it runs for."""
    return _job_from_template(
        cronjob,
        name=name,
        marks={c.TRIGGER_ANNOTATION: trigger, c.SCHEDULED_TIMESTAMP_ANNOTATION: rfc3339(slot)},
        job_only={},
    )


def chain_job(cronjob: dict[str, Any], *, name: str, cause: RunCause) -> dict[str, Any]:
    """The Job of a chain run (spec.after): named by ``naming.chain_job_name`` from the
    upstream run(s), so a second create is a conflict; the cause on the Job and its pod
    (the runner records it with the run, ``ENV_CAUSE``)."""
    return _job_from_template(
        cronjob,
        name=name,
        marks={
            c.TRIGGER_ANNOTATION: RunTrigger.CHAIN.value,
            c.CAUSE_ANNOTATION: cause.model_dump_json(),
        },
        job_only={},
    )
