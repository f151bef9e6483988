"""Standard Webhooks signatures (https://www.standardwebhooks.com/): HMAC-SHA256 over
``<webhook-id>.<webhook-timestamp>.<body>``, sent as ``webhook-signature: v1,<base64>``.

Pure. ``sign`` is what the sender uses; ``verify`` is what a receiver does (the tests'
receivers use it; docs/notifications.md shows the same steps without Chronos installed).
Why Standard Webhooks and not a home-made header: receivers have libraries for it in
every language, the message id is signed (a replayed body under another id fails), and
the timestamp is signed (an old delivery replayed later is refused by the tolerance).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

#: The prefix of a Standard Webhooks secret (``whsec_`` + base64 of the key bytes).
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
#: The signature scheme version this module writes and reads.
VERSION = "v1"
#: A receiver refuses a timestamp further than this from its clock (the spec's 5 min).
TOLERANCE_SECONDS = 300
#: The headers, as the spec names them (HTTP header names are case-insensitive).
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
#: Key bytes a secret must have at least (the spec: 24 to 64 bytes; shorter is guessable).
MIN_KEY_BYTES = 24


class SigningKeyError(ValueError):
    """The secret is not a usable Standard Webhooks secret (message names no value)."""


class SignatureError(ValueError):
    """A delivery whose signature or timestamp does not verify."""


def key_bytes(secret: str | bytes) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional, as in the
    spec's libraries). Raises ``SigningKeyError`` for anything else."""
    text = secret.decode("utf-8", "replace") if isinstance(secret, bytes) else secret
    text = text.strip()
    text = text.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError("the signing key is not 'whsec_' followed by base64") from None
    if len(key) < MIN_KEY_BYTES:
        raise SigningKeyError(f"the signing key has fewer than {MIN_KEY_BYTES} bytes")
    return key


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 of HMAC-SHA256>``."""
    digest = _digest(key_bytes(secret), msg_id, timestamp, body)
    return f"{VERSION},{base64.b64encode(digest).decode()}"


def headers(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one delivery."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str | bytes,
    msg_id: str,
    timestamp: str,
    body: bytes,
    signatures: str,
    *,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> None:
    """Check a delivery as a receiver does; raises ``SignatureError`` unless one of the
    space-separated ``v1,<base64>`` signatures matches and ``timestamp`` (Unix seconds)
    is within ``tolerance`` of ``now``. Compares in constant time."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not Unix seconds") from None
    if abs(now - sent_at) > tolerance:
        raise SignatureError("webhook-timestamp is outside the tolerance window")
    expected = _digest(key_bytes(secret), msg_id, sent_at, body)
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version != VERSION:
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(given, expected):
            return
    raise SignatureError("no webhook-signature matches")
