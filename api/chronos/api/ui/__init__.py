"""The dashboard: server-rendered pages over the same services as the REST API.

Reads come from the watch cache; every write goes through ``JobService`` and
``RunService`` (the REST routes' own code path, rules and messages), authorized first
by a SelfSubjectAccessReview with the caller's token. Buttons appear only when the same
check (cached briefly) allows the action; a forced action still gets a 403 page.
docs/ui.md describes the pages and the security model.

One router per page family (``signin``, ``overview`` with the SSE events, ``jobs``,
``run`` with the log follow, ``form``, and the console pages ``runs``, ``activity``,
``cluster``, ``access``); what they share is in ``pages``. This module
wires them into the app with the static files and the HTML error pages.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from lightkube import ApiError

from chronos import http
from chronos.api.deps import Components
from chronos.api.errors import ProblemError, as_problem, problem_response
from chronos.api.services import Caller
from chronos.api.ui import access, activity, cluster, form, jobs, overview, run, runs, signin
from chronos.api.ui.pages import see_other
from chronos.api.web import (
    STATIC,
    UI,
    SecurityHeaders,
    SignInRequiredError,
    environment,
    page_context,
)

router = APIRouter(prefix=UI, include_in_schema=False)
for family in (signin, overview, jobs, run, form, runs, activity, cluster, access):
    router.include_router(family.router)


def _error_page(request: Request, problem: ProblemError) -> Response:
    parts: Components = request.app.state.components
    titles = {
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        422: "Not valid",
        429: "Too many live streams",
        503: "Busy",
    }
    body = (
        environment()
        .get_template("error.html")
        .render(
            **page_context(Caller(None), "", parts.authenticator is not None),
            status=problem.status,
            title=titles.get(problem.status, "Something went wrong"),
            problem=problem,
        )
    )
    return HTMLResponse(body, status_code=problem.status, headers=problem.headers)


def install(app: FastAPI) -> None:
    """Serve the dashboard from ``app``: routes, static files, HTML error pages."""
    app.include_router(router)
    app.mount(f"{UI}/static", StaticFiles(directory=STATIC), name="ui-static")
    app.add_middleware(SecurityHeaders)

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return see_other(f"{UI}/")

    async def on_problem(request: Request, exc: Exception) -> Response:
        problem = as_problem(exc)
        if request.url.path.startswith(f"{UI}/"):
            return _error_page(request, problem)
        return problem_response(problem)

    async def on_sign_in(request: Request, exc: Exception) -> Response:
        if request.headers.get("hx-request") == "true":
            return Response(status_code=401, headers={"HX-Redirect": f"{UI}/login"})
        if request.url.path == f"{UI}/events":
            return Response(status_code=401)
        return see_other(f"{UI}/login")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(ApiError, on_problem)
    app.add_exception_handler(http.TransportError, on_problem)
    app.add_exception_handler(SignInRequiredError, on_sign_in)
