"""The notifier's pure parts: the NotificationsDelivered condition, what people are
told about a delivery given up, masking, and the channel store (the deliveries
themselves run against the control plane: tests/cluster/test_notifications.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chronos.models.notify import Notification, NotifyOn, Undelivered
from chronos.models.wire import StatusDict
from chronos.operator.notifier import (
    ALL_DELIVERED,
    DELIVERED,
    Channels,
    failed_condition,
    masked,
    recovered_condition,
    undelivered_message,
)
from chronos.operator.status import condition
from chronos.times import rfc3339

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def _entry(channel: str, at: datetime, event_id: str = "u1.run-1.failed") -> dict[str, Any]:
    return {
        "id": event_id,
        "channel": channel,
        "reason": "HTTP503",
        "message": "",
        "at": rfc3339(at),
    }


def _failed(at: datetime, *channels: str) -> StatusDict:
    """A status whose condition went False at ``at``, given up on ``channels`` then."""
    conditions = failed_condition({}, "HTTP503", "not delivered", at)
    undelivered = [_entry(c, at) for c in channels]
    return {"conditions": conditions, "notifications": {"undelivered": undelivered}}  # type: ignore[typeddict-item]


def test_a_delivery_given_up_sets_the_condition_false_with_the_outcome_reason() -> None:
    (cond,) = failed_condition({}, "Timeout", "not delivered to ops", NOW)
    assert (cond["type"], cond["status"], cond["reason"]) == (DELIVERED, "False", "Timeout")
    assert cond["lastTransitionTime"] == rfc3339(NOW)


def test_the_first_delivery_sets_the_condition_true_and_later_ones_leave_it() -> None:
    first = recovered_condition({}, {"ops"}, NOW)
    assert first is not None
    assert (first[0]["status"], first[0]["reason"]) == ("True", ALL_DELIVERED)
    assert recovered_condition({"conditions": first}, {"ops"}, NOW) is None  # no write


def test_the_condition_clears_only_when_every_failed_channel_took_a_delivery() -> None:
    status = _failed(NOW, "ops", "mail")
    later = NOW + timedelta(minutes=1)
    assert recovered_condition(status, {"ops"}, later) is None
    cleared = recovered_condition(status, {"ops", "mail"}, later)
    assert cleared is not None
    cond = condition(cleared, DELIVERED)
    assert cond is not None
    assert cond["status"] == "True"
    assert cond["lastTransitionTime"] == rfc3339(later)


def test_failures_from_before_the_condition_went_false_do_not_hold_it() -> None:
    status = _failed(NOW, "ops")
    notes = status["notifications"]
    assert notes is not None
    notes["undelivered"] = [*(notes.get("undelivered") or []), _entry("old", NOW - timedelta(1))]  # type: ignore[list-item]
    assert recovered_condition(status, {"ops"}, NOW + timedelta(seconds=1)) is not None


def test_the_message_names_the_event_the_channel_and_the_attempts_never_a_secret() -> None:
    note = Notification(
        id="u1.run-1.failed",
        event=NotifyOn.FAILED,
        namespace="team",
        job="orders",
        job_uid="u1",
        occurred_at=NOW,
    )
    entry = Undelivered(id=note.id, channel="ops", reason="HTTP503", message="answered 503", at=NOW)
    message = undelivered_message(note, entry, 6)
    assert message == (
        "failed (u1.run-1.failed) not delivered to channel ops after 6 attempts (HTTP503): "
        "answered 503"
    )
    address = "https://hooks.example.org/T0123/very-secret-path"
    secret = {"address": address.encode(), "token": b"abcd1234"}
    said = masked(f"POST {address} failed; token abcd1234; host hooks.example.org", secret)
    assert "very-secret-path" not in said
    assert "hooks.example.org" not in said
    assert "abcd1234" not in said
    assert said.startswith("POST ")


def test_the_channel_store_queues_what_it_sees_and_forgets_what_is_gone() -> None:
    queued: list[tuple[str, str]] = []
    store = Channels(queued.append)
    for ns, name in [("a", "ops"), ("a", "mail"), ("b", "ops")]:
        store.upsert({"metadata": {"namespace": ns, "name": name}})
    assert queued == [("a", "ops"), ("a", "mail"), ("b", "ops")]
    store.delete({"metadata": {"namespace": "a", "name": "mail"}})
    store.resync("b", set())  # a relist of namespace b found none
    assert store.known() == {("a", "ops")}


def test_a_failure_in_the_same_second_as_the_condition_holds_it() -> None:
    """The ledger writes times with microseconds, the condition whole seconds: compared as
    text "…:07.5Z" sorted before "…:07Z", and another channel's success cleared the
    condition of a channel given up on in that very second (cluster test, allowed hosts)."""
    at = NOW.replace(microsecond=500000)
    status = _failed(at, "inside")
    entry = Undelivered(id="u1.run-1.failed", channel="inside", reason="HostNotAllowed", at=at)
    status["notifications"] = {"undelivered": [entry.model_dump(mode="json")]}  # type: ignore[typeddict-item]
    assert recovered_condition(status, {"allowed"}, at) is None
