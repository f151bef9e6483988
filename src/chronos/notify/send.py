"""One delivery attempt of one notification to one channel (the I/O).

``deliver`` never raises for anything the receiver or the network does: it answers an
``Outcome`` whose ``reason`` (CamelCase) and ``message`` go into the job's status and
Events as they are. So the message never holds a credential, the address (a Slack URL
is itself the secret) or an unmasked quote of the receiver's answer: every quote goes
through the project's one masking function (``chronos.corehub.answers``), bound to the
channel's Secret values and the pieces of its address.

The caller (the operator's notifier) decides whether to call at all (``spec.suspend``,
the ledger) and when to try again (``retry.next_delay`` with ``Outcome.retry_after``).
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from functools import cache, partial
from urllib.parse import quote as percent_encode
from urllib.parse import urlsplit

from chronos.corehub.answers import Mask, mask_secrets, quote
from chronos.http import AsyncClient, ConnectError, Response, Timeout, TransportError
from chronos.models.channels import (
    ADDRESS_KEY,
    PASSWORD_KEY,
    SIGNING_KEY,
    TOKEN_KEY,
    USERNAME_KEY,
    ChannelType,
    ChronosChannelSpec,
    EmailSettings,
)
from chronos.models.notify import Notification
from chronos.notify import signing
from chronos.notify.payloads import email_message, render
from chronos.notify.retry import retry_after_seconds, retryable

DELIVERED = "Delivered"
USER_AGENT = "chronos-notify/1"
#: The event id, for receivers that dedupe on the IETF draft's header (Stripe-style).
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: At most this much of a receiver's answer is read (and less is quoted).
ANSWER_BYTES = 4096
#: What a header value keeps as it is: visible ASCII (RFC 9110 field-vchar) but ``%``.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
#: RFC 6750 ``b64token``: what a bearer token may hold (so no header can be forged).
_BEARER = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: Pieces of an address at least this long are masked on their own too (a receiver
#: echoing only the last segment of a Slack URL still shows ``***``).
_MIN_MASKED_PIECE = 6


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    #: Delivered (the receiver accepted it): record it in the ledger.
    ok: bool
    #: Not delivered, and another attempt may succeed (5xx, 408, 429, timeouts, network).
    retry: bool
    #: Seconds the receiver asked to wait (Retry-After, bounded), for ``next_delay``.
    retry_after: float | None
    #: CamelCase: Delivered, HTTP503, Refused404, Timeout, ConnectionRefused, SMTPError…
    reason: str
    #: For people; holds no secret, no address and no unmasked quote.
    message: str


@cache
def default_tls() -> ssl.SSLContext:
    """The system's trust store (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured), verifying
    certificates and host names; built once per process: building it costs about 0.1 s,
    and a client made per attempt with httpx's default paid that on every delivery
    (docs/performance.md has the figures)."""
    return ssl.create_default_context()


def _refused(reason: str, message: str) -> Outcome:
    """A failure that no retry can mend (the channel or its Secret is wrong)."""
    return Outcome(ok=False, retry=False, retry_after=None, reason=reason, message=message)


def _transient(reason: str, message: str, retry_after: float | None = None) -> Outcome:
    return Outcome(ok=False, retry=True, retry_after=retry_after, reason=reason, message=message)


def header_value(value: str) -> str:
    """``value`` as one HTTP header value: the one encoding for what goes into a header.

    Visible ASCII stays as it is, so an event id (uid, run id, event; an absent event's
    slot with its ``:``) is sent exactly as the body has it and receivers can compare
    the two; anything else (spaces, line breaks, non-ASCII, ``%`` itself) is
    percent-encoded, so no value can end the header or add another.
    """
    return percent_encode(value, safe=_HEADER_SAFE)


def _address_pieces(address: str) -> Iterator[str]:
    try:
        parts = urlsplit(address)
        yield from (parts.netloc, parts.path, parts.query, parts.fragment)
    except ValueError:
        pass  # not a URL (refused before sending); its pieces are masked all the same
    yield from re.split(r"[/?&=#@:\[\]]", address)


def secret_mask(values: Mapping[str, str]) -> Mask:
    """The mask for everything said about a channel: its Secret's values and the pieces
    of its address (``mask_secrets`` masks the longest first)."""
    secrets = [v for v in values.values() if v]
    address = values.get(ADDRESS_KEY)
    if address:
        secrets += [p for p in _address_pieces(address) if len(p) >= _MIN_MASKED_PIECE]
    return partial(mask_secrets, secrets=secrets)


def _secret_text(secret: Mapping[str, bytes]) -> dict[str, str] | None:
    try:
        return {k: v.decode("utf-8").strip() for k, v in secret.items()}
    except UnicodeDecodeError:
        return None


async def deliver(
    channel: ChronosChannelSpec,
    secret: Mapping[str, bytes],
    notification: Notification,
    *,
    now: datetime,
    client: AsyncClient | None = None,
    tls: ssl.SSLContext | None = None,
) -> Outcome:
    """One attempt to deliver ``notification`` through ``channel`` (``secret``: the
    channel's Secret's data, decoded from base64; empty for an e-mail channel without
    credentials). ``now`` stamps the signature. ``client`` may be shared between
    deliveries (its owner closes it; its own TLS settings then apply to HTTPS); ``tls``
    replaces the system's trust store (a private CA), for HTTPS and STARTTLS alike —
    verification is never turned off."""
    values = _secret_text(secret)
    if values is None:
        return _refused("InvalidSecret", "the channel's Secret has a value that is not UTF-8")
    mask = secret_mask(values)
    if channel.type is ChannelType.EMAIL:
        return await _deliver_email(channel, values, notification, mask, tls)
    return await _deliver_http(channel, values, notification, now, mask, client, tls)


# ------------------------------------------------------------------ HTTP


def sendable_url(address: str | None) -> str | None:
    """``address`` if it is an http(s) URL that can be sent to as it is: visible ASCII
    only (an international host name in its xn-- form), a host, a port in range."""
    if not address or not _VISIBLE_ASCII.fullmatch(address):
        return None
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 - read for its ValueError (out of range, not a number)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return address


def _http_headers(
    channel: ChronosChannelSpec,
    values: Mapping[str, str],
    notification: Notification,
    body: bytes,
    content_type: str,
    now: datetime,
) -> dict[str, str] | Outcome:
    msg_id = header_value(notification.id)
    headers = {
        "Content-Type": content_type,
        "User-Agent": USER_AGENT,
        IDEMPOTENCY_HEADER: msg_id,
    }
    token = values.get(TOKEN_KEY)
    if token:
        if not _BEARER.fullmatch(token):
            return _refused("InvalidToken", f"the Secret's '{TOKEN_KEY}' is not a bearer token")
        headers["Authorization"] = f"Bearer {token}"
    key = values.get(SIGNING_KEY)
    if not key and channel.type is ChannelType.WEBHOOK:
        return _refused("MissingSigningKey", f"the Secret has no '{SIGNING_KEY}'")
    if key:
        try:
            headers |= signing.headers(key, msg_id, int(now.timestamp()), body)
        except signing.SigningKeyError as exc:
            return _refused("InvalidSigningKey", f"the Secret's '{SIGNING_KEY}': {exc}")
    return headers


async def _deliver_http(
    channel: ChronosChannelSpec,
    values: Mapping[str, str],
    notification: Notification,
    now: datetime,
    mask: Mask,
    client: AsyncClient | None,
    tls: ssl.SSLContext | None,
) -> Outcome:
    url = sendable_url(values.get(ADDRESS_KEY))
    if url is None:
        return _refused("InvalidAddress", f"the Secret's '{ADDRESS_KEY}' is not an http(s) URL")
    rendered = render(channel.type, notification)
    headers = _http_headers(
        channel, values, notification, rendered.body, rendered.content_type, now
    )
    if isinstance(headers, Outcome):
        return headers
    headers |= rendered.headers
    seconds = channel.timeout_seconds
    http = client or AsyncClient(verify=tls or default_tls())
    try:
        # The whole attempt, answer included, within the channel's timeout: httpx's own
        # timeouts are per read, and a receiver trickling bytes would hold the slot.
        async with asyncio.timeout(seconds):
            request = http.build_request(
                "POST", url, content=rendered.body, headers=headers, timeout=Timeout(seconds)
            )
            response = await http.send(request, stream=True, follow_redirects=False)
            try:
                answer = await _head(response)
            finally:
                await response.aclose()
    except TimeoutError:
        return _transient("Timeout", f"the receiver did not answer within {seconds} s")
    except ConnectError as exc:
        return _connect_failure(exc, mask)
    except TransportError as exc:
        detail = quote(str(exc) or type(exc).__name__, mask)
        return _transient("TransportError", f"the exchange with the receiver failed: {detail}")
    finally:
        if client is None:
            await http.aclose()
    return _judge(response, answer, now, mask)


async def _head(response: Response) -> bytes:
    """The start of the answer (``ANSWER_BYTES`` at most: a receiver cannot make us
    read a large body)."""
    chunks = bytearray()
    async for chunk in response.aiter_raw():
        chunks += chunk
        if len(chunks) >= ANSWER_BYTES:
            break
    return bytes(chunks[:ANSWER_BYTES])


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is in ``exc``'s chain (httpx wraps the socket's error twice)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _connect_failure(exc: BaseException, mask: Mask) -> Outcome:
    if _caused_by(exc, ssl.SSLCertVerificationError):
        # Not retried: a certificate that does not verify now will not in a minute.
        detail = quote(str(exc) or type(exc).__name__, mask)
        return _refused("TLSVerifyFailed", f"the receiver's certificate does not verify: {detail}")
    if _caused_by(exc, ConnectionRefusedError):
        return _transient("ConnectionRefused", "the receiver refused the connection")
    detail = quote(str(exc) or type(exc).__name__, mask)
    return _transient("ConnectionFailed", f"could not connect to the receiver: {detail}")


def _judge(response: Response, answer: bytes, now: datetime, mask: Mask) -> Outcome:
    status = response.status_code
    said = quote(answer.decode("utf-8", "replace"), mask) if answer.strip() else ""
    message = f"the receiver answered {status}" + (f": {said}" if said else "")
    if 200 <= status < 300:
        return Outcome(ok=True, retry=False, retry_after=None, reason=DELIVERED, message=message)
    if retryable(status):
        wait = retry_after_seconds(response.headers.get("retry-after"), now)
        return _transient(f"HTTP{status}", message, wait)
    if 400 <= status < 500:
        return _refused(f"Refused{status}", message)
    # 1xx/3xx: redirects are not followed (the Secret names the receiver, not its
    # redirect target, and a redirect could carry the body and token elsewhere).
    return _refused(f"HTTP{status}", message + " (redirects are not followed)")


# ------------------------------------------------------------------ e-mail


def _smtp_send(
    settings: EmailSettings,
    msg: EmailMessage,
    username: str | None,
    password: str | None,
    timeout: float,
    tls: ssl.SSLContext,
) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP(settings.host, settings.port, timeout=timeout) as smtp:
        smtp.ehlo()
        if settings.start_tls:
            smtp.starttls(context=tls)
            smtp.ehlo()
        if username:
            smtp.login(username, password or "")
        return smtp.send_message(msg, from_addr=settings.from_, to_addrs=list(settings.to))


def _smtp_said(exc: smtplib.SMTPResponseException, mask: Mask) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else ""
    return f"{exc.smtp_code}" + (f" {quote(text, mask)}" if text.strip() else "")


def _smtp_failure(exc: BaseException, mask: Mask, seconds: int) -> Outcome:
    """The Outcome of a failed SMTP exchange; 4xx replies are temporary (RFC 5321
    §4.2.1), 5xx permanent."""
    match exc:
        case smtplib.SMTPAuthenticationError():
            return _refused(
                "SMTPAuthFailed", f"the mail server refused the login: {_smtp_said(exc, mask)}"
            )
        case smtplib.SMTPRecipientsRefused():
            codes = [code for code, _ in exc.recipients.values()]
            message = f"the mail server refused all {len(codes)} recipients ({sorted(set(codes))})"
            temporary = all(400 <= c < 500 for c in codes)
            return (_transient if temporary else _refused)("RecipientsRefused", message)
        case smtplib.SMTPResponseException():
            message = f"the mail server answered {_smtp_said(exc, mask)}"
            temporary = 400 <= exc.smtp_code < 500
            return (_transient if temporary else _refused)("SMTPError", message)
        case smtplib.SMTPNotSupportedError():
            # smtplib's own words (STARTTLS or AUTH not offered), nothing of the server's.
            return _refused("SMTPNotSupported", f"the mail server does not offer it: {exc}")
        case ssl.SSLCertVerificationError():
            return _refused(
                "TLSVerifyFailed",
                f"the mail server's certificate does not verify: {quote(str(exc), mask)}",
            )
        case ssl.SSLError():
            return _transient(
                "TLSError", f"TLS with the mail server failed: {quote(str(exc), mask)}"
            )
        case smtplib.SMTPServerDisconnected():
            return _transient("SMTPDisconnected", "the mail server closed the connection")
        case TimeoutError():
            return _transient("Timeout", f"the mail server did not answer within {seconds} s")
        case ConnectionRefusedError():
            return _transient("ConnectionRefused", "the mail server refused the connection")
        case smtplib.SMTPException():
            return _transient("SMTPError", f"the SMTP exchange failed: {quote(str(exc), mask)}")
        case _:
            return _transient(
                "ConnectionFailed", f"could not reach the mail server: {quote(str(exc), mask)}"
            )


async def _deliver_email(
    channel: ChronosChannelSpec,
    values: Mapping[str, str],
    notification: Notification,
    mask: Mask,
    tls: ssl.SSLContext | None,
) -> Outcome:
    settings = channel.email
    if settings is None:
        return _refused("MissingEmailSettings", "an email channel needs spec.email")
    username, password = values.get(USERNAME_KEY), values.get(PASSWORD_KEY)
    if username and not settings.start_tls:
        # smtplib would send the password in clear over a plain connection.
        return _refused("InsecureAuth", "SMTP AUTH is only done after STARTTLS (startTls: true)")
    msg = email_message(notification, settings)
    context = tls or default_tls()
    seconds = channel.timeout_seconds
    try:
        # smtplib blocks: in a thread, each socket operation bounded by the timeout.
        refused = await asyncio.to_thread(
            _smtp_send, settings, msg, username, password, seconds, context
        )
    except (smtplib.SMTPException, OSError) as exc:
        return _smtp_failure(exc, mask, seconds)
    if refused:
        # Some recipients took it: sending again would mail them twice (at-least-once
        # is per event, not per recipient), so it counts as delivered, and says so.
        return Outcome(
            ok=True,
            retry=False,
            retry_after=None,
            reason=DELIVERED,
            message=f"accepted for {len(settings.to) - len(refused)} of {len(settings.to)} "
            f"recipients; refused: {', '.join(sorted(refused))}",
        )
    return Outcome(ok=True, retry=False, retry_after=None, reason=DELIVERED, message="accepted")
