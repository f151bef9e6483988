"""Chains and fan-in (issue 20): a job that runs after other jobs' runs end.

``spec.after`` lists the upstream ChronosJobs (same namespace) and on which result of
theirs this job runs; ``spec.afterAll`` makes it a fan-in (one run once every upstream
succeeded since this job's last run, within ``spec.afterWithinSeconds`` of each other).
A chain run records the upstream run that caused it (``RunRecord.cause``). The operator's
planner is ``chronos.operator.chains``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from chronos.models.base import DNS_SUBDOMAIN, MAX_ID_LENGTH, Lax, _Model, _pattern, _pattern_check
from chronos.models.rules import Rule

if TYPE_CHECKING:
    from chronos.models.chronosjob import ChronosJobSpec

#: At most this many upstream jobs (``spec.after``): keeps the CEL rules' cost bounded.
MAX_UPSTREAMS = 10
#: The longest fan-in window: a week.
MAX_WITHIN_SECONDS = 7 * 24 * 3600


class ChainOn(StrEnum):
    """Which end of an upstream run starts this job's run."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    #: Any end: succeeded, failed (or aborted); never a missed or skipped slot.
    COMPLETED = "Completed"


JobName = Annotated[
    str,
    Field(min_length=1, max_length=253),
    _pattern(DNS_SUBDOMAIN),
    _pattern_check(
        DNS_SUBDOMAIN, "must be a ChronosJob name: lowercase letters, digits, '-' and '.'"
    ),
]


class Upstream(_Model):
    """A job this one runs after."""

    job: JobName = Field(description="Name of the upstream ChronosJob, in this job's namespace.")
    when: Annotated[ChainOn, Lax] = Field(
        default=ChainOn.SUCCEEDED,
        description=(
            "Which end of an upstream run starts a run of this job: Succeeded (the "
            "default), Failed, or Completed (either). Ignored under afterAll, which "
            "waits for successes."
        ),
    )


class RunCause(_Model):
    """The upstream run that started a chain run."""

    job: str = Field(max_length=253, description="The upstream ChronosJob.")
    run_id: str = Field(max_length=MAX_ID_LENGTH, description="The upstream run's id.")
    result: str = Field(max_length=64, description="How the upstream run ended.")


def _unique_jobs(after: list[Upstream] | None) -> bool:
    jobs = [u.job for u in after or []]
    return len(jobs) == len(set(jobs))


def chain_only(spec: ChronosJobSpec) -> bool:
    """A job without a schedule, started only by its upstream jobs' runs."""
    return spec.schedule is None and spec.schedules is None and bool(spec.after)


#: Rules on ChronosJobSpec about chains (added to SPEC_RULES). The schedule rule itself
#: (one of schedule and schedules, or none for a chain-only job) is SCHEDULE_FORM_RULE.
CHAIN_RULES: tuple[Rule[Any], ...] = (
    Rule(
        cel=("!has(self.after) || self.after.all(u, self.after.exists_one(o, o.job == u.job))"),
        message="each upstream job in after must be listed once",
        field_path=".after",
        check=lambda s: _unique_jobs(s.after),
    ),
    Rule(
        cel="!has(self.afterAll) || !self.afterAll || has(self.after)",
        message="afterAll needs after (the upstream jobs to wait for)",
        field_path=".afterAll",
        check=lambda s: not s.after_all or bool(s.after),
    ),
    Rule(
        cel="!has(self.afterWithinSeconds) || (has(self.afterAll) && self.afterAll)",
        message="afterWithinSeconds needs afterAll: true (it is the fan-in's window)",
        field_path=".afterWithinSeconds",
        check=lambda s: s.after_within_seconds is None or bool(s.after_all),
    ),
)

#: A job has exactly one of schedule and schedules, or neither when it has upstream
#: jobs (chain-only).
SCHEDULE_FORM_RULE: Rule[Any] = Rule(
    cel=(
        "has(self.schedule) != has(self.schedules) || "
        "(!has(self.schedule) && !has(self.schedules) && has(self.after))"
    ),
    message=(
        "set exactly one of schedule (one schedule) and schedules (a list), or neither "
        "for a chain-only job with after"
    ),
    field_path=".schedules",
    check=lambda s: (s.schedule is None) != (s.schedules is None) or chain_only(s),
)
