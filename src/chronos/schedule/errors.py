"""The single error type raised by the schedule engine."""

from __future__ import annotations

__all__ = ["ScheduleError", "ScheduleTooFrequentError"]


class ScheduleError(ValueError):
    """A schedule, cron expression or time zone is invalid.

    ``field`` names the offending input (for example ``"schedule.cron"``,
    ``"schedule.hour"`` or ``"timeZone"``) and ``reason`` says what is wrong with it.
    ``str(error)`` is ``"<field>: <reason>"``.
    """

    field: str
    reason: str

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def __reduce__(self) -> tuple[type[ScheduleError], tuple[str, str]]:
        return (type(self), (self.field, self.reason))

    def __repr__(self) -> str:
        return f"ScheduleError(field={self.field!r}, reason={self.reason!r})"


class ScheduleTooFrequentError(ScheduleError):
    """A valid schedule whose runs come closer together than the configured minimum."""
