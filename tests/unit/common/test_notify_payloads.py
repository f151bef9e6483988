"""What each channel type is sent (chronos.notify.payloads): the shapes receivers rely
on, escaping for each destination, and the same bytes on every rendering."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from html import escape
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronos.models.channels import ChannelType, EmailSettings
from chronos.models.notify import Notification, NotifyOn
from chronos.notify.payloads import (
    CLOUDEVENTS_JSON,
    JSON,
    RFC822,
    message_id,
    mrkdwn,
    render,
)

UID = "5b3c2a10-7d1e-4f55-9a0b-2c4d6e8f0a1b"
MAIL = EmailSettings.model_validate(
    {
        "host": "smtp.example.org",
        "from": "chronos@example.org",
        "to": ["a@example.org", "b@example.org"],
    }
)


def note(**changes: Any) -> Notification:
    fields: dict[str, Any] = {
        "id": f"{UID}.run-1.failed",
        "event": "failed",
        "namespace": "team-a",
        "job": "nightly-sync",
        "job_uid": UID,
        "run_id": "run-1",
        "trigger": "schedule",
        "result": "failed",
        "reason": "CoreHubError",
        "message": "sync did not start",
        "start_time": datetime(2026, 4, 15, 2, 0, 3, tzinfo=UTC),
        "end_time": datetime(2026, 4, 15, 2, 1, 33, tzinfo=UTC),
        "duration_seconds": 90.0,
        "occurred_at": datetime(2026, 4, 15, 2, 1, 33, 250000, tzinfo=UTC),
    }
    return Notification.model_validate(fields | changes)


def body(kind: ChannelType, n: Notification) -> Any:
    return json.loads(render(kind, n).body)


def mail(n: Notification) -> EmailMessage:
    msg = email.message_from_bytes(
        render(ChannelType.EMAIL, n, email=MAIL).body, policy=email.policy.default
    )
    assert isinstance(msg, EmailMessage)
    return msg


def test_webhook_is_the_notification_in_camel_case() -> None:
    got = render(ChannelType.WEBHOOK, note())
    assert got.content_type == JSON
    assert json.loads(got.body) == {
        "id": f"{UID}.run-1.failed",
        "event": "failed",
        "namespace": "team-a",
        "job": "nightly-sync",
        "jobUid": UID,
        "runId": "run-1",
        "trigger": "schedule",
        "result": "failed",
        "reason": "CoreHubError",
        "message": "sync did not start",
        "startTime": "2026-04-15T02:00:03Z",
        "endTime": "2026-04-15T02:01:33Z",
        "durationSeconds": 90.0,
        "occurredAt": "2026-04-15T02:01:33.250000Z",
    }
    # It reads back as the same Notification (receivers written in Python may use it).
    assert Notification.model_validate_json(got.body) == note()


def test_cloudevents_structured_mode() -> None:
    got = render(ChannelType.CLOUDEVENTS, note())
    assert got.content_type == CLOUDEVENTS_JSON
    event = json.loads(got.body)
    data = event.pop("data")
    assert event == {
        "specversion": "1.0",
        "id": f"{UID}.run-1.failed",
        "source": "/namespaces/team-a/chronosjobs/nightly-sync",
        "type": "io.gluesync.chronos.job.failed",
        "time": "2026-04-15T02:01:33.250Z",
        "datacontenttype": "application/json",
        "subject": "run-1",
    }
    assert data == body(ChannelType.WEBHOOK, note())


def test_cloudevents_without_a_run_has_no_subject() -> None:
    n = note(id=f"{UID}.absent-2026-04-15T02:00:00Z.absent", event="absent", run_id=None)
    event = body(ChannelType.CLOUDEVENTS, n)
    assert "subject" not in event
    assert event["type"] == "io.gluesync.chronos.job.absent"


def test_the_cloudevents_source_encodes_what_a_name_should_never_hold() -> None:
    event = body(ChannelType.CLOUDEVENTS, note(namespace="a/b", job="x?y#z"))
    assert event["source"] == "/namespaces/a%2Fb/chronosjobs/x%3Fy%23z"


@given(st.text(max_size=200))
def test_slack_text_cannot_hold_a_link_or_mention(text: str) -> None:
    msg = body(ChannelType.SLACK, note(message=text, reason=None))
    rendered = json.dumps(msg)  # every mrkdwn string of the message
    for raw in ("<", ">"):
        assert raw not in rendered.replace("\\u003c", "").replace("\\u003e", "")
    assert mrkdwn(text) in msg["text"]


def test_slack_shape() -> None:
    msg = body(ChannelType.SLACK, note(message="a <@U123> & <!channel>"))
    assert msg["text"] == (
        ":x: Job team-a/nightly-sync failed (run run-1): CoreHubError: "
        "a &lt;@U123&gt; &amp; &lt;!channel&gt;"
    )
    head, facts, context = msg["blocks"]
    assert head == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": ":x: *team-a/nightly-sync* failed"},
    }
    assert {"type": "mrkdwn", "text": "*Message*\na &lt;@U123&gt; &amp; &lt;!channel&gt;"} in facts[
        "fields"
    ]
    assert len(facts["fields"]) <= 10
    assert context["elements"][0]["text"] == f"id {UID}.run-1.failed"


def test_slack_fields_stay_under_slacks_limit() -> None:
    msg = body(ChannelType.SLACK, note(message="&" * 4000))
    assert all(len(f["text"]) <= 2000 for f in msg["blocks"][1]["fields"])


@pytest.mark.parametrize(
    ("event", "action", "code"),
    [
        ("started", "job_start", 0),
        ("succeeded", "job_complete", 0),
        ("recovered", "job_complete", 0),
        ("failed", "job_complete", 1),
        ("unreported", "job_complete", 1),
        ("missed", "job_launch_failure", 1),
        ("absent", "job_launch_failure", 1),
        ("slow", "job_complete", 1),
    ],
)
def test_cronicle_actions_and_codes(event: str, action: str, code: int) -> None:
    record = body(ChannelType.CRONICLE, note(event=event))
    assert (record["action"], record["code"]) == (action, code)


def test_cronicle_record() -> None:
    record = body(ChannelType.CRONICLE, note())
    chronos = record.pop("chronos")
    assert record == {
        "action": "job_complete",
        "category": "team-a",
        "category_title": "team-a",
        "code": 1,
        "description": "CoreHubError: sync did not start",
        "event": UID,
        "event_title": "nightly-sync",
        "id": "run-1",
        "source": "",
        "text": "Job team-a/nightly-sync failed (run run-1): CoreHubError: sync did not start",
        "elapsed": 90.0,
        "time_start": 1776218403.0,
        "time_end": 1776218493.0,
    }
    assert chronos == body(ChannelType.WEBHOOK, note())
    assert body(ChannelType.CRONICLE, note(trigger="run-now"))["source"] == "run-now"
    slow_ok = body(ChannelType.CRONICLE, note(event="slow", result="succeeded"))
    assert slow_ok["code"] == 0


def test_the_mail() -> None:
    msg = mail(note(message="<script>alert(1)</script> & more"))
    assert render(ChannelType.EMAIL, note(), email=MAIL).content_type == RFC822
    assert [k for k in msg if k not in ("MIME-Version", "Content-Type")] == [
        "Subject",
        "From",
        "To",
        "Date",
        "Message-ID",
        "X-Chronos-Event-Id",
    ]
    assert msg["Subject"] == "[Chronos] team-a/nightly-sync failed"
    assert msg["To"] == "a@example.org, b@example.org"
    assert msg["Date"] == "Wed, 15 Apr 2026 02:01:33 +0000"
    assert msg["X-Chronos-Event-Id"] == f"{UID}.run-1.failed"
    html = msg.get_body(("html",))
    text = msg.get_body(("plain",))
    assert html is not None
    assert text is not None
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html.get_content()
    assert "<script>" not in html.get_content()
    assert "<script>alert(1)</script> & more" in text.get_content()


def test_a_line_break_in_a_name_cannot_add_a_mail_header() -> None:
    msg = mail(note(job="x\r\nBcc: evil@example.org", namespace="n\nX-Evil: 1"))
    assert msg["Bcc"] is None
    assert msg["X-Evil"] is None
    assert msg["Subject"] == "[Chronos] n X-Evil: 1/x Bcc: evil@example.org failed"


def test_message_ids_are_stable_per_event_and_differ_between_events() -> None:
    assert message_id(note()) == message_id(note(message="other text"))
    assert message_id(note()) != message_id(note(id=f"{UID}.run-2.failed"))
    assert message_id(note()).endswith("@chronos.gluesync.io>")
    assert mail(note())["Message-ID"] == message_id(note())


@pytest.mark.parametrize("kind", list(ChannelType))
def test_rendering_twice_gives_the_same_bytes(kind: ChannelType) -> None:
    assert render(kind, note(), email=MAIL) == render(kind, note(), email=MAIL)


@pytest.mark.parametrize("event", list(NotifyOn))
@pytest.mark.parametrize("kind", list(ChannelType))
def test_every_event_renders_for_every_type(kind: ChannelType, event: NotifyOn) -> None:
    n = note(event=event, id=f"{UID}.run-1.{event.value}")
    assert n.id.encode() in render(kind, n, email=MAIL).body


def test_email_needs_its_settings() -> None:
    with pytest.raises(ValueError, match="email settings"):
        render(ChannelType.EMAIL, note())


texts = st.text(max_size=300)


@given(message=texts, reason=texts, job=texts)
def test_any_text_renders_for_every_type(message: str, reason: str, job: str) -> None:
    n = note(message=message, reason=reason or None, job=job)
    for kind in ChannelType:
        if kind is not ChannelType.EMAIL:
            assert json.loads(render(kind, n).body)
    msg = mail(n)
    assert "\n" not in msg["Subject"]
    html = msg.get_body(("html",))
    text = msg.get_body(("plain",))
    assert html is not None
    assert text is not None
    if message and "\r" not in message:  # (MIME turns a lone CR into a line break)
        # The job's text is in the HTML part escaped, and in the text part as it is.
        assert escape(message) in html.get_content()
        assert message in text.get_content()
