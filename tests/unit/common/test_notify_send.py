"""One delivery attempt (chronos.notify.send) against real receivers on 127.0.0.1: an
HTTP server that verifies Standard Webhooks signatures, and aiosmtpd with STARTTLS and
AUTH. Times are relative to now (the signature's tolerance window is checked by the
receiver against its clock)."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from receivers import Answer, SmtpServer, WebhookReceiver, free_port, server_tls

from chronos.models.channels import ChannelType, ChronosChannelSpec
from chronos.models.notify import Notification
from chronos.notify.payloads import message_id, render
from chronos.notify.send import Outcome, deliver, header_value, secret_mask, sendable_url

KEY = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER_KEY = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
TOKEN = "tok-3f9a.b64+/x=="
UID = "0c1d2e3f-aaaa-bbbb-cccc-111122223333"
HTTP_TYPES = [t for t in ChannelType if t is not ChannelType.EMAIL]


def note(**changes: Any) -> Notification:
    fields: dict[str, Any] = {
        "id": f"{UID}.r-20261206-0700.failed",
        "event": "failed",
        "namespace": "team-a",
        "job": "nightly-sync",
        "job_uid": UID,
        "run_id": "r-20261206-0700",
        "trigger": "schedule",
        "result": "failed",
        "reason": "CoreHubError",
        "message": "entity <orders> & co failed",
        "occurred_at": datetime.now(UTC).replace(microsecond=0),
    }
    return Notification.model_validate(fields | changes)


def channel(kind: ChannelType = ChannelType.WEBHOOK, **changes: Any) -> ChronosChannelSpec:
    spec: dict[str, Any] = {"type": kind.value, "secretRef": {"name": "hook"}, "timeoutSeconds": 5}
    return ChronosChannelSpec.model_validate(spec | changes)


def secret(url: str, **more: str) -> dict[str, bytes]:
    values = {"address": url, "signingKey": KEY} | more
    return {k: v.encode() for k, v in values.items()}


def send(ch: ChronosChannelSpec, data: dict[str, bytes], n: Notification, **kw: Any) -> Outcome:
    return asyncio.run(deliver(ch, data, n, now=kw.pop("now", datetime.now(UTC)), **kw))


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(signing_key=KEY) as r:
        yield r


# ------------------------------------------------------------------ HTTP


@pytest.mark.parametrize("kind", HTTP_TYPES)
def test_each_http_type_is_delivered_signed_with_the_event_id(
    receiver: WebhookReceiver, kind: ChannelType
) -> None:
    n = note()
    outcome = send(channel(kind), secret(receiver.url, token=TOKEN), n)
    assert outcome == Outcome(True, False, None, "Delivered", "the receiver answered 200")
    [got] = receiver.deliveries
    assert got.verified is True
    assert got.headers["webhook-id"] == n.id
    assert got.headers["idempotency-key"] == n.id
    assert got.headers["authorization"] == f"Bearer {TOKEN}"
    rendered = render(kind, n)
    assert got.body == rendered.body
    assert got.headers["content-type"] == rendered.content_type
    assert receiver.accepted() == {n.id: 1}


def test_the_headers_carry_the_id_exactly_as_the_body(receiver: WebhookReceiver) -> None:
    # An absent event's id holds its slot, colons included: receivers compare the two.
    n = note(id=f"{UID}.absent-2026-04-15T02:00:00Z.absent", event="absent", run_id=None)
    assert send(channel(), secret(receiver.url), n).ok
    [got] = receiver.deliveries
    assert got.headers["webhook-id"] == got.headers["idempotency-key"] == got.json()["id"] == n.id
    assert got.verified is True


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("a.b-c_d~e:f/g", "a.b-c_d~e:f/g"),
        ("x\r\nX-Evil: 1", "x%0D%0AX-Evil:%201"),
        ("100%", "100%25"),
        ("é", "%C3%A9"),
    ],
)
def test_header_values_cannot_break_the_header(value: str, sent: str) -> None:
    assert header_value(value) == sent


def test_a_signature_by_another_key_does_not_verify(receiver: WebhookReceiver) -> None:
    # The receiver's check can fail: the same delivery signed by another key is refused.
    n = note()
    outcome = send(channel(), secret(receiver.url, signingKey=OTHER_KEY), n)
    assert (outcome.ok, outcome.retry, outcome.reason) == (False, False, "Refused401")
    assert [d.verified for d in receiver.deliveries] == [False]
    assert receiver.accepted() == {}


def test_a_delivery_stamped_outside_the_tolerance_is_refused(receiver: WebhookReceiver) -> None:
    late = datetime.now(UTC) - timedelta(minutes=10)
    outcome = send(channel(), secret(receiver.url), note(), now=late)
    assert outcome.reason == "Refused401"
    assert [d.verified for d in receiver.deliveries] == [False]


def test_503_with_retry_after_seconds_is_retried_then_delivered_once(
    receiver: WebhookReceiver,
) -> None:
    n = note()
    receiver.answer(Answer(503, {"Retry-After": "7"}, b"busy"))
    first = send(channel(), secret(receiver.url), n)
    assert first == Outcome(False, True, 7.0, "HTTP503", "the receiver answered 503: busy")
    second = send(channel(), secret(receiver.url), n)
    assert second.ok
    # Both attempts carried the same id; only the second was accepted.
    assert [d.event_id for d in receiver.deliveries] == [n.id, n.id]
    assert receiver.accepted() == {n.id: 1}


def test_retry_after_as_an_http_date_is_seconds_from_now(receiver: WebhookReceiver) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    when = format_datetime(now + timedelta(seconds=90), usegmt=True)
    receiver.answer(Answer(429, {"Retry-After": when}))
    outcome = send(channel(), secret(receiver.url), note(), now=now)
    assert (outcome.retry, outcome.retry_after, outcome.reason) == (True, 90.0, "HTTP429")


def test_retry_after_is_bounded_to_an_hour(receiver: WebhookReceiver) -> None:
    receiver.answer(Answer(503, {"Retry-After": "86400"}))
    assert send(channel(), secret(receiver.url), note()).retry_after == 3600.0


@pytest.mark.parametrize(
    ("status", "retry", "reason"),
    [
        (500, True, "HTTP500"),
        (502, True, "HTTP502"),
        (408, True, "HTTP408"),
        (400, False, "Refused400"),
        (404, False, "Refused404"),
        (410, False, "Refused410"),
    ],
)
def test_statuses_are_judged(
    receiver: WebhookReceiver, status: int, retry: bool, reason: str
) -> None:
    receiver.answer(Answer(status))
    outcome = send(channel(), secret(receiver.url), note())
    assert (outcome.ok, outcome.retry, outcome.reason) == (False, retry, reason)


def test_a_redirect_is_not_followed(receiver: WebhookReceiver) -> None:
    receiver.answer(Answer(307, {"Location": receiver.url + "/elsewhere"}))
    outcome = send(channel(), secret(receiver.url), note())
    assert (outcome.ok, outcome.retry, outcome.reason) == (False, False, "HTTP307")
    assert len(receiver.deliveries) == 1


def test_the_message_masks_what_the_receiver_echoes(receiver: WebhookReceiver) -> None:
    url = receiver.url + "/T0001/B0002/s3cr3tPathToken"
    echo = f"no such hook {url} (token {TOKEN}; path /T0001/B0002/s3cr3tPathToken)"
    receiver.answer(Answer(404, body=echo.encode()))
    outcome = send(channel(), secret(url, token=TOKEN), note())
    assert outcome.reason == "Refused404"
    for leaked in (url, TOKEN, "s3cr3tPathToken", KEY, str(receiver.url)):
        assert leaked not in outcome.message
    assert "***" in outcome.message
    assert outcome.message.startswith("the receiver answered 404: no such hook ***")


def test_a_long_answer_is_read_and_quoted_bounded(receiver: WebhookReceiver) -> None:
    receiver.answer(Answer(500, body=b"x" * 1_000_000))
    outcome = send(channel(), secret(receiver.url), note())
    assert outcome.reason == "HTTP500"
    assert len(outcome.message) < 300


def test_connection_refused_is_retried() -> None:
    port = free_port()  # nothing listens there
    outcome = send(channel(), secret(f"http://127.0.0.1:{port}/hook"), note())
    assert outcome == Outcome(
        False, True, None, "ConnectionRefused", "the receiver refused the connection"
    )


def test_a_receiver_that_does_not_answer_times_out(receiver: WebhookReceiver) -> None:
    receiver.hold()
    started = time.monotonic()
    outcome = send(channel(timeoutSeconds=1), secret(receiver.url), note())
    took = time.monotonic() - started
    receiver.release()
    assert (outcome.ok, outcome.retry, outcome.reason) == (False, True, "Timeout")
    assert 0.9 <= took < 5
    assert receiver.arrived.is_set()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"address": "http://127.0.0.1:1/x"}, "MissingSigningKey"),
        (
            {"address": "http://127.0.0.1:1/x", "signingKey": "whsec_not base64!"},
            "InvalidSigningKey",
        ),
        ({"address": "http://127.0.0.1:1/x", "signingKey": "whsec_c2hvcnQ="}, "InvalidSigningKey"),
        ({"address": "file:///etc/passwd", "signingKey": KEY}, "InvalidAddress"),
        ({"address": "http://[::1", "signingKey": KEY}, "InvalidAddress"),
        ({"address": "http://a\x00b/", "signingKey": KEY}, "InvalidAddress"),
        ({"address": "http://exa mple.org/", "signingKey": KEY}, "InvalidAddress"),
        ({"address": "http://127.0.0.1:99999/", "signingKey": KEY}, "InvalidAddress"),
        ({"address": "http://127.0.0.1:port/", "signingKey": KEY}, "InvalidAddress"),
        ({"address": "http:///path-only", "signingKey": KEY}, "InvalidAddress"),
        ({"signingKey": KEY}, "InvalidAddress"),
    ],
)
def test_a_bad_secret_is_refused_without_sending(data: dict[str, str], reason: str) -> None:
    outcome = send(channel(), {k: v.encode() for k, v in data.items()}, note())
    assert (outcome.ok, outcome.retry, outcome.reason) == (False, False, reason)
    for value in data.values():
        assert value not in outcome.message


def test_a_token_that_could_forge_a_header_is_refused(receiver: WebhookReceiver) -> None:
    outcome = send(channel(), secret(receiver.url, token="abc\r\nX-Evil: 1"), note())
    assert (outcome.retry, outcome.reason) == (False, "InvalidToken")
    assert "X-Evil" not in outcome.message
    assert receiver.deliveries == []


def test_https_verifies_the_receivers_certificate(tmp_path: Path) -> None:
    context, ca_file = server_tls(tmp_path, "hook")
    with WebhookReceiver(signing_key=KEY, tls=context) as https:
        assert https.url.startswith("https://127.0.0.1:")
        trusting = ssl.create_default_context(cafile=str(ca_file))
        assert send(channel(), secret(https.url), note(), tls=trusting).ok
        # The system's trust store does not know the test CA: refused, not retried.
        refused = send(channel(), secret(https.url), note())
        assert (refused.ok, refused.retry, refused.reason) == (False, False, "TLSVerifyFailed")
        assert https.url not in refused.message
        assert [d.verified for d in https.deliveries] == [True]


def test_a_secret_value_that_is_not_utf8_is_refused() -> None:
    outcome = send(channel(), {"address": b"\xff\xfe"}, note())
    assert outcome.reason == "InvalidSecret"


# ------------------------------------------------------------------ e-mail

USER, PASSWORD = "chronos", "pa55-w0rd!"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with SmtpServer(tmp_path, users={USER: PASSWORD}) as server:
        yield server


def mail_channel(server: SmtpServer, **changes: Any) -> ChronosChannelSpec:
    settings = {
        "host": "127.0.0.1",
        "port": server.port,
        "from": "chronos@example.org",
        "to": ["ops@example.org", "dev@example.org"],
    } | changes
    return ChronosChannelSpec.model_validate(
        {"type": "email", "email": settings, "timeoutSeconds": 5}
    )


def credentials(password: str = PASSWORD) -> dict[str, bytes]:
    return {"username": USER.encode(), "password": password.encode()}


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_mail_goes_through_starttls_and_auth(smtp: SmtpServer) -> None:
    n = note()
    outcome = send(mail_channel(smtp), credentials(), n, tls=smtp.client_tls())
    assert outcome == Outcome(True, False, None, "Delivered", "accepted")
    assert smtp.logins == [USER]
    [envelope] = smtp.inbox.envelopes
    assert envelope.mail_from == "chronos@example.org"
    assert envelope.rcpt_tos == ["ops@example.org", "dev@example.org"]
    assert isinstance(envelope.content, bytes)
    msg = parsed(envelope.content)
    assert msg["Message-ID"] == message_id(n)
    assert msg["Subject"] == "[Chronos] team-a/nightly-sync failed"
    html = msg.get_body(("html",))
    assert html is not None
    assert "entity &lt;orders&gt; &amp; co failed" in html.get_content()
    text = msg.get_body(("plain",))
    assert text is not None
    assert "entity <orders> & co failed" in text.get_content()


def test_a_resent_mail_is_the_same_mail(smtp: SmtpServer) -> None:
    n = note()
    for _ in range(2):
        assert send(mail_channel(smtp), credentials(), n, tls=smtp.client_tls()).ok
    first, second = smtp.inbox.envelopes
    assert first.content == second.content  # same Message-ID, same bytes: deduped by clients


@pytest.mark.parametrize(
    ("reply", "retry"), [("451 4.3.0 try again later", True), ("554 5.6.0 rejected", False)]
)
def test_a_refused_mail_is_retried_only_for_a_temporary_reply(
    smtp: SmtpServer, reply: str, retry: bool
) -> None:
    smtp.inbox.data_replies.append(reply)
    outcome = send(mail_channel(smtp), credentials(), note(), tls=smtp.client_tls())
    assert (outcome.ok, outcome.retry, outcome.reason) == (False, retry, "SMTPError")
    assert outcome.message == f"the mail server answered {reply}"
    assert smtp.inbox.envelopes == []


def test_a_mail_some_recipients_took_counts_as_delivered(smtp: SmtpServer) -> None:
    smtp.inbox.refuse["dev@example.org"] = "550 5.1.1 no such user"
    outcome = send(mail_channel(smtp), credentials(), note(), tls=smtp.client_tls())
    # Sending again would mail ops@ twice: delivered, and the message says who was refused.
    assert (outcome.ok, outcome.retry, outcome.reason) == (True, False, "Delivered")
    assert outcome.message == "accepted for 1 of 2 recipients; refused: dev@example.org"
    [envelope] = smtp.inbox.envelopes
    assert envelope.rcpt_tos == ["ops@example.org"]


@pytest.mark.parametrize(
    ("code", "retry"), [("450 4.2.1 mailbox busy", True), ("550 5.1.1 no", False)]
)
def test_a_mail_no_recipient_took(smtp: SmtpServer, code: str, retry: bool) -> None:
    smtp.inbox.refuse = {"ops@example.org": code, "dev@example.org": code}
    outcome = send(mail_channel(smtp), credentials(), note(), tls=smtp.client_tls())
    assert (outcome.ok, outcome.retry, outcome.reason) == (False, retry, "RecipientsRefused")
    assert smtp.inbox.envelopes == []


def test_a_wrong_password_is_not_retried_nor_quoted(smtp: SmtpServer) -> None:
    outcome = send(mail_channel(smtp), credentials("wrong-pa55"), note(), tls=smtp.client_tls())
    assert (outcome.ok, outcome.retry, outcome.reason) == (False, False, "SMTPAuthFailed")
    assert "wrong-pa55" not in outcome.message
    assert smtp.inbox.envelopes == []


def test_tls_verification_is_on(smtp: SmtpServer) -> None:
    # Without the test CA (the system trust store), the server's certificate is refused.
    outcome = send(mail_channel(smtp), credentials(), note())
    assert (outcome.ok, outcome.retry, outcome.reason) == (False, False, "TLSVerifyFailed")
    assert smtp.logins == []
    assert smtp.inbox.envelopes == []


def test_credentials_are_never_sent_without_starttls(smtp: SmtpServer) -> None:
    outcome = send(mail_channel(smtp, startTls=False), credentials(), note())
    assert (outcome.retry, outcome.reason) == (False, "InsecureAuth")
    assert smtp.logins == []


def test_a_server_without_auth_for_anonymous_mail(tmp_path: Path) -> None:
    with SmtpServer(tmp_path) as server:
        outcome = send(mail_channel(server), {}, note(), tls=server.client_tls())
        assert outcome.ok
        assert len(server.inbox.envelopes) == 1


def test_an_smtp_server_that_is_down_is_retried() -> None:
    ch = ChronosChannelSpec.model_validate(
        {
            "type": "email",
            "email": {
                "host": "127.0.0.1",
                "port": free_port(),
                "from": "a@b.org",
                "to": ["c@d.org"],
            },
        }
    )
    outcome = send(ch, {}, note())
    assert (outcome.ok, outcome.retry, outcome.reason) == (False, True, "ConnectionRefused")


@given(st.text(max_size=200))
def test_no_address_makes_the_checks_raise(address: str) -> None:
    # Pure parts of deliver: whatever the Secret holds, an answer and a working mask.
    url = sendable_url(address)
    assert url is None or url == address
    assert isinstance(secret_mask({"address": address, "token": "t"})(f"said {address}"), str)
