"""What every Chronos model shares: the strict base model, and the string types and
patterns more than one resource uses (the ChronosJob, the ChronosCalendar).

Kept apart from ``chronos.models.chronosjob`` so the modules of the time rules and of
calendars can use them without an import cycle.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from chronos.models.rules import COREHUB_ID, Rule

MAX_ID_LENGTH = 253
MAX_TEXT = 4096


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


def integral(value: Any) -> Any:
    # JSON has one number type: 1.0 is the integer 1 to JSON Schema (and so to the REST
    # document, which embeds models), so it is one here too; 1.5 and "1" stay refused.
    return int(value) if isinstance(value, float) and value.is_integer() else value


#: An integer as JSON Schema has it (1 and 1.0 alike). With bounds, put them inside:
#: ``Annotated[Annotated[int, Field(ge=1)], BeforeValidator(integral)]`` (outside, the
#: schema gets them as unknown keywords ``ge``/``le``).
JsonInt = Annotated[int, BeforeValidator(integral)]
Time = Annotated[datetime, Lax]
#: A date-time that must carry its offset (RFC 3339): a window or a suspension is an
#: instant, never a wall time read in whatever zone the reader is in.
#: The schema's pattern keeps the API server as strict as the model: its ``date-time``
#: format alone also takes a time without an offset.
#: Years 1970-2999: far enough for any window, and no instant near datetime's ends,
#: where the schedule engine's arithmetic (a day on, a zone's offset) would overflow.
RFC3339 = (
    r"^(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_RFC3339 = re.compile(RFC3339)


def _rfc3339_text(value: Any) -> Any:
    if isinstance(value, str) and _RFC3339.fullmatch(value) is None:
        raise PydanticCustomError(
            "rfc3339",
            "must be an RFC 3339 time with its offset, in the years 1970-2999, "
            "such as 2026-03-01T09:00:00Z",
        )
    return value


AwareTime = Annotated[
    AwareDatetime,
    Lax,
    BeforeValidator(_rfc3339_text),
    Field(json_schema_extra={"pattern": RFC3339}),
]


class SnapshotWriteMethod(StrEnum):
    """How snapshot rows are written to the target (a task's setting, and a run-now
    parameter: kept here so ``chronos.models.params`` needs no import of the spec)."""

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

# Kubernetes' own time zone name check (pkg/apis/batch/validation), as one regex.
TIME_ZONE_PATTERN = r"^[A-Za-z._+0-9][A-Za-z._+0-9-]{0,13}(/[A-Za-z._+0-9][A-Za-z._+0-9-]{0,13})*$"


def _plausible_zone(name: str) -> bool:
    return (
        re.fullmatch(TIME_ZONE_PATTERN, name) is not None
        and name.lower() != "local"
        and not any(p in (".", "..") for p in name.split("/"))
    )


#: The shape of a ``timeZone`` field (a ChronosJob's, a ChronosCalendar's): whether the
#: zone exists is the schedule engine's to say (CEL has no tz database).
TIME_ZONE_RULE: Rule[Any] = Rule(
    cel=(
        f"!has(self.timeZone) || (self.timeZone.matches('{TIME_ZONE_PATTERN}') "
        "&& self.timeZone.lowerAscii() != 'local' "
        "&& !self.timeZone.split('/').exists(p, p == '.' || p == '..'))"
    ),
    message="timeZone must be an IANA time zone name such as Europe/Rome or UTC",
    field_path=".timeZone",
    check=lambda s: s.time_zone is None or _plausible_zone(s.time_zone),
)
