"""The ChronosJob custom resource: spec (desired state) and status (observed state).

These models are the single source of truth for the CRD: ``chronos.models.crd`` turns
them into ``deploy/crd/chronosjobs.yaml``. Field descriptions are what
``kubectl explain chronosjob.spec`` shows, so they are written for users.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from chronos.models.rules import COREHUB_ID, Rule, cel_extension, enforce

GROUP = "chronos.gluesync.io"
VERSION = "v1alpha1"
KIND = "ChronosJob"
PLURAL = "chronosjobs"
SINGULAR = "chronosjob"
SHORT_NAMES = ("chj",)
CATEGORIES = ("chronos",)

# Bounds that also keep the CRD's CEL rules within the API server's cost budget.
MAX_ID_LENGTH = 253
MAX_IDS = 500
MAX_TEXT = 4096
MAX_HISTORY = 100
#: Bytes (UTF-8) of the runner's own log kept with a run (RunRecord.logTail): enough
#: for a run's steps and its result line.
MAX_LOG_TAIL = 4096
#: Only the newest this many runs of status.history keep their logTail (older entries
#: lose it when a run is added): a job carries at most ~44 KiB of tails (these and
#: lastRun's) whatever its historyLimit, far under etcd's 1.5 MiB object limit, and
#: the watch caches that hold every ChronosJob stay small.
LOG_TAILS_KEPT = 10
#: How many past runs status.history keeps when neither the ChronosJob (spec.historyLimit)
#: nor the operator (CHRONOS_HISTORY_LIMIT) says otherwise. The one home of this number:
#: the settings default to it and tests/unit/models/test_model_truths.py checks that the
#: chart, the kustomize base and the docs agree.
DEFAULT_HISTORY = 20


class _Model(BaseModel):
    # strict: "8" is not an integer and "yes" not a boolean, as for the API server's
    # schema validation. Enums and datetimes opt out field by field (``_LAX``): they
    # arrive as JSON strings from the API server and the REST facade.
    # defer_build: each model's validator is built when first used, not at import, so a
    # process builds only the models it uses; the runner (one process per run) uses
    # Task and RunRecord, and building all of them cost about 20 ms of its start
    # (docs/performance.md, runner start).
    model_config = ConfigDict(
        defer_build=True,
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        serialize_by_alias=True,
        validate_default=True,
        strict=True,
    )


#: A string may still be converted to these types (enum values, RFC 3339 times).
Lax = Strict(False)
Time = Annotated[datetime, Lax]


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

    @property
    def scope(self) -> str:
        """``entity``, ``pipeline`` or ``group``."""
        return self.value.split("_", 1)[0]


class SnapshotWriteMethod(StrEnum):
    UPSERT = "UPSERT"
    INSERT = "INSERT"


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"


class ConcurrencyPolicy(StrEnum):
    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


#: No C0/C1 control characters (NUL, newline, escape …): such an id can never reach
#: CoreHub intact, so it is refused up front rather than failing every run.
NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f-\x9f]*$"
#: Free text may span lines and use tabs, but holds no other control characters.
NO_CONTROL_CHARS_BUT_LINES = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
#: Kubernetes object names (DNS subdomain) and Secret keys, as the API server checks them.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_DATA_KEY = r"^[-._a-zA-Z0-9]+$"  # noqa: S105 - a pattern, not a password


def _pattern_check(pattern: str, message: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if compiled.fullmatch(value) is None:
            raise PydanticCustomError("string_pattern_mismatch", message)
        return value

    return AfterValidator(check)


def _pattern(pattern: str) -> Any:
    # The CRD schema carries the pattern; the Python check words the message better than
    # pydantic's "should match pattern ...".
    return Field(json_schema_extra={"pattern": pattern})


_CONTROL_MESSAGE = "must not contain control characters (NUL, newline, tab, escape …)"
#: A CoreHub id: it becomes a CoreHub path segment or query value, so only the characters
#: of ``rules.COREHUB_ID`` (the CRD's pattern, the REST schema's and this check's).
Identifier = Annotated[
    str,
    Field(min_length=1, max_length=MAX_ID_LENGTH),
    _pattern(COREHUB_ID.regex),
    _pattern_check(COREHUB_ID.regex, COREHUB_ID.message),
]
SingleLine = Annotated[
    str,
    Field(max_length=MAX_TEXT),
    _pattern(NO_CONTROL_CHARS),
    _pattern_check(NO_CONTROL_CHARS, _CONTROL_MESSAGE),
]
MultiLine = Annotated[
    str,
    Field(max_length=MAX_TEXT),
    _pattern(NO_CONTROL_CHARS_BUT_LINES),
    _pattern_check(
        NO_CONTROL_CHARS_BUT_LINES, "must not contain control characters other than newline and tab"
    ),
]
SecretName = Annotated[
    str,
    Field(min_length=1, max_length=253),
    _pattern(DNS_SUBDOMAIN),
    _pattern_check(DNS_SUBDOMAIN, "must be a Secret name: lowercase letters, digits, '-' and '.'"),
]
SecretKey = Annotated[
    str,
    Field(min_length=1, max_length=253),
    _pattern(SECRET_DATA_KEY),
    _pattern_check(SECRET_DATA_KEY, "must be a Secret key: letters, digits, '-', '_' and '.'"),
]


def _unique(values: list[Any] | None) -> list[Any] | None:
    """Like the API server for ``x-kubernetes-list-type: set``: no value twice."""
    seen: set[Any] = set()
    for index, value in enumerate(values or []):
        if value in seen:
            raise PydanticCustomError(
                "duplicate_value",
                "duplicate value '{value}' at index {index}; list each once",
                {"value": str(value), "index": index},
            )
        seen.add(value)
    return values


UniqueList = AfterValidator(_unique)


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


TASK_RULES: tuple[Rule[Task], ...] = (
    _scope_rule("entity", "entity_ids"),
    _scope_rule("group", "group_ids"),
)


class Task(_Model):
    """The CoreHub operation a run performs."""

    model_config = ConfigDict(json_schema_extra=cel_extension(TASK_RULES))

    type: Annotated[TaskType, Lax] = Field(
        description=(
            "Operation to perform: entity_*, pipeline_* or group_* followed by "
            "start, stop, snapshot or redo."
        )
    )
    pipeline_id: Identifier = Field(description="CoreHub pipeline the task acts on.")
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

    @model_validator(mode="after")
    def _cross_field(self) -> Task:
        return enforce(self, TASK_RULES)


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
        cel="has(self.cron) != (has(self.daysOfWeek) || has(self.hour) || has(self.minute))",
        message=(
            "set exactly one schedule form: cron, or the friendly form (daysOfWeek, hour, minute)"
        ),
        field_path=".cron",
        check=lambda s: (s.cron is not None) != _has_friendly(s),
    ),
    Rule(
        cel="has(self.cron) || (has(self.hour) && has(self.minute))",
        message="the friendly schedule form needs both hour and minute",
        field_path=".hour",
        check=lambda s: s.cron is not None or (s.hour is not None and s.minute is not None),
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
    """When runs happen: either a cron expression or the friendly form."""

    model_config = ConfigDict(json_schema_extra=cel_extension(SCHEDULE_RULES))

    cron: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description=(
            "Standard five-field cron expression (minute hour day-of-month month day-of-week) "
            "or a descriptor such as @daily, exactly as a Kubernetes CronJob accepts it. "
            "Evaluated in spec.timeZone."
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


# Kubernetes' own time zone name check (pkg/apis/batch/validation), as one regex.
TIME_ZONE_PATTERN = r"^[A-Za-z._+0-9][A-Za-z._+0-9-]{0,13}(/[A-Za-z._+0-9][A-Za-z._+0-9-]{0,13})*$"

SPEC_RULES: tuple[Rule[ChronosJobSpec], ...] = (
    Rule(
        cel=(
            f"!has(self.timeZone) || (self.timeZone.matches('{TIME_ZONE_PATTERN}') "
            "&& self.timeZone.lowerAscii() != 'local' "
            "&& !self.timeZone.split('/').exists(p, p == '.' || p == '..'))"
        ),
        message="timeZone must be an IANA time zone name such as Europe/Rome or UTC",
        field_path=".timeZone",
        check=lambda s: s.time_zone is None or _plausible_zone(s.time_zone),
    ),
)


def _plausible_zone(name: str) -> bool:
    import re

    return (
        re.fullmatch(TIME_ZONE_PATTERN, name) is not None
        and name.lower() != "local"
        and not any(p in (".", "..") for p in name.split("/"))
    )


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
    schedule: Schedule
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
            "Forbid (skip the new run), Allow, or Replace."
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

    @model_validator(mode="after")
    def _cross_field(self) -> ChronosJobSpec:
        return enforce(self, SPEC_RULES)


# ---------------------------------------------------------------------------- status


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(_Model):
    """A Kubernetes-style condition (type, status, reason, message)."""

    type: str = Field(
        max_length=316,
        description="Ready (the CronJob matches the spec) or RunsBlocked (runs cannot start).",
    )
    status: Annotated[ConditionStatus, Lax] = Field(description="True, False or Unknown.")
    reason: str = Field(max_length=1024, description="Why, in one CamelCase word.")
    message: str = Field(default="", max_length=32768, description="Why, for people.")
    last_transition_time: Time = Field(description="When status last changed.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation this condition describes."
    )


class RunResult(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MISSED = "missed"


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    RUN_NOW = "run-now"


class EntityResult(_Model):
    id: str = Field(max_length=MAX_ID_LENGTH, description="Entity or group id.")
    result: Annotated[RunResult, Lax] = Field(
        description="running, succeeded, failed or missed, for this entity or group."
    )
    state: str | None = Field(default=None, description="Last state CoreHub reported.")
    message: str | None = Field(
        default=None, max_length=MAX_TEXT, description="What CoreHub said, or what went wrong."
    )


class RunRecord(_Model):
    """One run, as reported by the runner or, when the runner could not, by the operator."""

    run_id: str = Field(description="Name of the Kubernetes Job (or the missed slot's time).")
    trigger: Annotated[RunTrigger, Lax] = Field(
        description="What started the run: schedule or run-now."
    )
    result: Annotated[RunResult, Lax] = Field(
        description="running, succeeded, failed or missed (a slot that never ran)."
    )
    scheduled_time: Time | None = Field(
        default=None, description="The slot the run was due at (absent for run-now)."
    )
    start_time: Time | None = Field(default=None, description="When the runner started.")
    end_time: Time | None = Field(default=None, description="When the run ended.")
    duration_seconds: float | None = Field(
        default=None, description="From start to end, in seconds."
    )
    reason: str | None = Field(default=None, description="Machine-readable cause, CamelCase.")
    message: str | None = Field(default=None, max_length=MAX_TEXT, description="What happened.")
    entities: list[EntityResult] | None = Field(
        default=None, description="Outcome per entity or group, in the order they ran."
    )
    reported_by: str | None = Field(
        default=None, description="runner or operator: who recorded this run."
    )
    log_tail: str | None = Field(
        default=None,
        max_length=MAX_LOG_TAIL,
        description=(
            "The last lines of the runner's own log (at most 4 KiB), kept so the run's log "
            "outlives its pod (in the newest 10 runs of history only); credentials never "
            "appear in it."
        ),
    )


class ActiveRun(_Model):
    """One of activeRuns: what started it and when."""

    run_id: str = Field(description="The run's id: its Job's name.")
    trigger: Annotated[RunTrigger, Lax] = Field(description="What started the run.")
    start_time: Time = Field(description="The Job's startTime, else its creation time.")


class ChronosJobStatus(_Model):
    """Observed state. The operator owns every field but lastRun; the runner owns lastRun.

    ``history`` is shared: both writers update it read-modify-write, guarded by the
    resource version, so neither can drop the other's entries.
    """

    observed_generation: int | None = Field(
        default=None, description="The metadata.generation the operator last applied."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready and RunsBlocked, with the reason and message of each.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    cron: str | None = Field(default=None, description="Effective cron expression.")
    description: str | None = Field(default=None, description="The schedule in words.")
    time_zone: str | None = Field(default=None, description="Effective time zone.")
    cron_job_name: str | None = Field(default=None, description="Name of the owned CronJob.")
    next_run_times: list[str] | None = Field(
        default=None, description="Next few run times, RFC 3339 with the zone's offset."
    )
    last_schedule_time: Time | None = Field(
        default=None, description="When the CronJob last created a Job on schedule."
    )
    slots_checked_until: Time | None = Field(
        default=None,
        description="Scheduled slots up to this time have been checked for missed runs.",
    )
    active_runs: list[str] | None = Field(
        default=None,
        description=(
            "Jobs of this ChronosJob still running, as the operator last saw them; a "
            "run-now is refused while one runs under concurrencyPolicy Forbid."
        ),
    )
    active_run_starts: list[ActiveRun] | None = Field(
        default=None,
        description=(
            "What started each of activeRuns and when, in the same order: the dashboard"
            " shows how long each has been running."
        ),
    )
    last_run: RunRecord | None = Field(
        default=None, description="The most recent run, as the runner reported it."
    )
    history: list[RunRecord] | None = Field(
        default=None, max_length=MAX_HISTORY, description="Past runs, newest first."
    )


class ChronosJob(_Model):
    """A scheduled Gluesync CoreHub task."""

    api_version: str = Field(default=f"{GROUP}/{VERSION}")
    kind: str = Field(default=KIND)
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ChronosJobSpec
    status: ChronosJobStatus | None = None
