"""Timestamps as Kubernetes writes them (RFC 3339): one formatter and one parser for
every component, so a status time, an annotation and an API response agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

Precision = Literal["seconds", "milliseconds", "microseconds"]


def rfc3339(when: datetime, timespec: Precision = "seconds") -> str:
    """``when`` in RFC 3339, UTC written ``Z`` (as the API server writes it); a time in
    another zone keeps its offset (a schedule preview shows its zone's local times)."""
    return when.isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 / ISO 8601 time read from an object (a time without an offset is
    UTC); None for anything that is not one, so bad data never raises."""
    if not isinstance(value, str) or not value:
        return None
    try:
        # RFC 3339 allows a lower-case t and z (section 5.6); fromisoformat does not.
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
