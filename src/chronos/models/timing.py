"""The time rules of a ChronosJob beyond one schedule (issue 19): the sub-models of the
spec (calendar reference, DST policy, catch-up), of the status (one entry per schedule,
the suspension, the backfills) and the backfill request the REST facade writes into an
annotation for the operator.

Field descriptions are what ``kubectl explain`` shows. The defaults of absent fields
(``onExcluded`` Skip, no jitter, catch-up None, DST Skip/RunTwice) are the constants
below, read through the ``ChronosJobSpec`` helpers, so no caller spells them again.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from chronos.models.base import (
    DNS_SUBDOMAIN,
    AwareTime,
    Lax,
    Time,
    _Model,
    _pattern,
    _pattern_check,
)
from chronos.models.rules import Rule, enforce

#: How many schedules one job may have (spec.schedules).
MAX_SCHEDULES = 10
#: A schedule's name: a DNS label (it becomes part of a CronJob's name), short enough
#: that ``<job>-<name>`` still leaves the job's name most of the 52 characters.
SCHEDULE_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MAX_SCHEDULE_NAME = 20
#: Unnamed schedules are called ``s<index>``: an explicit name of that form could be
#: another schedule's default, so it is refused (``SCHEDULE_RULES``).
DEFAULT_NAME_PATTERN = r"^s[0-9]+$"


def default_schedule_name(index: int) -> str:
    """The name of the unnamed schedule at ``index`` (the single ``schedule`` is 0)."""
    return f"s{index}"


#: An RRULE as spec.schedules[].rrule holds it: an optional ``DTSTART:`` line (a wall
#: time in the job's zone, no ``Z``), an optional ``RRULE:`` prefix, then ``NAME=value``
#: parts. The characters only: ``chronos.schedule.rrule.parse_rrule`` checks the
#: meaning (the operator's Ready condition, the REST facade's 422).
RRULE_PATTERN = (
    r"^(DTSTART:[0-9]{8}T[0-9]{6}\r?\n)?(RRULE:)?"
    r"[A-Za-z]+=[-+A-Za-z0-9,]+(;[A-Za-z]+=[-+A-Za-z0-9,]+)*$"
)
MAX_RRULE = 1024
MAX_JITTER_SECONDS = 3600
MAX_SUSPEND_REASON = 256

# ------------------------------------------------------------------------------ spec


class CalendarRef(_Model):
    """A ChronosCalendar in the job's namespace."""

    name: Annotated[
        str,
        Field(min_length=1, max_length=253),
        _pattern(DNS_SUBDOMAIN),
        _pattern_check(
            DNS_SUBDOMAIN, "must be a ChronosCalendar name: lowercase letters, digits, '-' and '.'"
        ),
    ] = Field(description="Name of the ChronosCalendar (in the job's namespace).")


class OnExcluded(StrEnum):
    SKIP = "Skip"
    NEXT_BUSINESS_DAY = "NextBusinessDay"


DEFAULT_ON_EXCLUDED = OnExcluded.SKIP


class SpringForward(StrEnum):
    SKIP = "Skip"
    RUN_AT_NEXT_VALID_TIME = "RunAtNextValidTime"


class FallBack(StrEnum):
    RUN_TWICE = "RunTwice"
    RUN_ONCE = "RunOnce"


class DstPolicy(_Model):
    """What a slot at a clock change does. The defaults are Kubernetes' behaviour."""

    spring_forward: Annotated[SpringForward, Lax] = Field(
        default=SpringForward.SKIP,
        description=(
            "A wall time the clock skips (02:30 when 02:00 jumps to 03:00): Skip (no run, "
            "as Kubernetes does) or RunAtNextValidTime (runs at the first instant after "
            "the gap, 03:00)."
        ),
    )
    fall_back: Annotated[FallBack, Lax] = Field(
        default=FallBack.RUN_TWICE,
        description=(
            "A wall time the clock shows twice (01:30 when 02:00 goes back to 01:00): "
            "RunTwice (as Kubernetes does) or RunOnce (its first occurrence only)."
        ),
    )


#: The policy of a job without dstPolicy: Kubernetes' behaviour.
DEFAULT_DST_POLICY = DstPolicy.model_construct(
    spring_forward=SpringForward.SKIP, fall_back=FallBack.RUN_TWICE
)


class CatchUpPolicy(StrEnum):
    NONE = "None"
    LATEST = "Latest"
    ALL = "All"


MIN_CATCH_UP_WINDOW = 60
MAX_CATCH_UP_WINDOW = 604800  # a week
DEFAULT_CATCH_UP_WINDOW = 3600
MAX_CATCH_UP = 50
DEFAULT_CATCH_UP_MAX = 10


class CatchUp(_Model):
    """Which missed slots run late, after the operator or the controller was down or the
    job was suspended. Without it missed slots stay missed (Kubernetes' behaviour)."""

    policy: Annotated[CatchUpPolicy, Lax] = Field(
        default=CatchUpPolicy.NONE,
        description=(
            "None (missed slots are recorded as missed), Latest (the newest missed slot "
            "runs) or All (every missed slot runs, oldest first, up to max)."
        ),
    )
    window_seconds: int = Field(
        default=DEFAULT_CATCH_UP_WINDOW,
        ge=MIN_CATCH_UP_WINDOW,
        le=MAX_CATCH_UP_WINDOW,
        description="Only slots missed within this many seconds before now run late.",
    )
    max: int = Field(
        default=DEFAULT_CATCH_UP_MAX,
        ge=1,
        le=MAX_CATCH_UP,
        description="At most this many missed slots run late at once (policy All).",
    )


#: The catch-up of a job without catchUp: none (Kubernetes' behaviour).
DEFAULT_CATCH_UP = CatchUp.model_construct(
    policy=CatchUpPolicy.NONE, window_seconds=DEFAULT_CATCH_UP_WINDOW, max=DEFAULT_CATCH_UP_MAX
)

# ---------------------------------------------------------------------------- status


class ScheduleMode(StrEnum):
    #: The CronJob controller starts the runs.
    CRON_JOB = "CronJob"
    #: The CronJob is suspended; the operator starts each slot's Job itself.
    OPERATOR = "Operator"


class ScheduleStatus(_Model):
    """One schedule as it runs."""

    name: str = Field(max_length=MAX_SCHEDULE_NAME, description="The schedule's name.")
    cron: str | None = Field(
        default=None,
        description="The effective cron expression (H resolved); absent for an rrule.",
    )
    rrule: str | None = Field(default=None, description="The RRULE, for an rrule schedule.")
    mode: Annotated[ScheduleMode, Lax] = Field(
        description=(
            "CronJob (the CronJob controller starts the runs) or Operator (a rule cron "
            "cannot express: the operator starts each slot's Job)."
        )
    )
    cron_job_name: str | None = Field(default=None, description="The schedule's CronJob.")


class Suspension(_Model):
    """The current or last suspendUntil."""

    until: Time | None = Field(default=None, description="Suspended until this time.")
    reason: str | None = Field(
        default=None, max_length=MAX_SUSPEND_REASON, description="Why (spec.suspendReason)."
    )
    resumed_at: Time | None = Field(default=None, description="When the operator resumed the job.")


class BackfillState(StrEnum):
    #: Accepted; not every slot's Job is created yet.
    PENDING = "Pending"
    #: Every slot's Job is created.
    CREATED = "Created"
    #: Refused (the message says why); no Job was created.
    REJECTED = "Rejected"


#: How many backfill requests status.backfills keeps (newest first).
BACKFILLS_KEPT = 10


class BackfillStatus(_Model):
    """One backfill request and what became of it."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(max_length=64, description="The request's id.")
    from_: Time = Field(alias="from", description="Start of the range (inclusive).")
    to: Time = Field(description="End of the range (inclusive).")
    slots: int = Field(default=0, ge=0, description="How many slots the range holds.")
    created: int = Field(default=0, ge=0, description="How many of their Jobs exist.")
    state: Annotated[BackfillState, Lax] = Field(description="Pending, Created or Rejected.")
    message: str | None = Field(default=None, max_length=1024, description="Why, for people.")


# ------------------------------------------------------------- the backfill request

#: At most this many slots per backfill (its ``max``, and the slots of its range).
MAX_BACKFILL_SLOTS = 100
#: At most this many requests wait in the annotation: a further one is refused until
#: the operator has served some (it drops the entries it served).
MAX_BACKFILL_REQUESTS = 10
#: A backfill request's id (the REST facade makes it; kubectl users choose it).
BACKFILL_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"

#: How far back a backfill range may start (older slots are history, not a backfill).
MAX_BACKFILL_AGE_DAYS = 366

# The annotation as the admission policy bounds it (deploy/base/admission-jobs.yaml):
# a JSON list of at most MAX_BACKFILL_REQUESTS objects with the keys id, from, to and
# an optional max, in that order, on one line (spaces allowed where JSON allows them,
# as json.dumps writes them). ``[{]`` rather than ``\{``: fewer escapes to get wrong in
# the policy's CEL string.
_SP = " *"
_BACKFILL_TIME = (
    r'"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,9})?'
    r'([Zz]|[+-][0-9]{2}:[0-9]{2})"'
)
_BACKFILL_ENTRY = (
    f'[{{]{_SP}"id"{_SP}:{_SP}"{BACKFILL_ID[1:-1]}"{_SP},{_SP}'
    f'"from"{_SP}:{_SP}{_BACKFILL_TIME}{_SP},{_SP}"to"{_SP}:{_SP}{_BACKFILL_TIME}'
    f'({_SP},{_SP}"max"{_SP}:{_SP}(100|[1-9][0-9]?))?{_SP}[}}]'
)
_MORE = f"({_SP},{_SP}{_BACKFILL_ENTRY}){{0,{MAX_BACKFILL_REQUESTS - 1}}}"
BACKFILL_ANNOTATION_PATTERN = f"^{_SP}\\[{_SP}({_BACKFILL_ENTRY}{_MORE})?{_SP}\\]{_SP}$"
#: The longest annotation admission lets through (a cheap first check before the
#: pattern; MAX_BACKFILL_REQUESTS compact entries take about 1.8 KiB).
MAX_BACKFILL_ANNOTATION_BYTES = 4096

BACKFILL_RULES: tuple[Rule[BackfillRequest], ...] = (
    Rule(
        cel="timestamp(self.from) < timestamp(self.to)",
        message="from must be before to",
        field_path=".from",
        check=lambda r: r.from_ < r.to,
    ),
)


class BackfillRequest(_Model):
    """One entry of the annotation ``chronos.gluesync.io/backfill`` (a JSON list): run
    the job's slots in ``[from, to]``, at most ``max`` of them, each once, with trigger
    backfill."""

    model_config = ConfigDict(populate_by_name=True)

    id: Annotated[
        str,
        Field(min_length=1, max_length=63),
        _pattern_check(BACKFILL_ID, "must be lowercase letters, digits and '-' (≤ 63)"),
    ] = Field(description="Names the request; a request is served once.")
    from_: AwareTime = Field(alias="from", description="Start of the range (inclusive).")
    to: AwareTime = Field(description="End of the range (inclusive).")
    max: int = Field(
        default=MAX_BACKFILL_SLOTS,
        ge=1,
        le=MAX_BACKFILL_SLOTS,
        description="At most this many slots run (the oldest first).",
    )

    @model_validator(mode="after")
    def _cross_field(self) -> BackfillRequest:
        return enforce(self, BACKFILL_RULES)
