"""RFC 5545 recurrence rules (a subset) as wall times in the job's zone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from chronos.schedule.errors import ScheduleError

__all__ = ["RRULE_FIELD", "RRule", "parse_rrule"]

RRULE_FIELD = "schedule.rrule"


@dataclass(frozen=True)
class RRule:
    """A parsed rule (being written: see parse_rrule)."""

    text: str

    def walls_after(self, after: datetime, limit: int) -> Iterator[datetime]:
        """The rule's wall times strictly after ``after`` (naive), at most ``limit``."""
        return iter(())


def parse_rrule(text: str) -> RRule:
    """Parse an RRULE value (optionally after a ``DTSTART:`` line)."""
    raise ScheduleError(RRULE_FIELD, "RRULE schedules are not supported yet")
