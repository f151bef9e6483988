"""The ChronosJob custom resource: spec (desired state) and status (observed state).

These models are the single source of truth for the CRD: ``chronos.models.crd`` turns
them into ``deploy/crd/chronosjobs.yaml``. Field descriptions are what
``kubectl explain chronosjob.spec`` shows, so they are written for users.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from chronos.models import queue as q
from chronos.models import timing as t

# Names other modules import from here, where they were first defined (explicit
# re-exports for mypy's strict no_implicit_reexport).
from chronos.models.base import DNS_SUBDOMAIN as DNS_SUBDOMAIN
from chronos.models.base import MAX_ID_LENGTH as MAX_ID_LENGTH
from chronos.models.base import MAX_TEXT as MAX_TEXT
from chronos.models.base import NO_CONTROL_CHARS as NO_CONTROL_CHARS
from chronos.models.base import NO_CONTROL_CHARS_BUT_LINES as NO_CONTROL_CHARS_BUT_LINES
from chronos.models.base import TIME_ZONE_PATTERN as TIME_ZONE_PATTERN
from chronos.models.base import TIME_ZONE_RULE, AwareTime, _pattern, _pattern_check
from chronos.models.base import Identifier as Identifier
from chronos.models.base import Lax as Lax
from chronos.models.base import MultiLine as MultiLine
from chronos.models.base import SecretKey as SecretKey
from chronos.models.base import SecretName as SecretName
from chronos.models.base import SingleLine as SingleLine
from chronos.models.base import SnapshotWriteMethod as SnapshotWriteMethod
from chronos.models.base import Time as Time
from chronos.models.base import UniqueList as UniqueList
from chronos.models.base import Weekday as Weekday
from chronos.models.base import _Model as _Model
from chronos.models.chains import (
    CHAIN_RULES,
    MAX_UPSTREAMS,
    MAX_WITHIN_SECONDS,
    SCHEDULE_FORM_RULE,
    Upstream,
)
from chronos.models.container import CONTAINER_TASK_RULES, ContainerTask
from chronos.models.jobstatus import LOG_TAILS_KEPT as LOG_TAILS_KEPT
from chronos.models.jobstatus import MAX_HISTORY as MAX_HISTORY
from chronos.models.jobstatus import MAX_LOG_TAIL as MAX_LOG_TAIL
from chronos.models.jobstatus import SLOT_OFFSET as SLOT_OFFSET
from chronos.models.jobstatus import SLOT_WALL_TIME as SLOT_WALL_TIME
from chronos.models.jobstatus import ActiveRun as ActiveRun
from chronos.models.jobstatus import ChronosJobStatus as ChronosJobStatus
from chronos.models.jobstatus import Condition as Condition
from chronos.models.jobstatus import ConditionStatus as ConditionStatus
from chronos.models.jobstatus import EntityResult as EntityResult
from chronos.models.jobstatus import RunRecord as RunRecord
from chronos.models.jobstatus import RunResult as RunResult
from chronos.models.jobstatus import RunTrigger as RunTrigger
from chronos.models.notify import MAX_RULES, Alerting, NotifyRule
from chronos.models.rules import Rule, cel_extension, enforce, present_only_for
from chronos.models.tasks import WaitFor

GROUP = "chronos.gluesync.io"
VERSION = "v1alpha1"
KIND = "ChronosJob"
PLURAL = "chronosjobs"
SINGULAR = "chronosjob"
SHORT_NAMES = ("chj",)
CATEGORIES = ("chronos",)

# Bounds that also keep the CRD's CEL rules within the API server's cost budget.
MAX_IDS = 500
#: How many past runs status.history keeps when neither the ChronosJob (spec.historyLimit)
#: nor the operator (CHRONOS_HISTORY_LIMIT) says otherwise. The one home of this number:
#: the settings default to it and tests/unit/models/test_model_truths.py checks that the
#: chart, the kustomize base and the docs agree.
DEFAULT_HISTORY = 20


class TaskType(StrEnum):
    """What Chronos asks CoreHub to do (names as in the original Chronos)."""

    ENTITY_START = "entity_start"
    ENTITY_STOP = "entity_stop"
    ENTITY_SNAPSHOT = "entity_snapshot"
    ENTITY_REDO = "entity_redo"
    PIPELINE_START = "pipeline_start"
    PIPELINE_STOP = "pipeline_stop"
    PIPELINE_SNAPSHOT = "pipeline_snapshot"
    PIPELINE_REDO = "pipeline_redo"
    GROUP_START = "group_start"
    GROUP_STOP = "group_stop"
    GROUP_SNAPSHOT = "group_snapshot"
    GROUP_REDO = "group_redo"
    CONTAINER = "container"
    PIPELINE_MAINTENANCE_ENTER = "pipeline_maintenance_enter"
    PIPELINE_MAINTENANCE_EXIT = "pipeline_maintenance_exit"
    ENTITY_WAIT = "entity_wait"
    GROUP_WAIT = "group_wait"

    @property
    def scope(self) -> str:
        """``entity``, ``pipeline`` or ``group``."""
        return self.value.split("_", 1)[0]

    @property
    def corehub(self) -> bool:
        """A CoreHub operation, run by the runner; not a container task's own pod."""
        return self is not TaskType.CONTAINER


class ConcurrencyPolicy(StrEnum):
    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"
    ENQUEUE = q.ENQUEUE


def _scope_rule(scope: str, field: str) -> Rule[Task]:
    camel = to_camel(field)
    return Rule(
        cel=(
            f"self.type.startsWith('{scope}_') "
            f"? (has(self.{camel}) && size(self.{camel}) > 0) : !has(self.{camel})"
        ),
        message=(
            f"{camel} must list at least one {scope} id for {scope}_* tasks "
            f"and must be absent for other task types"
        ),
        field_path=f".{camel}",
        check=lambda t: (
            bool(getattr(t, field)) if t.type.startswith(f"{scope}_") else getattr(t, field) is None
        ),
    )


#: The task types that send no command and wait for a state (``Task.wait_for``).
WAIT_TYPES = (TaskType.ENTITY_WAIT, TaskType.GROUP_WAIT)

WAIT_FOR_RULE: Rule[Task] = present_only_for(
    "wait_for",
    [t.value for t in WAIT_TYPES],
    "waitFor is required for entity_wait and group_wait tasks and must be absent "
    "for other task types",
)

TASK_RULES: tuple[Rule[Task], ...] = (
    _scope_rule("entity", "entity_ids"),
    _scope_rule("group", "group_ids"),
    *CONTAINER_TASK_RULES,
    WAIT_FOR_RULE,
)


class Task(_Model):
    """The CoreHub operation a run performs."""

    model_config = ConfigDict(json_schema_extra=cel_extension(TASK_RULES))

    type: Annotated[TaskType, Lax] = Field(
        description=(
            "Operation to perform: entity_*, pipeline_* or group_* followed by "
            "start, stop, snapshot or redo; pipeline_maintenance_enter or "
            "pipeline_maintenance_exit; entity_wait or group_wait (wait until the "
            "entities reach waitFor.state, sending no command)."
        )
    )
    pipeline_id: Identifier | None = Field(
        default=None,
        description="CoreHub pipeline the task acts on. Required, except for container tasks.",
    )
    entity_ids: Annotated[list[Identifier] | None, UniqueList] = Field(
        default=None,
        max_length=MAX_IDS,
        description=(
            "Entities to act on, one CoreHub command each, in this order. "
            "Required (non-empty) for entity_* tasks, absent otherwise."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    group_ids: Annotated[list[Identifier] | None, UniqueList] = Field(
        default=None,
        max_length=MAX_IDS,
        description=(
            "Entity groups to act on, one CoreHub command each, in this order. "
            "Required (non-empty) for group_* tasks, absent otherwise."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    with_snapshot: bool = Field(
        default=False,
        description="For start tasks: take an initial snapshot before change data capture starts.",
    )
    snapshot_write_method: Annotated[SnapshotWriteMethod, Lax] = Field(
        default=SnapshotWriteMethod.UPSERT,
        description="How snapshot rows are written to the target: UPSERT or INSERT.",
    )
    container: ContainerTask | None = Field(
        default=None, description="The pod a container task runs; only for type container."
    )
    wait_for: WaitFor | None = Field(
        default=None,
        description="For entity_wait and group_wait tasks (required there, absent otherwise).",
    )

    @model_validator(mode="after")
    def _cross_field(self) -> Task:
        return enforce(self, TASK_RULES)

    @property
    def pipeline(self) -> str:
        """The CoreHub pipeline of a CoreHub task (TASK_RULES: set for every type but
        container, which never reaches CoreHub code)."""
        if self.pipeline_id is None:
            raise ValueError(f"a {self.type} task has no CoreHub pipeline")
        return self.pipeline_id


FRIENDLY_FIELDS = ("days_of_week", "hour", "minute")


#: The hard floor of an ``@every`` interval. Kubernetes accepts ``@every 0s`` (robfig
#: makes it one second), but the CronJob controller names Jobs by the minute, so runs
#: closer than a minute collide anyway. CHRONOS_MIN_INTERVAL_SECONDS may raise it.
MIN_EVERY_SECONDS = 60
#: ``@every`` and a Go duration (time.ParseDuration's grammar, without the bare "0"):
#: the CEL rule calls duration() only on what this matches, so it cannot fail at runtime
#: on malformed input.
EVERY_PATTERN = r"^@every [-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$"


def _cel_string(text: str) -> str:
    """``text`` for a single-quoted CEL string literal (backslashes escaped)."""
    return text.replace("\\", "\\\\")


def _every_at_least(cron: str, seconds: int) -> bool:
    """The Python twin of the CEL rule: not ``@every``, or at least ``seconds`` long."""
    if not cron.startswith("@every "):
        return True
    if re.fullmatch(EVERY_PATTERN, cron) is None:
        return False
    # Imported here: the runner imports these models for Task and RunRecord and never
    # validates a schedule; importing the cron engine cost about 10 ms of its start
    # (docs/performance.md, runner start).
    from chronos.schedule.cron import parse_go_duration

    try:
        return parse_go_duration(cron[len("@every ") :]) >= seconds * 1_000_000_000
    except ValueError:  # out of Go's range: CEL's duration() fails too
        return False


def _has_friendly(s: Schedule) -> bool:
    return any(getattr(s, f) is not None for f in FRIENDLY_FIELDS)


SCHEDULE_RULES: tuple[Rule[Schedule], ...] = (
    Rule(
        cel=(
            "(has(self.cron) ? 1 : 0) + (has(self.rrule) ? 1 : 0) + "
            "((has(self.daysOfWeek) || has(self.hour) || has(self.minute)) ? 1 : 0) == 1"
        ),
        message=(
            "set exactly one schedule form: cron, rrule, or the friendly form "
            "(daysOfWeek, hour, minute)"
        ),
        field_path=".cron",
        check=lambda s: (
            [s.cron is not None, s.rrule is not None, _has_friendly(s)].count(True) == 1
        ),
    ),
    Rule(
        cel="has(self.cron) || has(self.rrule) || (has(self.hour) && has(self.minute))",
        message="the friendly schedule form needs both hour and minute",
        field_path=".hour",
        check=lambda s: (
            s.cron is not None
            or s.rrule is not None
            or (s.hour is not None and s.minute is not None)
        ),
    ),
    Rule(
        cel=f"!has(self.name) || !self.name.matches('{t.DEFAULT_NAME_PATTERN}')",
        message=("names of the form s<number> are the names of unnamed schedules; choose another"),
        field_path=".name",
        check=lambda s: s.name is None or re.fullmatch(t.DEFAULT_NAME_PATTERN, s.name) is None,
    ),
    Rule(
        cel=(
            "!has(self.cron) || !self.cron.startsWith('@every ') "
            f"|| (self.cron.matches('{_cel_string(EVERY_PATTERN)}') "
            f"&& duration(self.cron.substring(7)) >= duration('{MIN_EVERY_SECONDS}s'))"
        ),
        message=(
            f"@every needs a positive duration of at least {MIN_EVERY_SECONDS // 60}m, "
            "such as @every 5m or @every 1h30m"
        ),
        field_path=".cron",
        check=lambda s: s.cron is None or _every_at_least(s.cron, MIN_EVERY_SECONDS),
    ),
    Rule(
        cel="!has(self.cron) || !self.cron.contains('TZ')",
        message="cannot use TZ or CRON_TZ in cron; set spec.timeZone instead",
        field_path=".cron",
        check=lambda s: s.cron is None or "TZ" not in s.cron,
    ),
)


class Schedule(_Model):
    """When runs happen: a cron expression, an RRULE, or the friendly form."""

    model_config = ConfigDict(json_schema_extra=cel_extension(SCHEDULE_RULES))

    name: (
        Annotated[
            str,
            Field(min_length=1, max_length=t.MAX_SCHEDULE_NAME),
            _pattern(t.SCHEDULE_NAME),
            _pattern_check(
                t.SCHEDULE_NAME,
                "must be a DNS label: lowercase letters, digits and '-', starting and "
                "ending with a letter or digit",
            ),
        ]
        | None
    ) = Field(
        default=None,
        description=(
            "Names the schedule in its CronJob's name and in the run history; unique in "
            "spec.schedules. Default: s<index> (s0 for spec.schedule)."
        ),
    )
    cron: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description=(
            "Standard five-field cron expression (minute hour day-of-month month day-of-week) "
            "or a descriptor such as @daily, exactly as a Kubernetes CronJob accepts it. "
            "A field may be H, H(a-b), H/n or H(a-b)/n (as in Jenkins): a value hashed "
            "from the job's namespace, name and schedule name, stable across edits; "
            "status.schedules shows the resolved expression. Evaluated in spec.timeZone."
        ),
    )
    rrule: (
        Annotated[
            str,
            Field(min_length=1, max_length=t.MAX_RRULE),
            _pattern(t.RRULE_PATTERN),
            _pattern_check(
                t.RRULE_PATTERN,
                "must be an RFC 5545 RRULE such as FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;"
                "BYMINUTE=0, optionally after a line DTSTART:YYYYMMDDTHHMMSS",
            ),
        ]
        | None
    ) = Field(
        default=None,
        description=(
            "RFC 5545 recurrence rule, e.g. FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;BYMINUTE=0 "
            "(the last Friday of each month at 09:00), for rules cron cannot express; "
            "optionally preceded by a line DTSTART:YYYYMMDDTHHMMSS (a wall time in "
            "spec.timeZone, the anchor of INTERVAL; default 2000-01-03T00:00:00). Seconds "
            "must be 0. The operator starts each occurrence's run itself."
        ),
    )
    days_of_week: Annotated[list[Annotated[Weekday, Lax]] | None, UniqueList] = Field(
        default=None,
        max_length=7,
        description="Friendly form: days to run on (monday to sunday); empty means every day.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    hour: int | None = Field(default=None, ge=0, le=23, description="Friendly form: hour, 0-23.")
    minute: int | None = Field(
        default=None, ge=0, le=59, description="Friendly form: minute, 0-59."
    )

    @model_validator(mode="after")
    def _cross_field(self) -> Schedule:
        return enforce(self, SCHEDULE_RULES)


class SecretKeyRef(_Model):
    name: SecretName = Field(description="Secret in the job's namespace.")
    key: SecretKey = Field(description="Key within the Secret.")


class CredentialsSecretRef(_Model):
    """A Secret holding the CoreHub username and password."""

    name: SecretName = Field(description="Secret in the job's namespace.")
    username_key: SecretKey = Field(default="username", description="Key of the user.")
    password_key: SecretKey = Field(default="password", description="Key of the password.")


class CoreHubTLS(_Model):
    ca_secret_ref: SecretKeyRef | None = Field(
        default=None, description="CA bundle (PEM) that signs CoreHub's certificate."
    )
    insecure_skip_verify: bool = Field(
        default=False,
        description="Do not verify CoreHub's certificate. For testing only; logged as a warning.",
    )


#: User info in a URL's authority (``https://user:pw@host``).
URL_USERINFO = r"^https?://[^/]*@"


def redirects(hub: CoreHub) -> bool:
    """Whether the job talks to CoreHub other than as the operator is configured to: its
    own URL, its own CA, or no verification at all."""
    tls = hub.tls
    return hub.url is not None or (
        tls is not None and (tls.ca_secret_ref is not None or tls.insecure_skip_verify)
    )


def _plain_url(url: str | None) -> bool:
    return url is None or not ("?" in url or "#" in url or re.match(URL_USERINFO, url))


COREHUB_RULES: tuple[Rule[CoreHub], ...] = (
    # The operator's default credentials go only to its default CoreHub, verified as it is
    # configured: otherwise a job written while no default was set would carry the
    # default, once an administrator sets one, to its author's server (issue 17, F2).
    Rule(
        cel=(
            "has(self.credentialsSecretRef) || !(has(self.url) || (has(self.tls) && "
            "(has(self.tls.caSecretRef) || "
            "(has(self.tls.insecureSkipVerify) && self.tls.insecureSkipVerify))))"
        ),
        message=(
            "credentialsSecretRef is required when url, tls.caSecretRef or "
            "tls.insecureSkipVerify is set: the operator's default credentials are only "
            "ever sent to its own CoreHub URL, verified as it is configured"
        ),
        field_path=".credentialsSecretRef",
        check=lambda h: h.credentials_secret_ref is not None or not redirects(h),
        reason="DefaultCredentialsRefused",
    ),
    # A query or fragment would swallow the API paths the runner appends; user info
    # would be a credential outside a Secret (issue 17, F10).
    Rule(
        cel=(
            "!has(self.url) || (!self.url.contains('?') && !self.url.contains('#') "
            f"&& !self.url.matches('{URL_USERINFO}'))"
        ),
        message=(
            "url must be CoreHub's base URL, without a query (?), a fragment (#) or user "
            "info (user@host); credentials go in credentialsSecretRef"
        ),
        field_path=".url",
        check=lambda h: _plain_url(h.url),
    ),
)


class CoreHub(_Model):
    """Overrides of the operator's default CoreHub connection for this job."""

    model_config = ConfigDict(json_schema_extra=cel_extension(COREHUB_RULES))

    url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://[^\s/]+(/\S*)?$",
        description=(
            "Base URL of CoreHub, e.g. https://corehub.example:1717 (no query, fragment or "
            "user info). Needs credentialsSecretRef. The operator's "
            "CHRONOS_COREHUB_ALLOWED_HOSTS may restrict the hosts."
        ),
    )
    credentials_secret_ref: CredentialsSecretRef | None = Field(
        default=None,
        description=(
            "Credentials, only ever by Secret reference. Required when url or tls is set: "
            "the operator's default credentials only go to its default CoreHub."
        ),
    )
    tls: CoreHubTLS | None = Field(
        default=None, description="How CoreHub's TLS certificate is verified."
    )

    @model_validator(mode="after")
    def _cross_field(self) -> CoreHub:
        return enforce(self, COREHUB_RULES)


SPEC_RULES: tuple[Rule[ChronosJobSpec], ...] = (
    TIME_ZONE_RULE,
    SCHEDULE_FORM_RULE,
    *CHAIN_RULES,
    # Unnamed schedules are s<index>, a name explicit names cannot take (SCHEDULE_RULES),
    # so the explicit names are all that can clash. 10 x 10 comparisons at most.
    Rule(
        cel=(
            "!has(self.schedules) || self.schedules.all(s, !has(s.name) || "
            "self.schedules.exists_one(o, has(o.name) && o.name == s.name))"
        ),
        message="each schedule in schedules needs a different name",
        field_path=".schedules",
        check=lambda s: _unique_names(s.schedules or []),
    ),
    Rule(
        cel=(
            "!has(self.activeFrom) || !has(self.activeUntil) || "
            "timestamp(self.activeFrom) < timestamp(self.activeUntil)"
        ),
        message="activeFrom must be before activeUntil",
        field_path=".activeUntil",
        check=lambda s: (
            s.active_from is None or s.active_until is None or s.active_from < s.active_until
        ),
    ),
    Rule(
        cel="!has(self.suspendReason) || has(self.suspendUntil)",
        message="suspendReason needs suspendUntil (the time the suspension ends)",
        field_path=".suspendReason",
        check=lambda s: s.suspend_reason is None or s.suspend_until is not None,
    ),
    Rule(
        cel="!has(self.onExcluded) || has(self.calendarRef)",
        message="onExcluded needs calendarRef (the calendar whose excluded days it is about)",
        field_path=".onExcluded",
        check=lambda s: s.on_excluded is None or s.calendar_ref is not None,
    ),
    q.MAX_QUEUED_RULE,
)


def _unique_names(schedules: list[Schedule]) -> bool:
    names = [s.name for s in schedules if s.name is not None]
    return len(names) == len(set(names))


class ChronosJobSpec(_Model):
    """Desired state of a ChronosJob: what to run against CoreHub, and when."""

    model_config = ConfigDict(json_schema_extra=cel_extension(SPEC_RULES))

    display_name: SingleLine | None = Field(
        default=None, description="Name shown to people (free text, one line)."
    )
    description: MultiLine | None = Field(
        default=None, description="Free text about the job for people; may span lines."
    )
    task: Task
    schedule: Schedule | None = Field(
        default=None, description="When runs happen. Exactly one of schedule and schedules."
    )
    schedules: list[Schedule] | None = Field(
        default=None,
        min_length=1,
        max_length=t.MAX_SCHEDULES,
        description=(
            "Several schedules (1 to 10), one CronJob each, one merged history and preview. "
            "Exactly one of schedule and schedules."
        ),
    )
    time_zone: str | None = Field(
        default=None,
        max_length=128,
        description=(
            "IANA time zone the schedule is evaluated in, e.g. Europe/Rome. "
            "When absent the operator's default applies (UTC unless configured)."
        ),
    )
    enabled: bool = Field(default=True, description="When false the CronJob is suspended.")
    concurrency_policy: Annotated[ConcurrencyPolicy, Lax] = Field(
        default=ConcurrencyPolicy.FORBID,
        description=(
            "What to do when a run is due while the previous one is still going: "
            "Forbid (skip the new run), Allow, Replace, or Enqueue (the new run waits "
            "and starts when the active one ends; see maxQueued)."
        ),
    )
    max_queued: int | None = Field(
        default=None,
        ge=1,
        le=q.MAX_QUEUED,
        description=(
            "Enqueue only: how many runs may wait (1 to 100; absent: 10). Beyond it the "
            "oldest waiting run is dropped and recorded as missed with reason QueueFull."
        ),
    )
    starting_deadline_seconds: int | None = Field(
        default=None,
        ge=0,
        description="A run that could not start within this many seconds of its time is missed.",
    )
    timeout_seconds: int | None = Field(
        default=None, ge=1, description="A run still going after this many seconds is failed."
    )
    retries: int = Field(
        default=0, ge=0, le=10, description="How many times a failed run is retried."
    )
    # No CRD default: an absent historyLimit means "the operator's CHRONOS_HISTORY_LIMIT",
    # so platform teams set it centrally and manifests stay small.
    history_limit: int | None = Field(
        default=None,
        ge=1,
        le=MAX_HISTORY,
        description=(
            "How many past runs status.history keeps. When absent the operator's setting "
            f"applies (CHRONOS_HISTORY_LIMIT, chart value operator.historyLimit, "
            f"{DEFAULT_HISTORY} unless configured)."
        ),
    )
    core_hub: CoreHub | None = Field(default=None, description="CoreHub connection overrides.")
    calendar_ref: t.CalendarRef | None = Field(
        default=None,
        description=(
            "A ChronosCalendar in the job's namespace: slots on its excluded days do not "
            "run (see onExcluded). Needs the right to get that calendar."
        ),
    )
    on_excluded: Annotated[t.OnExcluded, Lax] | None = Field(
        default=None,
        description=(
            "A slot on an excluded day: Skip (recorded in history as skipped; the default) "
            "or NextBusinessDay (runs at the same wall time on the next included day, at "
            "most 366 days ahead). Needs calendarRef."
        ),
    )
    dst_policy: t.DstPolicy | None = Field(
        default=None,
        description=(
            "What slots at daylight saving time changes do. Absent: Kubernetes' behaviour "
            "(springForward Skip, fallBack RunTwice)."
        ),
    )
    jitter_seconds: int | None = Field(
        default=None,
        ge=0,
        le=t.MAX_JITTER_SECONDS,
        description=(
            "The runner waits a delay of 0 to this many seconds, fixed per slot (hashed "
            "from the job and the slot), before it acts, to spread many jobs' load on "
            "CoreHub. Absent: 0."
        ),
    )
    active_from: AwareTime | None = Field(
        default=None,
        description="RFC 3339 time; no run before it (the CronJob stays suspended).",
    )
    active_until: AwareTime | None = Field(
        default=None,
        description="RFC 3339 time; no run after it. Must be after activeFrom.",
    )
    suspend_until: AwareTime | None = Field(
        default=None,
        description=(
            "RFC 3339 time; no run before it. The operator resumes the job then, posts an "
            "Event and records it in status.suspension."
        ),
    )
    suspend_reason: (
        Annotated[
            str,
            Field(max_length=t.MAX_SUSPEND_REASON),
            _pattern(NO_CONTROL_CHARS),
            _pattern_check(NO_CONTROL_CHARS, "must be one line without control characters"),
        ]
        | None
    ) = Field(default=None, description="Why the job is suspended (one line). Needs suspendUntil.")
    after: list[Upstream] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_UPSTREAMS,
        description=(
            "Upstream ChronosJobs (same namespace) whose runs' end starts a run of this "
            "job (trigger chain); with it, schedule and schedules may be left out (a "
            "chain-only job)."
        ),
    )
    # (None, not False: a job stored before chains carries no afterAll.)
    after_all: bool | None = Field(
        default=None,
        description=(
            "Fan-in: one run once every job in after has succeeded since this job's last run "
            "(absent: false)."
        ),
    )
    after_within_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_WITHIN_SECONDS,
        description=(
            "Fan-in window (needs afterAll): the upstream successes count together only "
            "when they ended within this many seconds of each other."
        ),
    )
    catch_up: t.CatchUp | None = Field(
        default=None,
        description=(
            "Which slots missed while the operator or the CronJob controller was down, or "
            "the job suspended, run late. Absent: none (Kubernetes' behaviour)."
        ),
    )
    notify: list[NotifyRule] | None = Field(
        default=None,
        max_length=MAX_RULES,
        description="ChronosChannels (same namespace) told of this job's events (issue 21).",
    )
    alerting: Alerting | None = Field(
        default=None, description="Thresholds of the failed, slow and absent events."
    )

    @model_validator(mode="after")
    def _cross_field(self) -> ChronosJobSpec:
        return enforce(self, SPEC_RULES)

    def all_schedules(self) -> list[Schedule]:
        """Every schedule of the job, each with its name (``s<index>`` when unnamed):
        ``[schedule]`` for a job with one, ``schedules`` otherwise. The one place that
        knows both shapes: read the schedules through it."""
        listed = [self.schedule] if self.schedule is not None else list(self.schedules or [])
        return [
            s if s.name is not None else s.model_copy(update={"name": t.default_schedule_name(i)})
            for i, s in enumerate(listed)
        ]

    def effective_on_excluded(self) -> t.OnExcluded:
        return self.on_excluded or t.DEFAULT_ON_EXCLUDED

    def effective_dst_policy(self) -> t.DstPolicy:
        return self.dst_policy or t.DEFAULT_DST_POLICY

    def effective_catch_up(self) -> t.CatchUp:
        return self.catch_up or t.DEFAULT_CATCH_UP


class ChronosJob(_Model):
    """A scheduled Gluesync CoreHub task."""

    api_version: str = Field(default=f"{GROUP}/{VERSION}")
    kind: str = Field(default=KIND)
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ChronosJobSpec
    status: ChronosJobStatus | None = None
