"""What each channel type is sent for one ``Notification`` (pure).

Every renderer is a function of the notification alone (and, for e-mail, the channel's
addresses): a retry sends the same bytes, and the same event rendered twice is equal,
so receivers can dedupe on the body as well as on the id. The id travels with every
type: ``webhook-id`` / CloudEvents ``id`` / ``Idempotency-Key`` / the e-mail's
Message-ID (see ``send``).

Text that comes from the job (names, reasons, messages) is escaped for where it goes:
Slack mrkdwn (``&``, ``<``, ``>``), HTML (``html.escape``), JSON (the encoder), e-mail
headers (``email.message.EmailMessage``, never concatenated).
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from chronos.corehub.paths import encode
from chronos.models.channels import GROUP, ChannelType, EmailSettings
from chronos.models.notify import Notification, NotifyOn
from chronos.times import rfc3339

JSON = "application/json"
CLOUDEVENTS_JSON = "application/cloudevents+json; charset=utf-8"
RFC822 = "message/rfc822"
#: CloudEvents ``type`` prefix; the event name follows (``…job.failed``).
CLOUDEVENT_TYPE = "io.gluesync.chronos.job."
#: The domain of the e-mails' Message-IDs (the API group: ours, and stable).
MESSAGE_ID_DOMAIN = GROUP

#: How each event reads in a sentence ("Job ns/name failed").
_VERBS: Mapping[NotifyOn, str] = {
    NotifyOn.FAILED: "failed",
    NotifyOn.MISSED: "missed a run",
    NotifyOn.UNREPORTED: "ended without a report",
    NotifyOn.SUCCEEDED: "succeeded",
    NotifyOn.STARTED: "started",
    NotifyOn.RECOVERED: "recovered",
    NotifyOn.ABSENT: "is absent (no success when expected)",
    NotifyOn.SLOW: "is slow",
}
_EMOJI: Mapping[NotifyOn, str] = {
    NotifyOn.FAILED: ":x:",
    NotifyOn.MISSED: ":warning:",
    NotifyOn.UNREPORTED: ":grey_question:",
    NotifyOn.SUCCEEDED: ":white_check_mark:",
    NotifyOn.STARTED: ":arrow_forward:",
    NotifyOn.RECOVERED: ":white_check_mark:",
    NotifyOn.ABSENT: ":rotating_light:",
    NotifyOn.SLOW: ":hourglass:",
}
#: Slack takes at most 2000 characters in a section field.
_SLACK_FIELD = 1900
#: Cronicle's web-hook ``action`` per event: it knows job_start, job_complete and
#: job_launch_failure (Cronicle docs/WebUI.md, "Event Web Hook"); a slot that made no
#: run (missed, absent) is its launch failure.
_CRONICLE_ACTIONS: Mapping[NotifyOn, str] = {
    NotifyOn.STARTED: "job_start",
    NotifyOn.MISSED: "job_launch_failure",
    NotifyOn.ABSENT: "job_launch_failure",
}
#: Events that are good news (Cronicle's ``code`` 0).
_GOOD = frozenset({NotifyOn.SUCCEEDED, NotifyOn.RECOVERED, NotifyOn.STARTED})


@dataclass(frozen=True)
class Rendered:
    """One delivery's body and what goes with it."""

    body: bytes
    content_type: str
    #: Extra headers of this type (HTTP types); the sender adds the common ones.
    headers: Mapping[str, str] = field(default_factory=dict)


def notification_json(n: Notification) -> dict[str, Any]:
    """The notification as JSON (camelCase, unset fields left out): the webhook body,
    CloudEvents ``data`` and Cronicle's ``chronos`` field."""
    return n.model_dump(mode="json", by_alias=True, exclude_none=True)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def summary(n: Notification) -> str:
    """One line for people: ``Job ns/name failed (run r-1): Reason: message``."""
    line = f"Job {n.namespace}/{n.job} {_VERBS[n.event]}"
    if n.run_id:
        line += f" (run {n.run_id})"
    detail = ": ".join(part for part in (n.reason, n.message) if part)
    return f"{line}: {detail}" if detail else line


def _time(when: datetime | None) -> str | None:
    return None if when is None else rfc3339(when)


def facts(n: Notification) -> list[tuple[str, str]]:
    """The notification's fields as (label, text) pairs, for people (mail, Slack)."""
    rows: list[tuple[str, str | None]] = [
        ("Event", n.event.value),
        ("Job", f"{n.namespace}/{n.job}"),
        ("Run", n.run_id),
        ("Trigger", n.trigger),
        ("Result", n.result),
        ("Reason", n.reason),
        ("Message", n.message),
        ("Scheduled", _time(n.scheduled_time)),
        ("Started", _time(n.start_time)),
        ("Ended", _time(n.end_time)),
        ("Duration", None if n.duration_seconds is None else f"{n.duration_seconds:g} s"),
        (
            "Consecutive failures",
            None if n.consecutive_failures is None else str(n.consecutive_failures),
        ),
        ("Occurred", rfc3339(n.occurred_at)),
        ("Event id", n.id),
    ]
    return [(label, text) for label, text in rows if text]


# ------------------------------------------------------------------ HTTP types


def webhook(n: Notification) -> Rendered:
    """The generic webhook: the notification as JSON (signed by ``send``)."""
    return Rendered(_dumps(notification_json(n)), JSON)


def cloudevent_source(n: Notification) -> str:
    """CloudEvents ``source``: the job's path (a URI-reference; each name encoded)."""
    return f"/namespaces/{encode(n.namespace)}/chronosjobs/{encode(n.job)}"


def cloudevents(n: Notification) -> Rendered:
    """CloudEvents 1.0, structured mode: the context attributes and ``data`` in one JSON
    object (``application/cloudevents+json``). ``source`` + ``id`` is unique per event,
    as the spec asks of producers; a receiver dedupes on it."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": n.id,
        "source": cloudevent_source(n),
        "type": CLOUDEVENT_TYPE + n.event.value,
        "time": rfc3339(n.occurred_at, "milliseconds"),
        "datacontenttype": JSON,
    }
    if n.run_id:
        event["subject"] = n.run_id
    event["data"] = notification_json(n)
    return Rendered(_dumps(event), CLOUDEVENTS_JSON)


def mrkdwn(text: str) -> str:
    """``text`` safe in Slack mrkdwn: the three characters Slack asks to escape (so a
    job's message cannot make a link or a mention)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clipped(text: str, limit: int) -> str:
    """``mrkdwn(text)`` in at most ``limit`` characters, cut before escaping (never
    inside an entity)."""
    out = mrkdwn(text)
    while len(out) > limit:
        text = text[: max(0, len(text) * limit // len(out) - 2)]
        out = mrkdwn(text) + "…"
    return out


def slack(n: Notification) -> Rendered:
    """A Slack-compatible incoming-webhook message: ``text`` (the fallback Mattermost
    and notifications show) and ``blocks`` (a section and the facts)."""
    text = f"{_EMOJI[n.event]} {mrkdwn(summary(n))}"
    headline = f"{_EMOJI[n.event]} *{mrkdwn(n.namespace)}/{mrkdwn(n.job)}* {_VERBS[n.event]}"
    fields = [
        {"type": "mrkdwn", "text": f"*{label}*\n{_clipped(value, _SLACK_FIELD)}"}
        for label, value in facts(n)
        if label not in ("Event", "Job", "Event id")
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        # Slack takes at most 10 fields in a section.
        {"type": "section", "fields": fields[:10]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"id {mrkdwn(n.id)}"}]},
    ]
    return Rendered(_dumps({"text": text, "blocks": blocks}), JSON)


def cronicle(n: Notification) -> Rendered:
    """Cronicle's web-hook record (docs/WebUI.md, "Event Web Hook"), for receivers
    written for Cronicle: ``action``, ``code`` (0 good news), ``description``,
    ``event``/``event_title`` (the job), ``category`` (the namespace), ``id`` (the
    run), ``elapsed``, ``time_start``/``time_end`` (epoch seconds), ``source`` (blank
    for a scheduled run, as in Cronicle) and a Slack-compatible ``text``. Fields Cronicle
    has and Chronos has not (hostname, pid, cpu, mem, plugin, URLs) are left out; the
    whole notification is in ``chronos``."""
    good = n.event in _GOOD or (n.event is NotifyOn.SLOW and n.result == "succeeded")
    record: dict[str, Any] = {
        "action": _CRONICLE_ACTIONS.get(n.event, "job_complete"),
        "category": n.namespace,
        "category_title": n.namespace,
        "code": 0 if good else 1,
        "description": ": ".join(p for p in (n.reason, n.message) if p) or _VERBS[n.event],
        "event": n.job_uid,
        "event_title": n.job,
        "id": n.run_id or n.id,
        "source": "" if n.trigger in (None, "schedule") else n.trigger,
        "text": summary(n),
    }
    if n.duration_seconds is not None:
        record["elapsed"] = n.duration_seconds
    if n.start_time is not None:
        record["time_start"] = n.start_time.timestamp()
    if n.end_time is not None:
        record["time_end"] = n.end_time.timestamp()
    record["chronos"] = notification_json(n)
    return Rendered(_dumps(record), JSON)


# ------------------------------------------------------------------ e-mail


def message_id(n: Notification) -> str:
    """The e-mail's Message-ID, derived from the event id: a re-sent mail has the same
    one, so mail clients and archives show it once."""
    digest = hashlib.sha256(n.id.encode()).hexdigest()[:40]
    return f"<{digest}@{MESSAGE_ID_DOMAIN}>"


def subject(n: Notification) -> str:
    """The mail's subject, on one line whatever the names hold (whitespace, line breaks
    included, folded to single spaces)."""
    return " ".join(f"[Chronos] {n.namespace}/{n.job} {_VERBS[n.event]}".split())


def text_body(n: Notification) -> str:
    width = max(len(label) for label, _ in facts(n))
    lines = [summary(n), ""] + [f"{label:<{width}}  {value}" for label, value in facts(n)]
    return "\n".join(lines) + "\n"


def html_body(n: Notification) -> str:
    rows = "\n".join(
        f'<tr><th align="left">{html.escape(label)}</th><td>{html.escape(value)}</td></tr>'
        for label, value in facts(n)
    )
    return (
        "<!DOCTYPE html>\n<html><body>\n"
        f"<p>{html.escape(summary(n))}</p>\n<table>\n{rows}\n</table>\n</body></html>\n"
    )


def email_message(n: Notification, settings: EmailSettings) -> EmailMessage:
    """The mail: text and HTML alternatives, headers set through ``EmailMessage`` (which
    refuses a line break in a header value, so nothing can add a header)."""
    msg = EmailMessage()
    msg["Subject"] = subject(n)
    msg["From"] = settings.from_
    msg["To"] = ", ".join(settings.to)
    msg["Date"] = format_datetime(n.occurred_at)
    msg["Message-ID"] = message_id(n)
    msg["X-Chronos-Event-Id"] = n.id
    msg.set_content(text_body(n))
    msg.add_alternative(html_body(n), subtype="html")
    # A fixed boundary (the random default would make every rendering differ).
    msg.set_boundary(f"chronos-{hashlib.sha256(n.id.encode()).hexdigest()[:32]}")
    return msg


# ------------------------------------------------------------------ dispatch


def render(
    channel_type: ChannelType, notification: Notification, *, email: EmailSettings | None = None
) -> Rendered:
    """What a channel of ``channel_type`` is sent for ``notification``. E-mail needs the
    channel's ``email`` settings (addresses) and renders the whole RFC 5322 message."""
    match channel_type:
        case ChannelType.WEBHOOK:
            return webhook(notification)
        case ChannelType.CLOUDEVENTS:
            return cloudevents(notification)
        case ChannelType.SLACK:
            return slack(notification)
        case ChannelType.CRONICLE:
            return cronicle(notification)
        case ChannelType.EMAIL:
            if email is None:
                raise ValueError("an email channel needs its email settings")
            return Rendered(email_message(notification, email).as_bytes(), RFC822)
