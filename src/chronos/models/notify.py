"""Notifications on the ChronosJob (issue 21): which channel hears of which events, and
the event a channel is sent.

``spec.notify`` names ChronosChannels (``chronos.models.channels``, same namespace) and
the events each wants; ``spec.alerting`` holds the thresholds the events are judged by.
The operator plans the events from the job's status and schedule
(``chronos.operator.notices``, pure) and delivers them (``chronos.operator.notifier``);
``status.notifications`` is the ledger that makes a delivery happen once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from chronos.models.base import (
    DNS_SUBDOMAIN,
    MAX_TEXT,
    Lax,
    Time,
    UniqueList,
    _Model,
    _pattern,
    _pattern_check,
)

#: At most this many notify rules on a job (keeps CEL cost and fan-out bounded).
MAX_RULES = 8
#: At most this many delivered event ids kept in status (newest first).
LEDGER_SIZE = 200
#: At most this many given-up deliveries kept in status (newest first).
UNDELIVERED_SIZE = 20


class NotifyOn(StrEnum):
    """What a channel may be told about a job."""

    #: A run ended failed (after ``alerting.failureStreak`` consecutive failures).
    FAILED = "failed"
    #: A slot passed without a run (a missed record).
    MISSED = "missed"
    #: A run's pod ended without the runner reporting (recorded by the operator).
    UNREPORTED = "unreported"
    SUCCEEDED = "succeeded"
    #: A run started (an active run appeared).
    STARTED = "started"
    #: The first success after one or more failures.
    RECOVERED = "recovered"
    #: Dead-man: no success by the expected slot plus ``alerting.absentGraceSeconds``,
    #: or suspended longer than ``alerting.suspendedForSeconds``.
    ABSENT = "absent"
    #: A run went on longer than ``alerting.expectedDurationSeconds``.
    SLOW = "slow"


ChannelName = Annotated[
    str,
    Field(min_length=1, max_length=253),
    _pattern(DNS_SUBDOMAIN),
    _pattern_check(
        DNS_SUBDOMAIN, "must be a ChronosChannel name: lowercase letters, digits, '-' and '.'"
    ),
]


class NotifyRule(_Model):
    """One channel and the events it hears of."""

    channel: ChannelName = Field(description="Name of a ChronosChannel in this job's namespace.")
    events: Annotated[list[Annotated[NotifyOn, Lax]], UniqueList] = Field(
        min_length=1,
        max_length=len(NotifyOn),
        description="Events: failed, missed, unreported, succeeded, started, recovered, "
        "absent, slow.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class Alerting(_Model):
    """Thresholds the notification events are judged by."""

    failure_streak: int = Field(
        default=1,
        ge=1,
        le=100,
        description="failed fires from this many consecutive failed runs on (1: every failure).",
    )
    expected_duration_seconds: int | None = Field(
        default=None, ge=1, le=7 * 86400, description="slow fires for a run longer than this."
    )
    absent_grace_seconds: int = Field(
        default=3600,
        ge=60,
        le=7 * 86400,
        description="absent fires when no run succeeded by a slot plus this long.",
    )
    suspended_for_seconds: int | None = Field(
        default=None,
        ge=60,
        le=365 * 86400,
        description="absent also fires for a job suspended longer than this.",
    )


class Notification(_Model):
    """One event about one job, as every channel type renders it (the payloads)."""

    id: str = Field(
        max_length=MAX_TEXT,
        description="Stable id: '<job uid>.<run id>.<event>'; the idempotency key on the wire.",
    )
    event: Annotated[NotifyOn, Lax]
    namespace: str
    job: str = Field(description="The ChronosJob's name.")
    job_uid: str
    run_id: str | None = None
    trigger: str | None = None
    result: str | None = None
    reason: str | None = None
    message: str | None = Field(default=None, max_length=MAX_TEXT)
    scheduled_time: Time | None = None
    start_time: Time | None = None
    end_time: Time | None = None
    duration_seconds: float | None = None
    consecutive_failures: int | None = None
    occurred_at: datetime = Field(description="When the event happened (its record's end, …).")


class Undelivered(_Model):
    """A delivery given up after its retry budget (status.notifications.undelivered)."""

    id: str = Field(max_length=MAX_TEXT, description="The event's id.")
    channel: ChannelName = Field(description="The channel it was not delivered to.")
    reason: str = Field(max_length=1024, description="CamelCase: Timeout, HTTP503, Refused, …")
    message: str = Field(default="", max_length=1024, description="Why, for people.")
    at: Time = Field(description="When it was given up.")


class NotificationsStatus(_Model):
    """The delivery ledger: what was delivered to which channel, so a restarted or
    failed-over operator resends only what was not."""

    since: Time | None = Field(
        default=None,
        description="Events that happened before this (notify first configured) are not sent.",
    )
    delivered: list[str] | None = Field(
        default=None,
        max_length=LEDGER_SIZE,
        description="'<event id>/<channel>' delivered, newest first (bounded).",
    )
    undelivered: list[Undelivered] | None = Field(
        default=None, max_length=UNDELIVERED_SIZE, description="Given up, newest first."
    )


def ledger_key(event_id: str, channel: str) -> str:
    """The ledger's entry for one event sent to one channel."""
    return f"{event_id}/{channel}"
