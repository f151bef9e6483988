"""The slot a run serves and its jitter: pure functions.

A scheduled run knows its slot from the ``batch.kubernetes.io/cronjob-scheduled-timestamp``
annotation when its pod carries it (the operator's own Jobs put it on the pod template,
read through the downward API as ``CHRONOS_SCHEDULED_TIME``), else from its run id: the
CronJob controller names each Job ``<cronjob>-<minutes since 1970 of the slot>``.

``spec.jitterSeconds`` spreads the runs of many jobs due at the same slot: each run waits
a delay derived from its job and slot, the same on every retry of that pod, different
from job to job (``jitter_delay``), so CoreHub sees the logins spread over the window
instead of all at once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from chronos.models.chronosjob import RunTrigger

#: The CronJob controller's Job name suffix: the slot in minutes since 1970.
_MINUTE_SUFFIX = re.compile(r"-(\d{7,10})$")
#: Triggers that serve a slot (run-now serves none: it has no slot and no jitter).
SLOT_TRIGGERS = frozenset({"schedule", "catchup", "backfill"})
#: The jitter never takes more than this share of the run's timeout, so a large
#: jitterSeconds cannot turn every run into a timeout.
MAX_TIMEOUT_SHARE = 0.5


def slot_of(scheduled: datetime | None, run_id: str, trigger: RunTrigger) -> datetime | None:
    """The instant of the slot this run serves, if it serves one."""
    if str(trigger.value) not in SLOT_TRIGGERS:
        return None
    if scheduled is not None:
        return scheduled.astimezone(UTC)
    match = _MINUTE_SUFFIX.search(run_id)
    if match is None:
        return None
    return datetime.fromtimestamp(int(match.group(1)) * 60, UTC)


def jitter_delay(namespace: str, name: str, slot: datetime, jitter_seconds: int) -> int:
    """Seconds to wait after ``slot``: ``sha256("<ns>/<name>/<slot unix seconds>") mod
    (jitterSeconds + 1)`` — the same for every pod of that run, spread across jobs."""
    if jitter_seconds <= 0:
        return 0
    seed = f"{namespace}/{name}/{int(slot.timestamp())}".encode()
    return int.from_bytes(hashlib.sha256(seed).digest(), "big") % (jitter_seconds + 1)


def wait_seconds(
    *, slot: datetime, delay: int, now: datetime, elapsed: float, timeout: float
) -> float:
    """How long the runner sleeps before acting: until ``slot + delay`` (a pod that
    started late waits less), but never past ``MAX_TIMEOUT_SHARE`` of the run's timeout
    counted from the runner's start (``elapsed`` seconds ago)."""
    until_due = (slot.timestamp() + delay) - now.timestamp()
    budget = timeout * MAX_TIMEOUT_SHARE - elapsed
    return max(0.0, min(until_due, budget))


@dataclass(frozen=True)
class SlotTime:
    """A slot as the history shows it: the instant, the wall time in the job's zone and
    that zone's offset then."""

    instant: datetime
    wall: str  # YYYY-MM-DDTHH:MM:SS
    offset: str  # +01:00


def slot_time(slot: datetime, zone: str | None) -> SlotTime:
    local = slot.astimezone(ZoneInfo(zone) if zone else UTC)
    raw = local.strftime("%z") or "+0000"
    return SlotTime(slot, local.strftime("%Y-%m-%dT%H:%M:%S"), f"{raw[:3]}:{raw[3:5]}")
