"""A ChronosJob as it travels: plain JSON dicts, typed for mypy at no run-time cost.

The operator and the runner keep ChronosJobs as the dicts the API server sends
(memory: a parsed model costs tens of KiB per object, and the operator's cache holds
10,000 of them, docs/architecture.md); the models in ``chronos.models.chronosjob`` are
used only where a value is validated or written. These ``TypedDict``\\ s give those dicts
the models' shape, so ``mypy --strict`` checks every key and value read or built:

* keys are the models' aliases (camelCase, as on the wire) and nothing else;
  tests/unit/models/test_wire_shapes.py checks each TypedDict against its model, key by key and
  type by type, so the two cannot drift;
* values are the models' JSON form: times and enum values are strings, a model is its
  TypedDict, an optional field may be None (a dict built for a patch; a merge patch
  drops it);
* every key may be missing (``total=False``): an object stored by an older CRD version,
  or a field not written yet; readers use ``.get``.

The camelCase keys of the status are spelled here and nowhere else in production code
(tests/unit/models/test_wire_shapes.py greps for strays): other modules name them by the constants
below, which mypy resolves to the literal key and checks against the TypedDict like a
literal.
"""

from __future__ import annotations

from typing import Any, Final, TypedDict

# Class-based TypedDicts spell keys as identifiers: these are the wire's camelCase.

# ------------------------------------------------------------------------ metadata


class ObjectMetaDict(TypedDict, total=False):
    """``metadata`` (Kubernetes' ObjectMeta, as lightkube's model lists it)."""

    annotations: dict[str, str]
    creationTimestamp: str
    deletionGracePeriodSeconds: int
    deletionTimestamp: str
    finalizers: list[str]
    generateName: str
    generation: int
    labels: dict[str, str]
    managedFields: list[dict[str, Any]]
    name: str
    namespace: str
    ownerReferences: list[dict[str, Any]]
    resourceVersion: str
    selfLink: str
    uid: str


# ---------------------------------------------------------------------------- spec


class KeyRefDict(TypedDict, total=False):
    name: str
    key: str


class ContainerEnvDict(TypedDict, total=False):
    name: str
    value: str | None
    secretKeyRef: KeyRefDict | None
    configMapKeyRef: KeyRefDict | None


class ResourceAmountsDict(TypedDict, total=False):
    cpu: str | None
    memory: str | None


class ContainerResourcesDict(TypedDict, total=False):
    requests: ResourceAmountsDict | None
    limits: ResourceAmountsDict | None


class ContainerTaskDict(TypedDict, total=False):
    image: str
    command: list[str] | None
    args: list[str] | None
    env: list[ContainerEnvDict] | None
    resources: ContainerResourcesDict | None
    serviceAccountName: str | None
    runAsUser: int | None


class WaitForDict(TypedDict, total=False):
    state: str
    timeoutSeconds: int


class TaskDict(TypedDict, total=False):
    type: str
    pipelineId: str | None
    entityIds: list[str] | None
    groupIds: list[str] | None
    withSnapshot: bool
    snapshotWriteMethod: str
    container: ContainerTaskDict | None
    waitFor: WaitForDict | None


class ScheduleDict(TypedDict, total=False):
    name: str | None
    cron: str | None
    rrule: str | None
    daysOfWeek: list[str] | None
    hour: int | None
    minute: int | None


class SecretKeyRefDict(TypedDict, total=False):
    name: str
    key: str


class CredentialsSecretRefDict(TypedDict, total=False):
    name: str
    usernameKey: str
    passwordKey: str


class CoreHubTLSDict(TypedDict, total=False):
    caSecretRef: SecretKeyRefDict | None
    insecureSkipVerify: bool


class CoreHubDict(TypedDict, total=False):
    url: str | None
    credentialsSecretRef: CredentialsSecretRefDict | None
    tls: CoreHubTLSDict | None


class CalendarRefDict(TypedDict, total=False):
    name: str


class DstPolicyDict(TypedDict, total=False):
    springForward: str
    fallBack: str


class CatchUpDict(TypedDict, total=False):
    policy: str
    windowSeconds: int
    max: int


class SpecDict(TypedDict, total=False):
    displayName: str | None
    description: str | None
    task: TaskDict
    schedule: ScheduleDict | None
    schedules: list[ScheduleDict] | None
    timeZone: str | None
    enabled: bool
    concurrencyPolicy: str
    maxQueued: int | None
    startingDeadlineSeconds: int | None
    timeoutSeconds: int | None
    retries: int
    historyLimit: int | None
    coreHub: CoreHubDict | None
    calendarRef: CalendarRefDict | None
    onExcluded: str | None
    dstPolicy: DstPolicyDict | None
    jitterSeconds: int | None
    activeFrom: str | None
    activeUntil: str | None
    suspendUntil: str | None
    suspendReason: str | None
    catchUp: CatchUpDict | None
    after: list[UpstreamDict] | None
    afterAll: bool | None
    afterWithinSeconds: int | None
    notify: list[NotifyRuleDict] | None
    alerting: AlertingDict | None


class NotifyRuleDict(TypedDict, total=False):
    channel: str
    events: list[str]


class AlertingDict(TypedDict, total=False):
    failureStreak: int
    expectedDurationSeconds: int | None
    absentGraceSeconds: int
    suspendedForSeconds: int | None


class UpstreamDict(TypedDict, total=False):
    job: str
    when: str


class RunCauseDict(TypedDict, total=False):
    job: str
    runId: str
    result: str


# -------------------------------------------------------------------------- status


class ConditionDict(TypedDict, total=False):
    type: str
    status: str
    reason: str
    message: str
    lastTransitionTime: str
    observedGeneration: int | None


class EntityResultDict(TypedDict, total=False):
    id: str
    result: str
    state: str | None
    message: str | None


class RunParametersDict(TypedDict, total=False):
    entityIds: list[str] | None
    groupIds: list[str] | None
    withSnapshot: bool | None
    snapshotWriteMethod: str | None
    asOf: str | None


class RunRecordDict(TypedDict, total=False):
    """One run: ``status.lastRun`` and each entry of ``status.history``."""

    runId: str
    trigger: str
    result: str
    scheduledTime: str | None
    schedule: str | None
    calendar: str | None
    slotWallTime: str | None
    slotOffset: str | None
    startTime: str | None
    endTime: str | None
    durationSeconds: float | None
    reason: str | None
    message: str | None
    entities: list[EntityResultDict] | None
    reportedBy: str | None
    cause: RunCauseDict | None
    logTail: str | None
    parameters: RunParametersDict | None
    peakCpuMillicores: float | None
    peakMemoryBytes: int | None


class ActiveRunDict(TypedDict, total=False):
    runId: str
    trigger: str
    startTime: str


class ScheduleStatusDict(TypedDict, total=False):
    name: str
    cron: str | None
    rrule: str | None
    mode: str
    cronJobName: str | None


class SuspensionDict(TypedDict, total=False):
    until: str | None
    reason: str | None
    resumedAt: str | None


#: Functional form: ``from`` is a Python keyword.
BackfillStatusDict = TypedDict(
    "BackfillStatusDict",
    {
        "id": str,
        "from": str,
        "to": str,
        "slots": int,
        "created": int,
        "state": str,
        "message": str | None,
    },
    total=False,
)


class QueuedRunDict(TypedDict, total=False):
    runId: str
    trigger: str
    schedule: str | None
    scheduledTime: str | None
    queuedAt: str
    token: str | None
    parameters: RunParametersDict | None


class StatusDict(TypedDict, total=False):
    observedGeneration: int | None
    conditions: list[ConditionDict] | None
    cron: str | None
    description: str | None
    timeZone: str | None
    cronJobName: str | None
    nextRunTimes: list[str] | None
    lastScheduleTime: str | None
    slotsCheckedUntil: str | None
    activeRuns: list[str] | None
    activeRunStarts: list[ActiveRunDict] | None
    lastRun: RunRecordDict | None
    history: list[RunRecordDict] | None
    schedules: list[ScheduleStatusDict] | None
    suspension: SuspensionDict | None
    slotsFiredUntil: str | None
    backfills: list[BackfillStatusDict] | None
    queued: list[QueuedRunDict] | None
    queuedCount: int | None
    notifications: NotificationsStatusDict | None


class UndeliveredDict(TypedDict, total=False):
    id: str
    channel: str
    reason: str
    message: str
    at: str


class NotificationsStatusDict(TypedDict, total=False):
    since: str | None
    delivered: list[str] | None
    undelivered: list[UndeliveredDict] | None


class ChronosJobDict(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMetaDict
    spec: SpecDict
    status: StatusDict | None


# ---------------------------------------------------------------- ChronosCalendar

#: Functional form: ``from`` is a Python keyword.
DateRangeDict = TypedDict("DateRangeDict", {"from": str, "to": str}, total=False)


class ConfigMapKeyRefDict(TypedDict, total=False):
    name: str
    key: str


class IcsDict(TypedDict, total=False):
    configMapRef: ConfigMapKeyRefDict


class CalendarSpecDict(TypedDict, total=False):
    timeZone: str | None
    excludedDates: list[str] | None
    excludedRanges: list[DateRangeDict] | None
    yearlyDates: list[str] | None
    excludedWeekdays: list[str] | None
    ics: IcsDict | None


class CalendarStatusDict(TypedDict, total=False):
    observedGeneration: int | None
    conditions: list[ConditionDict] | None
    excludedDaysAhead: list[str] | None


class ChronosCalendarDict(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMetaDict
    spec: CalendarSpecDict
    status: CalendarStatusDict | None


# ---------------------------------------------------------------- ChronosChannel


class SecretRefDict(TypedDict, total=False):
    name: str


#: Functional form: ``from`` is a Python keyword.
EmailSettingsDict = TypedDict(
    "EmailSettingsDict",
    {"host": str, "port": int, "startTls": bool, "from": str, "to": list[str]},
    total=False,
)


class ChannelSpecDict(TypedDict, total=False):
    type: str
    secretRef: SecretRefDict | None
    email: EmailSettingsDict | None
    maxAttempts: int
    timeoutSeconds: int
    suspend: bool


class ChannelStatusDict(TypedDict, total=False):
    observedGeneration: int | None
    conditions: list[ConditionDict] | None


class ChronosChannelDict(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMetaDict
    spec: ChannelSpecDict
    status: ChannelStatusDict | None


# ---------------------------------------------------------- the status keys, once

OBSERVED_GENERATION: Final = "observedGeneration"
CONDITIONS: Final = "conditions"
CRON: Final = "cron"
DESCRIPTION: Final = "description"
TIME_ZONE: Final = "timeZone"
CRON_JOB_NAME: Final = "cronJobName"
NEXT_RUN_TIMES: Final = "nextRunTimes"
LAST_SCHEDULE_TIME: Final = "lastScheduleTime"
SLOTS_CHECKED_UNTIL: Final = "slotsCheckedUntil"
ACTIVE_RUNS: Final = "activeRuns"
ACTIVE_RUN_STARTS: Final = "activeRunStarts"
LAST_RUN: Final = "lastRun"
HISTORY: Final = "history"
SCHEDULES: Final = "schedules"
SUSPENSION: Final = "suspension"
SLOTS_FIRED_UNTIL: Final = "slotsFiredUntil"
BACKFILLS: Final = "backfills"
QUEUED: Final = "queued"
NOTIFICATIONS: Final = "notifications"
# In status.schedules.
MODE: Final = "mode"
# In status.suspension.
RESUMED_AT: Final = "resumedAt"
# In a ChronosCalendar's status.
EXCLUDED_DAYS_AHEAD: Final = "excludedDaysAhead"
# In a condition.
LAST_TRANSITION_TIME: Final = "lastTransitionTime"
# In a run record (lastRun, history, activeRunStarts).
RUN_ID: Final = "runId"
SCHEDULED_TIME: Final = "scheduledTime"
START_TIME: Final = "startTime"
END_TIME: Final = "endTime"
DURATION_SECONDS: Final = "durationSeconds"
LOG_TAIL: Final = "logTail"
PEAK_CPU_MILLICORES: Final = "peakCpuMillicores"
PEAK_MEMORY_BYTES: Final = "peakMemoryBytes"
REPORTED_BY: Final = "reportedBy"
SCHEDULE: Final = "schedule"
CALENDAR: Final = "calendar"
SLOT_WALL_TIME: Final = "slotWallTime"
SLOT_OFFSET: Final = "slotOffset"
