"""The contract between the operator's Job template, the runner and the REST facade.

Names that more than one component must agree on live here and nowhere else.
"""

from __future__ import annotations

from typing import Final

from chronos.models.chronosjob import GROUP

# ------------------------------------------------------------------ annotations, labels

#: On a ChronosJob: any new value asks for one immediate run (at most one per value).
RUN_NOW_ANNOTATION: Final = f"{GROUP}/run-now"
#: On a ChronosJob: run-now requests not served yet, ``{token: requestedAt}`` (JSON);
#: written by the REST facade, emptied by the operator (see ``chronos.runnow``).
RUN_NOW_PENDING_ANNOTATION: Final = f"{GROUP}/run-now-pending"
#: On a ChronosJob: the parameters of run-now requests, ``{token: {parameters}}`` while
#: pending and ``{token: "sha256:<digest>"}`` once served (JSON; ``chronos.runnow``).
RUN_NOW_PARAMETERS_ANNOTATION: Final = f"{GROUP}/run-now-parameters"
#: On the ChronosJob: the run-now tokens already served, ``{token: servedAt}`` (JSON).
RUN_NOW_DONE_ANNOTATION: Final = f"{GROUP}/run-now-done"
#: On a ChronosJob: backfill requests, a JSON list of ``chronos.models.timing.
#: BackfillRequest`` (``[{"id", "from", "to", "max"}]``); written by the REST facade
#: (POST /api/jobs/{id}/backfill) or by kubectl users, served by the operator (each id
#: once, see status.backfills).
BACKFILL_ANNOTATION: Final = f"{GROUP}/backfill"
#: On Jobs and their pod templates: the trigger, a ``RunTrigger`` value: "schedule",
#: "run-now", "catchup" or "backfill" (absent means "schedule").
TRIGGER_ANNOTATION: Final = f"{GROUP}/trigger"
#: On a CronJob's Jobs (its job template) and so on every Job the operator makes from
#: it: the name of the schedule the CronJob runs (one CronJob per schedule).
SCHEDULE_ANNOTATION: Final = f"{GROUP}/schedule"
#: On chain runs' Jobs and pods (spec.after): the upstream run that started the run,
#: JSON of ``chronos.models.chains.RunCause`` (``{"job", "runId", "result"}``).
CAUSE_ANNOTATION: Final = f"{GROUP}/cause"
#: On Jobs created by run-now: the token that asked for them.
RUN_NOW_TOKEN_ANNOTATION: Final = f"{GROUP}/run-now-token"
#: On a run's batch Job, set just before it is deleted to abort the run: JSON
#: ``{"by": <who asked>, "at": <RFC 3339>}`` (a name, never a token), so the operator
#: records the run ``aborted`` even when its pod never started (chronos.abort).
ABORT_ANNOTATION: Final = f"{GROUP}/abort"
#: On a ChronosJob (and on a run's batch Job with the abort note): the user who made this
#: write, for the activity ledger (issue 22). The admission policy
#: <fullname>-change-attribution refuses a write that sets or changes it, or that gives
#: CHANGED_AT_ANNOTATION a new value under it, unless it equals the writer's own user
#: name (request.userInfo.username). The REST facade stamps both with its caller's.
CHANGED_BY_ANNOTATION: Final = f"{GROUP}/changed-by"
#: With CHANGED_BY_ANNOTATION: when that write was made (RFC 3339, microseconds). A new
#: value marks a new attributed write; a change that leaves both as they were is not
#: attributed to anyone (chronos.models.activity.stamp).
CHANGED_AT_ANNOTATION: Final = f"{GROUP}/changed-at"
#: On CronJobs, Jobs and pods: the name of the ChronosJob they belong to.
JOB_LABEL: Final = f"{GROUP}/chronosjob"
#: On CronJobs, Jobs and pod templates: the full name of the ChronosJob (label values
#: are limited to 63 characters, names are not).
CHRONOSJOB_ANNOTATION: Final = f"{GROUP}/chronosjob"
#: On CronJobs: the lastScheduleTime the operator wrote to stop a schedule edit from
#: firing a run for a slot that passed before the edit (kubernetes/kubernetes#63371).
SCHEDULE_RESET_ANNOTATION: Final = f"{GROUP}/schedule-reset-at"
#: Set by the CronJob controller on each Job it creates (RFC 3339).
SCHEDULED_TIMESTAMP_ANNOTATION: Final = "batch.kubernetes.io/cronjob-scheduled-timestamp"

# ------------------------------------------------------- runner environment (set by the
# operator's Job template; the runner's settings read them with the CHRONOS_ prefix)

ENV_JOB_NAME: Final = "CHRONOS_JOB_NAME"  # the ChronosJob
ENV_JOB_NAMESPACE: Final = "CHRONOS_JOB_NAMESPACE"  # downward API: metadata.namespace
ENV_RUN_ID: Final = "CHRONOS_RUN_ID"  # downward API: the pod's job-name label
ENV_POD_NAME: Final = "CHRONOS_POD_NAME"  # downward API: metadata.name
ENV_TRIGGER: Final = "CHRONOS_TRIGGER"  # downward API: the trigger annotation
ENV_TASK: Final = "CHRONOS_TASK"  # JSON of spec.task (camelCase, as in the CR)
ENV_TIMEOUT_SECONDS: Final = "CHRONOS_TIMEOUT_SECONDS"
ENV_HISTORY_LIMIT: Final = "CHRONOS_HISTORY_LIMIT"
ENV_COREHUB_URL: Final = "CHRONOS_COREHUB_URL"
ENV_COREHUB_USERNAME: Final = "CHRONOS_COREHUB_USERNAME"  # secretKeyRef
ENV_COREHUB_PASSWORD: Final = "CHRONOS_COREHUB_PASSWORD"  # noqa: S105 (secretKeyRef)
ENV_COREHUB_CA_FILE: Final = "CHRONOS_COREHUB_CA_FILE"  # path of a mounted CA bundle
ENV_COREHUB_INSECURE_SKIP_VERIFY: Final = "CHRONOS_COREHUB_INSECURE_SKIP_VERIFY"
# Issue 19: the slot a run serves (chronos.runner.slot).
ENV_SCHEDULE: Final = "CHRONOS_SCHEDULE"  # the schedule's name (one CronJob per schedule)
#: downward API: the pod's SCHEDULED_TIMESTAMP_ANNOTATION (the operator's own Jobs set
#: it on the pod template; the CronJob controller's do not: their name holds the slot).
ENV_SCHEDULED_TIME: Final = "CHRONOS_SCHEDULED_TIME"
ENV_TIME_ZONE: Final = "CHRONOS_TIME_ZONE"  # the job's zone (the slot's wall time)
ENV_JITTER_SECONDS: Final = "CHRONOS_JITTER_SECONDS"  # spec.jitterSeconds, when set
#: A run-now's parameters (JSON of chronos.models.params.RunParameters, camelCase).
ENV_PARAMETERS: Final = "CHRONOS_PARAMETERS"
ENV_CAUSE: Final = "CHRONOS_CAUSE"  # downward API: CAUSE_ANNOTATION (chain runs)

#: Where the CA bundle Secret is mounted in runner pods.
COREHUB_CA_MOUNT: Final = "/var/run/chronos/corehub-ca"

#: The runner writes its RunRecord (JSON, camelCase, at most 4 KiB) here, so the
#: operator can record the run even when the runner could not write the status.
TERMINATION_MESSAGE_PATH: Final = "/dev/termination-log"
#: Overrides TERMINATION_MESSAGE_PATH (some tests run the runner as a local process).
ENV_TERMINATION_MESSAGE_PATH: Final = "CHRONOS_TERMINATION_MESSAGE_PATH"

#: The one container of a container task's pod (a runner pod's is ``runner``): how the
#: operator and the operator-writes admission policy tell the two kinds apart.
TASK_CONTAINER: Final = "task"
