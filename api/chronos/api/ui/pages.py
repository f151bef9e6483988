"""What the dashboard's pages share: the posted form (CSRF checked), rendering, the
redirect after a write, the namespaces a caller may see, the job rows, the confirm page,
and the cache of computed page parts."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from chronos.api import uiviews as v
from chronos.api.cache import Entry
from chronos.api.deps import Components, Parts
from chronos.api.errors import ProblemError
from chronos.api.services import Caller
from chronos.api.settings import DNS_LABEL
from chronos.api.web import UI, UiCaller, check_csrf, environment, page_context, read_form
from chronos.models.wire import ChronosJobDict

_NAMESPACE = re.compile(DNS_LABEL)

#: An SSE stream ends after this long (the browser reconnects, the session is re-read).
STREAM_SECONDS = 300.0
HEARTBEAT_SECONDS = 15.0
#: How long a computed overview or jobs table is reused (relative times are this coarse).
FRESH_SECONDS = 15
#: The notice a page shows after a write redirected to it (``?done=<key>``).
DONE = {
    "enabled": "Job enabled: it runs on its schedule again.",
    "disabled": "Job disabled (suspended): no scheduled runs until it is enabled again.",
    "run": "Run requested: the operator starts it as a Kubernetes Job.",
    "run-again": "That run was already requested: no second run was started.",
    "deleted": "Job deleted.",
    "created": "Job created.",
    "aborted": "Run aborted: its Kubernetes Job is being deleted with its pods.",
    "saved": "Changes saved.",
    "suspended": "Selected jobs suspended.",
    "resumed": "Selected jobs resumed.",
    "signed-out": "Signed out.",
    "signed-out-here": "Signed out in this browser, but the sign-out could not be recorded "
    "for the other replicas: a copy of the session may still work until it expires.",
}


async def posted_form(request: Request, parts: Parts, who: UiCaller) -> dict[str, list[str]]:
    """The posted form, once its CSRF token is the caller's."""
    form = await read_form(request)
    check_csrf(request, form, lambda sent: parts.sessions.csrf_ok(who.token, sent))
    return form


Form = Annotated[dict[str, list[str]], Depends(posted_form)]


def render(parts: Components, who: Caller, name: str, status: int = 200, **ctx: Any) -> Response:
    context = page_context(who, parts.sessions.csrf(who.token), parts.authenticator is not None)
    body = environment().get_template(name).render({**context, **ctx})
    return HTMLResponse(body, status_code=status)


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def job_url(namespace: str, job_id: str) -> str:
    return f"{UI}/jobs/{namespace}/{job_id}"


def check_namespace(namespace: str) -> None:
    if not _NAMESPACE.match(namespace):
        raise ProblemError(404, f'no namespace "{namespace}"')


async def allowed(
    parts: Components, who: Caller, namespace: str, job_id: str | None, *verbs: str
) -> None:
    """404 for a namespace that cannot exist, then 403 unless RBAC lets the caller do
    each of ``verbs`` to chronosjobs there (to the job ``job_id``, if given): before
    anything is looked up or written."""
    check_namespace(namespace)
    for verb in verbs:
        await parts.jobs.authorize(who, verb, namespace, job_id)


async def readable_job(
    parts: Components, who: Caller, namespace: str, job_id: str, *verbs: str
) -> tuple[Entry, dict[str, Any]]:
    """The job and its view, once the caller may ``get`` it (and do ``verbs``)."""
    await allowed(parts, who, namespace, job_id, "get", *verbs)
    entry = await parts.jobs.get(who, namespace, job_id)
    assert entry.view is not None
    return entry, entry.view


def notice(request: Request) -> str | None:
    return DONE.get(request.query_params.get("done", ""))


async def visible_namespaces(parts: Components, who: Caller, wanted: str) -> list[str]:
    """Namespaces to show: ``wanted`` (403 if the caller may not list it), else every
    namespace with jobs that the caller may list."""
    if wanted:
        check_namespace(wanted)
        await parts.jobs.authorize(who, "list", wanted)
        return [wanted]
    return [ns for ns in parts.cache.namespaces() if await parts.jobs.may(who, "list", ns)]


def job_rows(parts: Components, namespaces: list[str]) -> list[tuple[ChronosJobDict, v.JobRow]]:
    out = []
    for ns in namespaces:
        for entry in parts.cache.entries(ns):
            entry = parts.cache.rendered(entry)
            assert entry.view is not None
            out.append((entry.obj, v.job_row(entry.obj, entry.view)))
    return out


def now_utc() -> datetime:
    return datetime.now(UTC)


def int_param(text: str | None, default: int) -> int:
    try:
        return int(text or default)
    except ValueError:
        return default


async def confirm(
    parts: Components,
    who: Caller,
    namespace: str,
    job_id: str,
    action: str,
    verb: str,
    run: str = "",
) -> Response:
    """The page that asks before ``action`` (delete, abort a run), naming the job (and
    the run); only for a caller RBAC lets do it (``verb`` on the job; an abort needs
    ``get`` on the job and ``delete`` on the run's batch Job, see
    ``RunService.active_run``). Run now has a page of its own (``jobs``: parameters)."""
    check_namespace(namespace)
    if action == "abort":
        entry = await parts.runs.active_run(who, namespace, job_id, run)
    else:
        await allowed(parts, who, namespace, job_id, verb)
        entry = await parts.jobs.get(who, namespace, job_id)
    assert entry.view is not None
    url = job_url(namespace, job_id) + (f"/runs/{run}/abort" if run else f"/{action}")
    row = v.job_row(entry.obj, entry.view)
    return render(parts, who, "confirm.html", row=row, action=action, run=run, post_url=url)


class Memo:
    """Shared page parts by key. Keys carry the watch cache's change count and a time
    bucket, so an entry is never stale beyond FRESH_SECONDS; old keys simply stop
    matching and the dict is emptied when full. Users who may see the same namespaces
    share an entry (what they may see is part of the key, never the user)."""

    def __init__(self, size: int = 64) -> None:
        self._data: dict[Hashable, Any] = {}
        self._size = size

    def get(self, parts: Components, key: Hashable, compute: Callable[[], Any]) -> Any:
        full = (id(parts.cache), parts.cache.changes, int(time.time() // FRESH_SECONDS), key)
        if full not in self._data:
            if len(self._data) >= self._size:
                self._data.clear()
            self._data[full] = compute()
        return self._data[full]


memo = Memo()
