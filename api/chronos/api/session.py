"""Dashboard sessions: the caller's bearer token sealed in a cookie, and CSRF tokens.

The facade keeps no session state: the cookie itself carries the caller's Kubernetes
token, encrypted and authenticated with AES-256-GCM under a key every replica shares
(CHRONOS_API_SESSION_KEY), with its issue time and expiry inside the sealed part. So any
replica can open it and the browser cannot read or alter it. Signing out drops the cookie
and records the sign-out for every replica (``chronos.api.signouts``), which then refuse
the sessions issued before it.

A CSRF token is an HMAC of the token's digest under a second key derived from the same
setting: the same for every page of one sign-in, checked on every write, and equally
available when an authenticating proxy sends ``Authorization: Bearer`` (no cookie).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

COOKIE = "chronos_session"
VERSION = "v1"
_AAD = b"chronos-ui-session-v1"
_NONCE = 12


def _derive(secret: bytes, purpose: bytes) -> bytes:
    # One setting, independent keys per use: HMAC-SHA256 as a PRF (HKDF's expand step).
    return hmac.new(secret, purpose, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    token: str = field(repr=False)
    expires: float
    #: When it was sealed (a sign-out ends the sessions issued before it).
    issued: float


class SessionCodec:
    """Seals and opens session cookies, and makes and checks CSRF tokens."""

    def __init__(self, secret: bytes, lifetime_seconds: int) -> None:
        self._aead = AESGCM(_derive(secret, b"chronos-ui-session-key"))
        self._csrf_key = _derive(secret, b"chronos-ui-csrf-key")
        self.lifetime = lifetime_seconds

    def seal(self, token: str, now: float) -> str:
        nonce = os.urandom(_NONCE)
        payload = json.dumps({"t": token, "e": int(now) + self.lifetime, "i": now}).encode()
        return f"{VERSION}.{_b64(nonce + self._aead.encrypt(nonce, payload, _AAD))}"

    def open(self, cookie: str | None, now: float) -> Session | None:
        """The session in ``cookie``; None if absent, forged, altered or expired."""
        if not cookie or not cookie.startswith(f"{VERSION}."):
            return None
        try:
            raw = _unb64(cookie[len(VERSION) + 1 :])
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _AAD)
            data = json.loads(plain)
            expires = float(data["e"])
            # Cookies sealed before the issue time was recorded: as if at the earliest.
            issued = float(data.get("i", expires - self.lifetime))
            session = Session(token=str(data["t"]), expires=expires, issued=issued)
        except (InvalidTag, ValueError, binascii.Error, KeyError, TypeError, AttributeError):
            return None
        return session if session.expires > now and session.token else None

    def csrf(self, token: str | None) -> str:
        """The CSRF token of a caller (``None``: authentication disabled)."""
        digest = hashlib.sha256((token or "").encode()).digest()
        return _b64(hmac.new(self._csrf_key, digest, hashlib.sha256).digest())

    def csrf_ok(self, token: str | None, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf(token), sent or "")
