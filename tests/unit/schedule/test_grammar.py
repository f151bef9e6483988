"""The OpenAPI document's cron pattern against the engine it documents."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chronos.models.chronosjob import Schedule
from chronos.schedule import ScheduleError, parse_cron
from chronos.schedule.grammar import cron_pattern

PATTERN = re.compile(cron_pattern())


def _matches(expression: str) -> bool:
    # JSON Schema reads patterns as ECMA: `$` is the end of the string, not before a "\n".
    return PATTERN.fullmatch(expression) is not None


def _accepted(expression: str) -> bool:
    """The engine's verdict (the @every floor is the model's rule, so ask both)."""
    try:
        parse_cron(expression)
        Schedule(cron=expression)
    except (ScheduleError, ValidationError):
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(PATTERN, fullmatch=True))
def test_every_expression_the_pattern_matches_is_accepted(expression: str) -> None:
    parse_cron(expression)
    if len(expression) <= 256:  # the spec's maxLength, documented beside the pattern
        Schedule(cron=expression)


@pytest.mark.parametrize(
    "expression",
    [
        "30 8 * * 1-5",
        "0 0 * * *",
        "05 07 1,15 * *",
        "*/15 0-23/2 1-31/3 JAN-dec sun,Sat",
        "0 12 ? * mon-fri",
        "59 23 31 12 6",
        "0 0 31 2 *",  # never fires: a warning, not a refusal
        "@daily",
        "@annually",
        "@every 1m",
        "@every 2h30m",
    ],
)
def test_documented_forms_match(expression: str) -> None:
    parse_cron(expression)
    assert _matches(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "0",  # schemathesis' find: one field
        "0 0 * *",
        "0 0 * * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 7",
        "5-3 * * * *",  # a range's low end above its high end
        "* * * dec-jan *",
        "*/0 * * * *",
        "* * * * mon-sun",  # sun is 0
        "MON * * * *",  # names only in their own field
        "@every 30s",  # below the one-minute floor
        "@every 0m",
        "@reboot",
        "TZ=UTC 0 0 * * *",
    ],
)
def test_refused_forms_do_not_match(expression: str) -> None:
    assert not _accepted(expression)
    assert not _matches(expression)
