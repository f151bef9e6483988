"""The operator delivers notifications (issue 21): planned from each job's status, sent
with retries in background tasks, recorded in the job's delivery ledger.

After every sync of a ChronosJob with ``spec.notify``, :meth:`Notifier.sync` asks
``notices.plan`` (pure) which events the job's channels have not been told of yet, and
starts one background task per (event, channel) that is not already in flight. A task
reads the ChronosChannel and its Secret afresh for every attempt (so a rotated URL or
signing key is used without a restart), sends one attempt (``chronos.notify.send``),
and retries the retryable failures after ``chronos.notify.retry.next_delay`` until the
channel's ``maxAttempts``. Then, with a resourceVersion-guarded status write
(``kubeio.update_status``), it records the ledger key in ``status.notifications.
delivered`` — or, given up, an entry in ``status.notifications.undelivered``, the
condition ``NotificationsDelivered=False`` with the outcome's reason, a Warning Event
and the undelivered metric. A later delivery to every channel that had failed sets the
condition True again.

At-least-once, never twice once acknowledged: the ledger is written only after the
receiver acknowledged, so an operator killed between the two sends the event again
after its restart (the receiver deduplicates by the id on the wire); an event in the
ledger is never planned again. Within one process, an event in flight is not started
twice, and one this process recorded is not started again while the watch cache still
shows the status from before the write.

Bounds: ``CHRONOS_NOTIFY_CONCURRENCY`` attempts at once (a semaphore, released while a
task waits for its next attempt) and ``CHRONOS_NOTIFY_MAX_PENDING`` tasks in all (more
are planned again at a later sync). The work queue never waits for a receiver: the only
request a sync awaits here is the one-time ``since`` write.

The Notifier lives as long as the operator leads (``controller.run``): losing the lease
cancels every task, and the new leader plans again from the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient
from pydantic import ValidationError

from chronos.models import wire as w
from chronos.models.channels import ADDRESS_KEY, ChronosChannelSpec, channel_ready
from chronos.models.chronosjob import ChronosJobStatus
from chronos.models.notify import Notification, Undelivered, ledger_key
from chronos.models.wire import ChronosJobDict, StatusDict
from chronos.notify.retry import next_delay
from chronos.notify.send import Outcome, deliver, secret_mask
from chronos.operator import kubeio, notices
from chronos.operator import metrics as m
from chronos.operator.settings import OperatorSettings, host_allowed, url_host
from chronos.operator.status import condition, set_condition, typed_conditions
from chronos.times import parse_time

log = logging.getLogger(__name__)

#: The job's condition: every planned event reached its channels (False: one was given up).
DELIVERED = "NotificationsDelivered"
#: Its reason while nothing failed, or once every failed channel took a delivery again.
ALL_DELIVERED = "Delivered"
#: The Warning Event posted when a delivery is given up.
UNDELIVERED_EVENT = "NotificationUndelivered"
#: The ChronosChannel's condition (``channel_ready``).
CHANNEL_READY = "Ready"
#: A recorded key is trusted to this process's memory for this long at most, while the
#: watch cache catches up with the status write that recorded it.
REMEMBER_SECONDS = 600.0


@dataclass(frozen=True)
class _Task:
    """One event for one channel of one job."""

    namespace: str
    job: str
    channel: str
    notification: Notification

    @property
    def key(self) -> str:
        return f"{self.namespace}/{ledger_key(self.notification.id, self.channel)}"


def masked(text: str, secret: Mapping[str, bytes]) -> str:
    """``text`` without the Secret's values or the pieces of its address, bounded for a
    condition. The sender masks already (``send.secret_mask``, the same function); this
    is the last line before the status, an Event or the log."""
    values = {k: v.decode("utf-8", "replace") for k, v in secret.items()}
    return secret_mask(values)(text)[:1024]


class Notifier:
    """Deliveries of one leading operator (see the module's docstring)."""

    def __init__(
        self, client: AsyncClient, settings: OperatorSettings, *, rng: random.Random | None = None
    ) -> None:
        self._client = client
        self._settings = settings
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._slots = asyncio.Semaphore(settings.notify_concurrency)
        #: Key -> the task delivering it.
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: Key -> monotonic time this process recorded it (the cache may not show it yet).
        self._recorded: dict[str, float] = {}
        #: Key -> monotonic time before which it is not tried (its channel is suspended).
        self._parked: dict[str, float] = {}
        #: (namespace, job) -> channels delivered to since the job's condition went False.
        self._recovered: dict[tuple[str, str], set[str]] = {}

    # ------------------------------------------------------------------ planning

    async def sync(self, cr: ChronosJobDict, next_slot: notices.NextSlot | None) -> None:
        """Start the deliveries ``cr`` still owes (called after each sync of the job;
        ``next_slot``: its schedule, for the dead-man)."""
        meta = cr["metadata"]
        status = cr.get("status") or {}
        notes = status.get(w.NOTIFICATIONS) or {}
        now = datetime.now(UTC)
        mark = notices.since_mark(cr, now)
        if mark is None or not notes.get("since"):
            if (mark is None) != (not notes.get("since")):
                await self._write_since(cr, mark)
            return  # planned at the next sync, once the mark is in the cache
        done = notices.settled(notes)
        self._forget_shown(meta["namespace"], done)
        for channel, notification in notices.plan(cr, now=now, next_slot=next_slot):
            task = _Task(meta["namespace"], meta["name"], channel, notification)
            if ledger_key(notification.id, channel) in done or not self._may_start(task.key):
                continue
            if len(self._tasks) >= self._settings.notify_max_pending:
                log.debug("notifications: %d in flight; the rest wait", len(self._tasks))
                return
            self._tasks[task.key] = asyncio.create_task(
                self._deliver(task), name=f"notify {task.key}"
            )

    def _may_start(self, key: str) -> bool:
        clock = time.monotonic()
        if key in self._tasks:
            return False
        if (at := self._recorded.get(key)) is not None and clock - at < REMEMBER_SECONDS:
            return False
        return self._parked.get(key, 0.0) <= clock

    def _forget_shown(self, namespace: str, done: set[str]) -> None:
        """Drop memories the cache has caught up with (or that are too old)."""
        clock = time.monotonic()
        for key, at in list(self._recorded.items()):
            shown = key.startswith(f"{namespace}/") and key[len(namespace) + 1 :] in done
            if shown or clock - at >= REMEMBER_SECONDS:
                del self._recorded[key]
        for key, until in list(self._parked.items()):
            if until <= clock:
                del self._parked[key]

    async def _write_since(self, cr: ChronosJobDict, mark: datetime | None) -> None:
        """Write ``status.notifications.since`` when notify is first seen, so that
        configuring it never replays the job's old history; clear it when notify is
        removed, so that configuring it again starts afresh (``notices.since_mark``)."""
        meta = cr["metadata"]

        def change(status: StatusDict) -> ChronosJobStatus | None:
            stored = status.get(w.NOTIFICATIONS) or {}
            if (mark is None) == (not stored.get("since")):
                return None  # written meanwhile (a restart, another replica's last act)
            if mark is None:
                # The whole ledger goes (a merge patch cannot null one key inside it):
                # nothing before the next mark is ever planned, so it is not needed.
                return ChronosJobStatus(notifications=None)
            notes = notices.record_delivered(stored, [])
            notes.since = mark
            return ChronosJobStatus(notifications=notes)

        await kubeio.update_status(self._client, meta["namespace"], meta["name"], change)

    # ------------------------------------------------------------------ delivering

    async def _deliver(self, task: _Task) -> None:
        try:
            await self._attempts(task)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - planned again at a later sync
            m.ERRORS.labels("notify").inc()
            log.warning(
                "%s/%s: delivery of %s to channel %s failed (%s); planned again later",
                task.namespace,
                task.job,
                task.notification.event,
                task.channel,
                kubeio.describe_error(exc),
            )
        finally:
            self._tasks.pop(task.key, None)

    async def _attempts(self, task: _Task) -> None:
        attempt = 0
        while True:
            attempt += 1
            async with self._slots:
                spec, outcome = await self._attempt(task)
            if spec is not None and spec.suspend:
                # Nothing is sent to a suspended channel; the event waits in the plan.
                self._parked[task.key] = time.monotonic() + self._settings.housekeeping_seconds
                return
            budget = (
                spec.max_attempts
                if spec is not None
                else ChronosChannelSpec.model_fields["max_attempts"].default
            )
            kind = spec.type.value if spec is not None else "unknown"
            if outcome.ok:
                m.NOTIFICATIONS.labels(kind, m.DELIVERED).inc()
                await self._record(task, delivered=True, outcome=outcome)
                return
            if not outcome.retry or attempt >= budget:
                m.NOTIFICATIONS.labels(kind, m.UNDELIVERED).inc()
                m.NOTIFICATIONS_UNDELIVERED.labels(kind).inc()
                await self._record(task, delivered=False, outcome=outcome, attempts=attempt)
                return
            m.NOTIFICATIONS.labels(kind, m.RETRIED).inc()
            delay = next_delay(attempt, retry_after=outcome.retry_after, rng=self._rng)
            log.info(
                "%s/%s: %s to channel %s: %s; attempt %d of %d again in %.1f s",
                task.namespace,
                task.job,
                task.notification.event,
                task.channel,
                outcome.reason,
                attempt + 1,
                budget,
                delay,
            )
            await asyncio.sleep(delay)

    async def _attempt(self, task: _Task) -> tuple[ChronosChannelSpec | None, Outcome]:
        """One attempt: the channel and its Secret read afresh, then one send."""
        raw = await kubeio.get_channel(self._client, task.namespace, task.channel)
        if raw is None:
            return None, Outcome(
                ok=False,
                retry=True,
                retry_after=None,
                reason="ChannelNotFound",
                message=f"ChronosChannel {task.channel} does not exist in {task.namespace}",
            )
        try:
            spec = ChronosChannelSpec.model_validate(raw.get("spec") or {})
        except ValidationError:
            return None, Outcome(
                ok=False,
                retry=False,
                retry_after=None,
                reason="ChannelInvalid",
                message=f"ChronosChannel {task.channel} has a spec the operator cannot read",
            )
        data = await _secret_of(self._client, task.namespace, spec)
        ok, reason, message = channel_ready(spec, None if data is None else data.keys())
        await write_channel_ready(self._client, raw, ok, reason, message)
        data = data or {}
        if spec.suspend:
            return spec, Outcome(
                ok=False, retry=False, retry_after=None, reason="Suspended", message=""
            )
        if not ok:
            return spec, Outcome(
                ok=False, retry=True, retry_after=None, reason=reason, message=message
            )
        if not host_allowed(channel_host(spec, data), self._settings.notify_hosts):
            # Not named: for the HTTP types the host is part of a Secret value.
            return spec, Outcome(
                ok=False,
                retry=False,
                retry_after=None,
                reason="HostNotAllowed",
                message="the channel's host is not in CHRONOS_NOTIFY_ALLOWED_HOSTS",
            )
        try:
            outcome = await asyncio.wait_for(
                deliver(spec, data, task.notification, now=datetime.now(UTC)),
                # The sender bounds each attempt by the channel's timeout; this is the
                # backstop for a receiver that trickles its answer.
                spec.timeout_seconds * 2 + 5,
            )
        except TimeoutError:
            outcome = Outcome(
                ok=False,
                retry=True,
                retry_after=None,
                reason="Timeout",
                message=f"no answer within {spec.timeout_seconds} s",
            )
        return spec, replace(outcome, message=masked(outcome.message, data))

    # ------------------------------------------------------------------ recording

    async def _record(
        self, task: _Task, *, delivered: bool, outcome: Outcome, attempts: int = 0
    ) -> None:
        now = datetime.now(UTC)
        key = ledger_key(task.notification.id, task.channel)
        job = (task.namespace, task.job)
        if delivered:
            self._recovered.setdefault(job, set()).add(task.channel)
        entry = Undelivered(
            id=task.notification.id,
            channel=task.channel,
            reason=outcome.reason[:1024] or "Failed",
            message=outcome.message,
            at=now,
        )
        recovered = self._recovered.get(job, set())
        message = undelivered_message(task.notification, entry, attempts)

        def change(status: StatusDict) -> ChronosJobStatus | None:
            notes = status.get(w.NOTIFICATIONS)
            if key in notices.settled(notes):
                return None
            patch = ChronosJobStatus()
            if delivered:
                patch.notifications = notices.record_delivered(notes, [key])
                conditions = recovered_condition(status, recovered, now)
            else:
                patch.notifications = notices.record_delivered(notes, [], given_up=[entry])
                conditions = failed_condition(status, entry.reason, message, now)
            if conditions is not None:
                patch.conditions = typed_conditions(conditions)
            return patch

        written = await kubeio.update_status(self._client, task.namespace, task.job, change)
        self._recorded[task.key] = time.monotonic()
        if not written:
            self._recovered.pop(job, None)
            return  # the job is gone
        if delivered:
            log.info(
                "%s/%s: %s delivered to channel %s",
                task.namespace,
                task.job,
                task.notification.id,
                task.channel,
            )
            return
        self._recovered[job] = set()
        log.warning(
            "%s/%s: %s to channel %s given up: %s",
            task.namespace,
            task.job,
            task.notification.id,
            task.channel,
            entry.reason,
        )
        cr = await kubeio.get_chronosjob(self._client, task.namespace, task.job)
        if cr is not None:
            await kubeio.post_event(
                self._client,
                cr,
                type="Warning",
                reason=UNDELIVERED_EVENT,
                message=message,
            )

    def close(self) -> None:
        """Cancel every delivery (the lease was lost, or the operator stops)."""
        for running in self._tasks.values():
            running.cancel()

    async def wait_closed(self) -> None:
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)


def undelivered_message(notification: Notification, entry: Undelivered, attempts: int) -> str:
    """What the condition and the Event say about a delivery given up (no secrets: the
    outcome's message is masked by the sender and again by ``masked``)."""
    tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}" if attempts else ""
    detail = f": {entry.message}" if entry.message else ""
    return (
        f"{notification.event} ({notification.id}) not delivered to channel "
        f"{entry.channel}{tries} ({entry.reason}){detail}"
    )[:1024]


def failed_condition(
    status: StatusDict, reason: str, message: str, now: datetime
) -> list[w.ConditionDict]:
    """NotificationsDelivered=False for a delivery given up."""
    return set_condition(
        status.get(w.CONDITIONS),
        type=DELIVERED,
        status=False,
        reason=reason,
        message=message,
        generation=None,
        now=now,
    )


def recovered_condition(
    status: StatusDict, delivered_to: set[str], now: datetime
) -> list[w.ConditionDict] | None:
    """NotificationsDelivered=True once every channel given up on since it went False
    took a delivery again (``delivered_to``: the channels delivered to since, as this
    process saw); True at once when it was not False. None: leave it as it is."""
    stored = condition(status.get(w.CONDITIONS), DELIVERED)
    if stored is not None and stored.get("status") == "False":
        # Parsed, not compared as text: "…:01.5Z" sorts before "…:01Z".
        since = parse_time(stored.get(w.LAST_TRANSITION_TIME)) or datetime.min.replace(tzinfo=UTC)
        notes = status.get(w.NOTIFICATIONS) or {}
        failing = {
            u["channel"]
            for u in notes.get("undelivered") or []
            if (at := parse_time(u.get("at"))) is not None and at >= since.replace(microsecond=0)
        }
        if failing - delivered_to:
            return None
    elif stored is not None:
        return None  # True already
    return set_condition(
        status.get(w.CONDITIONS),
        type=DELIVERED,
        status=True,
        reason=ALL_DELIVERED,
        message="every notification was delivered",
        generation=None,
        now=now,
    )


# --------------------------------------------------------------------- channels


async def write_channel_ready(
    client: AsyncClient, raw: dict[str, Any], ok: bool, reason: str, message: str
) -> None:
    """A ChronosChannel's Ready condition, written when it changed."""
    meta, status = raw["metadata"], raw.get("status") or {}
    stored = condition(status.get(w.CONDITIONS), CHANNEL_READY)
    value = "True" if ok else "False"
    if stored and (stored.get("status"), stored.get("reason"), stored.get("message")) == (
        value,
        reason,
        message,
    ):
        return
    conditions = set_condition(
        status.get(w.CONDITIONS),
        type=CHANNEL_READY,
        status=ok,
        reason=reason,
        message=message,
        generation=meta.get("generation"),
        now=datetime.now(UTC),
    )
    await kubeio.patch_channel_status(
        client, meta["namespace"], meta["name"], {w.CONDITIONS: conditions}
    )


async def sync_channel(client: AsyncClient, key: tuple[str, str]) -> None:
    """Read a channel and its Secret afresh and write its Ready condition (a channel no
    job uses yet says at once whether its Secret will do)."""
    raw = await kubeio.get_channel(client, *key)
    if raw is None:
        return
    try:
        spec = ChronosChannelSpec.model_validate(raw.get("spec") or {})
    except ValidationError:
        return  # the CRD's schema keeps such specs out; nothing to say Ready about
    data = await _secret_of(client, key[0], spec)
    await write_channel_ready(client, raw, *channel_ready(spec, None if data is None else data))


def channel_host(spec: ChronosChannelSpec, data: Mapping[str, bytes]) -> str:
    """The host a channel sends to: its email.host, else its address's ("" if none)."""
    if spec.email is not None:
        return spec.email.host.lower()
    return url_host(data.get(ADDRESS_KEY, b"").decode("utf-8", "replace").strip())


async def _secret_of(
    client: AsyncClient, namespace: str, spec: ChronosChannelSpec
) -> dict[str, bytes] | None:
    """The channel's Secret's data ({} for a channel without one); None if it is gone."""
    if spec.secret_ref is None:
        return {}
    return await kubeio.get_secret_data(client, namespace, spec.secret_ref.name)


class Channels:
    """Store for the ChronosChannel informer: each channel seen is queued for its Ready
    condition (``sync_channel``), and all of them at every housekeeping round, since
    the operator does not watch Secrets (it may only ``get`` them)."""

    def __init__(self, queue: Callable[[tuple[str, str]], None]) -> None:
        self._queue = queue
        self._keys: set[tuple[str, str]] = set()

    def upsert(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        self._keys.add(key)
        self._queue(key)

    def delete(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self._keys.discard((meta["namespace"], meta["name"]))

    def resync(self, namespace: str | None, seen: set[tuple[str, str]]) -> None:
        gone = {k for k in self._keys if namespace in (None, k[0]) and k not in seen}
        self._keys -= gone

    def known(self) -> set[tuple[str, str]]:
        return set(self._keys)
