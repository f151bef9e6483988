"""The dashboard's plumbing: who is calling, CSRF, forms, security headers, templates.

A dashboard request acts for the caller exactly as a REST request does (``Caller`` with
the caller's own token, ``JobService``), only the token comes from the sealed session
cookie (``chronos.api.session``) or, behind an authenticating proxy such as
oauth2-proxy, from the ``Authorization: Bearer`` header the proxy forwards.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from chronos.api.deps import Parts
from chronos.api.errors import ProblemError
from chronos.api.services import Caller
from chronos.api.session import COOKIE, Session
from chronos.api.settings import ApiSettings

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
#: Versions, npm integrity and SRI hashes of the vendored scripts (tests recompute them).
VENDORED = STATIC / "vendor" / "VENDORED.json"
UI = "/ui"
MAX_FORM_BYTES = 64 * 1024

#: No inline script or style anywhere (htmx is told not to inject its indicator style);
#: every resource from this origin; no framing; forms post only here.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
NO_STORE = (b"cache-control", b"no-store")

#: htmx settings (a <meta> tag, so no inline script): no eval, no scripts from swapped
#: content, requests to this origin only, and error pages swapped in like any page.
HTMX_CONFIG = json.dumps(
    {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
        "selfRequestsOnly": True,
        "historyCacheSize": 0,
        "responseHandling": [
            {"code": "204", "swap": False},
            {"code": "...", "swap": True},
        ],
    },
    separators=(",", ":"),
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    """ASGI middleware: the headers above on every dashboard response (pages are
    private and carry a CSRF token, so they are not stored either)."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/" or path.startswith(UI)):
            await self.app(scope, receive, send)
            return
        static = path.startswith(f"{UI}/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != b"cache-control"]
                headers += SECURITY_HEADERS
                headers.append((b"cache-control", b"public, max-age=3600") if static else NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


# --------------------------------------------------------------------------- caller


class SignInRequiredError(Exception):
    """No valid session or bearer token: the dashboard answers with its sign-in page."""


async def ui_caller(request: Request, parts: Parts) -> Caller:
    if parts.authenticator is None:
        return Caller(None)  # CHRONOS_API_AUTH_DISABLED

    session: Session | None = None

    def opened(cookie: str | None) -> str | None:
        nonlocal session
        session = parts.sessions.open(cookie, time.time())
        return session.token if session else None

    token = request_token(request, opened)
    identity = await parts.authenticator.identify(token) if token else None
    if identity is None:
        raise SignInRequiredError
    if session is not None and parts.sign_outs.ended(identity.username, session.issued):
        raise SignInRequiredError  # a cookie kept (or copied) after its user signed out
    return Caller(identity, token)


UiCaller = Annotated[Caller, Depends(ui_caller)]


def cookie_secure(request: Request, settings: ApiSettings) -> bool:
    """Whether the session cookie is marked Secure (CHRONOS_API_COOKIE_SECURE)."""
    return settings.api_cookie_secure == "always" or request.url.scheme == "https"


def request_token(request: Request, opened: Callable[[str | None], str | None]) -> str | None:
    """The bearer token of a dashboard request: ``Authorization: Bearer`` (an
    authenticating proxy) first, else the session cookie as ``opened`` reads it."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return opened(request.cookies.get(COOKIE))


async def read_form(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body (the only kind the pages send)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise ProblemError(415, "dashboard forms are sent as application/x-www-form-urlencoded")
    # Counted as it arrives (the app-wide CHRONOS_API_MAX_BODY_BYTES is far larger): a
    # form is never held beyond MAX_FORM_BYTES.
    too_large = ProblemError(413, f"form larger than {MAX_FORM_BYTES} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise too_large
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=2000)
    except (UnicodeDecodeError, ValueError):
        raise ProblemError(400, "the form is not valid UTF-8 url-encoded data") from None


def first(form: dict[str, list[str]], key: str, default: str = "") -> str:
    values = form.get(key)
    return values[0] if values else default


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site (``Origin``);
    requests without the header (non-browser clients) are left to the CSRF token."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    # Host only: behind a TLS-terminating proxy the scheme seen here is http.
    return urlsplit(origin).netloc == request.headers.get("host", "")


def check_csrf(request: Request, form: dict[str, list[str]], ok: Callable[[str], bool]) -> None:
    sent = first(form, "csrf") or request.headers.get("x-csrf-token", "")
    if not same_origin(request) or not ok(sent):
        raise ProblemError(
            403,
            "the form's security token is missing or stale (CSRF protection): reload the "
            "page and try again",
        )


# ------------------------------------------------------------------------ templates


@dataclass(frozen=True)
class Script:
    src: str
    integrity: str


#: The dashboard's own scripts (static/), after the vendored ones.
OWN_SCRIPTS = ("form.js", "runlog.js")


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


@cache
def scripts() -> tuple[Script, ...]:
    """Every script the pages load, in order, with its Subresource Integrity hash: the
    vendored ones with the hash recorded when they were vendored, ours hashed here."""
    entries = json.loads(VENDORED.read_text())["scripts"]
    vendored = [Script(f"{UI}/static/vendor/{e['file']}", e["sha384"]) for e in entries]
    own = [Script(f"{UI}/static/{name}", sri((STATIC / name).read_bytes())) for name in OWN_SCRIPTS]
    return (*vendored, *own)


@cache
def environment() -> Environment:
    # Autoescape everything: every job name, description, message and label is the
    # user's; StrictUndefined turns a template typo into an error, not an empty cell.
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["htmx_config"] = HTMX_CONFIG
    env.globals["scripts"] = scripts()
    return env


def page_context(caller: Caller, csrf: str, auth: bool) -> dict[str, Any]:
    """What every page needs; ``who`` is empty when nobody is signed in (the sign-in
    and error pages then show no navigation)."""
    who = caller.identity.username if caller.identity else ("" if auth else caller.name)
    return {"who": who, "csrf": csrf, "auth": auth, "notice": None}
