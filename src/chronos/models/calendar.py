"""The ChronosCalendar custom resource: days on which a job's slots do not run.

A ChronosJob names one by ``spec.calendarRef``; the schedule engine
(``chronos.schedule.calendar.Calendar``) decides from these fields whether a day is
excluded. ``chronos.models.crd`` generates ``deploy/crd/chronoscalendars.yaml`` from
these models; the descriptions are what ``kubectl explain chronoscalendar`` shows.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from datetime import date
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from chronos.models.base import (
    DNS_SUBDOMAIN,
    SECRET_DATA_KEY,
    TIME_ZONE_RULE,
    Lax,
    UniqueList,
    Weekday,
    _Model,
    _pattern,
    _pattern_check,
)
from chronos.models.chronosjob import GROUP, VERSION, Condition
from chronos.models.rules import Rule, cel_extension, enforce

KIND = "ChronosCalendar"
PLURAL = "chronoscalendars"
SINGULAR = "chronoscalendar"
SHORT_NAMES = ("chcal",)

MAX_DATES = 1000
MAX_RANGES = 200
MAX_YEARLY = 366
#: How many upcoming excluded days status.excludedDaysAhead lists.
DAYS_AHEAD = 10
#: A yearly date, MM-DD (02-29 allowed: it excludes 29 February in leap years).
MONTH_DAY = r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"

Day = Annotated[date, Lax]


def _real_month_day(value: str) -> bool:
    """MM-DD names a day that exists in some year (not 02-30 or 04-31)."""
    month, day = int(value[:2]), int(value[3:])
    return day <= _stdlib_calendar.monthrange(2000, month)[1]  # 2000: a leap year


MonthDay = Annotated[
    str,
    Field(min_length=5, max_length=5),
    _pattern(MONTH_DAY),
    _pattern_check(MONTH_DAY, "must be a month and day, MM-DD, such as 12-25"),
]


RANGE_RULES: tuple[Rule[DateRange], ...] = (
    Rule(
        cel="self.from <= self.to",  # YYYY-MM-DD strings order as the dates do
        message="from must not be after to",
        field_path=".to",
        check=lambda r: r.from_ <= r.to,
    ),
)


class DateRange(_Model):
    """Consecutive excluded days, both ends included."""

    model_config = ConfigDict(json_schema_extra=cel_extension(RANGE_RULES))

    from_: Day = Field(alias="from", description="First excluded day, YYYY-MM-DD.")
    to: Day = Field(description="Last excluded day, YYYY-MM-DD (inclusive).")

    @model_validator(mode="after")
    def _cross_field(self) -> DateRange:
        return enforce(self, RANGE_RULES)


class ConfigMapKeyRef(_Model):
    name: Annotated[
        str,
        Field(min_length=1, max_length=253),
        _pattern(DNS_SUBDOMAIN),
        _pattern_check(
            DNS_SUBDOMAIN, "must be a ConfigMap name: lowercase letters, digits, '-' and '.'"
        ),
    ] = Field(description="ConfigMap in the calendar's namespace.")
    key: Annotated[
        str,
        Field(min_length=1, max_length=253),
        _pattern(SECRET_DATA_KEY),
        _pattern_check(
            SECRET_DATA_KEY, "must be a ConfigMap key: letters, digits, '-', '_' and '.'"
        ),
    ] = Field(description="Key within the ConfigMap holding the iCalendar text.")


class Ics(_Model):
    """An iCalendar (.ics) file kept in a ConfigMap."""

    config_map_ref: ConfigMapKeyRef = Field(
        description=(
            "Where the .ics text is. Its all-day events, and its events repeating yearly "
            "(RRULE:FREQ=YEARLY), become excluded days. Needs the right to get that ConfigMap."
        )
    )


SPEC_RULES: tuple[Rule[ChronosCalendarSpec], ...] = (
    TIME_ZONE_RULE,
    Rule(
        cel=(
            "!has(self.yearlyDates) || self.yearlyDates.all(d, !(d in "
            "['02-30', '02-31', '04-31', '06-31', '09-31', '11-31']))"
        ),
        message="yearlyDates holds a day no year has (such as 02-30 or 04-31)",
        field_path=".yearlyDates",
        check=lambda s: all(_real_month_day(d) for d in s.yearly_dates or []),
    ),
)


class ChronosCalendarSpec(_Model):
    """Days excluded from the schedules of the jobs that reference this calendar."""

    model_config = ConfigDict(json_schema_extra=cel_extension(SPEC_RULES))

    time_zone: str | None = Field(
        default=None,
        max_length=128,
        description=(
            "IANA time zone the days are read in, e.g. Europe/Rome. When absent, each "
            "job's own time zone."
        ),
    )
    excluded_dates: Annotated[list[Day] | None, UniqueList] = Field(
        default=None,
        max_length=MAX_DATES,
        description="Single excluded days, YYYY-MM-DD.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    excluded_ranges: list[DateRange] | None = Field(
        default=None,
        max_length=MAX_RANGES,
        description="Excluded ranges of days, both ends included.",
    )
    yearly_dates: Annotated[list[MonthDay] | None, UniqueList] = Field(
        default=None,
        max_length=MAX_YEARLY,
        description="Days excluded every year, MM-DD, such as 12-25 or 01-01.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    excluded_weekdays: Annotated[list[Annotated[Weekday, Lax]] | None, UniqueList] = Field(
        default=None,
        max_length=7,
        description="Weekdays always excluded (monday to sunday), such as saturday and sunday.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    ics: Ics | None = Field(
        default=None, description="More excluded days from an iCalendar file in a ConfigMap."
    )

    @model_validator(mode="after")
    def _cross_field(self) -> ChronosCalendarSpec:
        return enforce(self, SPEC_RULES)


class CalendarCondition(Condition):
    type: str = Field(
        max_length=316,
        description="Ready: the calendar, with its .ics if any, could be read.",
    )


class ChronosCalendarStatus(_Model):
    """Observed state, written by the operator."""

    observed_generation: int | None = Field(
        default=None, description="The metadata.generation the operator last read."
    )
    conditions: list[CalendarCondition] | None = Field(
        default=None,
        description=(
            "Ready; False with reason IcsInvalid (the message names the line) or ConfigMapMissing."
        ),
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    excluded_days_ahead: list[str] | None = Field(
        default=None,
        max_length=DAYS_AHEAD,
        description=f"The next {DAYS_AHEAD} excluded days, YYYY-MM-DD.",
    )


class ChronosCalendar(_Model):
    """Days on which the slots of the ChronosJobs that reference it do not run."""

    api_version: str = Field(default=f"{GROUP}/{VERSION}")
    kind: str = Field(default=KIND)
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ChronosCalendarSpec
    status: ChronosCalendarStatus | None = None
