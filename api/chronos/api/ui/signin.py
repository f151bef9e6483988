"""Sign-in and sign-out: the session cookie that carries the caller's own token."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request, Response

from chronos.api.deps import Parts
from chronos.api.errors import ProblemError
from chronos.api.services import Caller
from chronos.api.session import COOKIE
from chronos.api.ui.pages import Form, notice, render, see_other
from chronos.api.web import UI, UiCaller, cookie_secure, first, read_form, same_origin

log = logging.getLogger(__name__)
router = APIRouter()
#: Longest token a session cookie can carry (browsers keep cookies up to 4 KiB);
#: longer tokens work through an authenticating proxy's Authorization header.
MAX_COOKIE_TOKEN = 2800


@router.get("/login")
async def login_page(request: Request, parts: Parts) -> Response:
    if parts.authenticator is None:
        return see_other(f"{UI}/")
    return render(parts, Caller(None), "login.html", notice=notice(request), error=None)


@router.post("/login")
async def login(request: Request, parts: Parts) -> Response:
    if parts.authenticator is None:
        return see_other(f"{UI}/")
    if not same_origin(request):  # before the form is read
        raise ProblemError(403, "sign-in from another site refused")
    form = await read_form(request)
    token = first(form, "token").strip()
    error = None
    if not token:
        error = "Paste a Kubernetes bearer token."
    elif len(token) > MAX_COOKIE_TOKEN:
        error = (
            f"This token is longer than {MAX_COOKIE_TOKEN} characters, more than a browser "
            "cookie holds: sign in through an authenticating proxy instead (docs/ui.md)."
        )
    elif await parts.authenticator.identify(token) is None:
        error = "Kubernetes did not accept this token (unknown, expired or revoked)."
    if error is not None:
        return render(parts, Caller(None), "login.html", 401, notice=None, error=error)
    response = see_other(f"{UI}/")
    response.set_cookie(
        COOKIE,
        parts.sessions.seal(token, time.time()),
        max_age=parts.sessions.lifetime,
        path=UI,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request, parts.settings),
    )
    return response


@router.post("/logout")
async def logout(request: Request, parts: Parts, who: UiCaller, form: Form) -> Response:
    done = "signed-out"
    if who.identity is not None:
        try:
            await parts.sign_outs.sign_out(who.identity.username, time.time())
        except Exception:
            # The cookie still goes; the page says the other copies could not be ended.
            log.exception("recording the sign-out of %s failed", who.identity.username)
            done = "signed-out-here"
    response = see_other(f"{UI}/login?done={done}")
    response.delete_cookie(
        COOKIE,
        path=UI,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request, parts.settings),
    )
    return response
