"""The dashboard: server-rendered pages over the same services as the REST API.

Reads come from the watch cache; every write goes through ``JobService`` (the REST
routes' own code path, rules and messages), authorized first by a
SelfSubjectAccessReview with the caller's token. Buttons appear only when the same
check (cached briefly) allows the action; a forced action still gets a 403 page.
docs/ui.md describes the pages and the security model.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from lightkube import ApiError
from markupsafe import Markup
from pydantic import ValidationError

from chronos import http
from chronos.api import uiforms as f
from chronos.api import uiviews as v
from chronos.api.deps import Components, Parts
from chronos.api.errors import ProblemError, as_problem, problem_response
from chronos.api.mapping import parse_time, run_records
from chronos.api.podmetrics import active_runs, anything_running
from chronos.api.runlog import MAX_LINES, Cursor, LogLine, LogUnavailableError, RunLogs, sse
from chronos.api.schemas import JobCreate, JobUpdate, PreviewIn
from chronos.api.services import JOBS, POD_LOGS, Caller
from chronos.api.session import COOKIE
from chronos.api.settings import DNS_LABEL
from chronos.api.streams import LimitedStream
from chronos.api.web import (
    STATIC,
    UI,
    SecurityHeaders,
    SignInRequiredError,
    UiCaller,
    check_csrf,
    cookie_secure,
    environment,
    first,
    page_context,
    read_form,
    same_origin,
)
from chronos.schedule import ScheduleError, next_run_times

log = logging.getLogger(__name__)
router = APIRouter(prefix=UI, include_in_schema=False)
_NAMESPACE = re.compile(DNS_LABEL)
#: Longest token a session cookie can carry (browsers keep cookies up to 4 KiB);
#: longer tokens work through an authenticating proxy's Authorization header.
MAX_COOKIE_TOKEN = 2800
#: An SSE stream ends after this long (the browser reconnects, the session is re-read).
STREAM_SECONDS = 300.0
HEARTBEAT_SECONDS = 15.0
#: After a followed log closes, how often and how long its pod's status is checked.
END_CHECKS = 10
END_CHECK_SECONDS = 0.5
REFRESH_SECONDS = 60.0
#: While a run is running, its CPU and memory change: refresh this often (metrics-server
#: scrapes every 10-60 s, so faster would show the same numbers).
USAGE_REFRESH_SECONDS = 15.0
#: How long a computed overview or jobs table is reused (relative times are this coarse).
FRESH_SECONDS = 15
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


# ------------------------------------------------------------------------ plumbing


async def _form(request: Request, parts: Parts, who: UiCaller) -> dict[str, list[str]]:
    """The posted form, once its CSRF token is the caller's."""
    form = await read_form(request)
    check_csrf(request, form, lambda sent: parts.sessions.csrf_ok(who.token, sent))
    return form


Form = Annotated[dict[str, list[str]], Depends(_form)]


def _render(parts: Components, who: Caller, name: str, status: int = 200, **ctx: Any) -> Response:
    context = page_context(who, parts.sessions.csrf(who.token), parts.authenticator is not None)
    body = environment().get_template(name).render({**context, **ctx})
    return HTMLResponse(body, status_code=status)


def _see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _job_url(namespace: str, job_id: str) -> str:
    return f"{UI}/jobs/{namespace}/{job_id}"


def _check_namespace(namespace: str) -> None:
    if not _NAMESPACE.match(namespace):
        raise ProblemError(404, f'no namespace "{namespace}"')


def _notice(request: Request) -> str | None:
    return DONE.get(request.query_params.get("done", ""))


async def _visible(parts: Components, who: Caller, wanted: str) -> list[str]:
    """Namespaces to show: ``wanted`` (403 if the caller may not list it), else every
    namespace with jobs that the caller may list."""
    if wanted:
        _check_namespace(wanted)
        await parts.jobs.authorize(who, "list", wanted)
        return [wanted]
    return [ns for ns in parts.cache.namespaces() if await parts.jobs.may(who, "list", ns)]


def _rows(parts: Components, namespaces: list[str]) -> list[tuple[dict[str, Any], v.JobRow]]:
    out = []
    for ns in namespaces:
        for entry in parts.cache.entries(ns):
            entry = parts.cache.rendered(entry)
            assert entry.view is not None
            out.append((entry.obj, v.job_row(entry.obj, entry.view)))
    return out


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------ sign-in


@router.get("/login")
async def login_page(request: Request, parts: Parts) -> Response:
    if parts.authenticator is None:
        return _see_other(f"{UI}/")
    return _render(parts, Caller(None), "login.html", notice=_notice(request), error=None)


@router.post("/login")
async def login(request: Request, parts: Parts) -> Response:
    if parts.authenticator is None:
        return _see_other(f"{UI}/")
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
        return _render(parts, Caller(None), "login.html", 401, notice=None, error=error)
    response = _see_other(f"{UI}/")
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
    response = _see_other(f"{UI}/login?done={done}")
    response.delete_cookie(
        COOKIE,
        path=UI,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request, parts.settings),
    )
    return response


# ------------------------------------------------------------------------ overview


class _Memo:
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


_memo = _Memo()


async def _overview(parts: Components, who: Caller) -> Markup:
    """The live part of the overview (the same for everyone who sees these namespaces
    and may abort runs in the same ones)."""
    namespaces = await _visible(parts, who, "")
    abortable = frozenset(
        [ns for ns in namespaces if await parts.jobs.may(who, "delete", ns, None, JOBS)]
    )
    # Read as the caller (their RBAC on metrics.k8s.io), so part of the key below.
    usage = await parts.pod_metrics.running(who.token, active_runs(parts.cache, namespaces))

    def compute() -> Markup:
        now = _now()
        model = v.overview(_rows(parts, namespaces), now, parts.settings.default_time_zone)
        template = environment().get_template("overview_live.html")
        html = template.render(o=model, now=now, v=v, abortable=abortable, usage=usage)
        return Markup(html)  # noqa: S704 - autoescaped

    key = ("overview", tuple(namespaces), abortable, usage)
    return _memo.get(parts, key, compute)  # type: ignore[no-any-return]


@router.get("/")
async def overview_page(request: Request, parts: Parts, who: UiCaller) -> Response:
    # The version first: a change while the page renders then reaches it over SSE.
    version = parts.cache.changes
    live = await _overview(parts, who)
    return _render(parts, who, "overview.html", notice=_notice(request), live=live, version=version)


@router.get("/fragments/overview")
async def overview_fragment(parts: Parts, who: UiCaller) -> Response:
    return HTMLResponse(await _overview(parts, who))


@router.get("/events")
async def events(request: Request, parts: Parts, who: UiCaller) -> Response:
    """``change`` whenever the watch cache changes (and each minute, for the clocks;
    every USAGE_REFRESH_SECONDS while a run is running, for its CPU and memory); the
    event id is the cache's change count, so a reconnect with Last-Event-ID (or the
    page's ``since``) learns of what it missed at once."""
    seen = request.headers.get("last-event-id") or request.query_params.get("since", "")
    slot = parts.stream_limits.acquire(who.name)

    async def stream() -> AsyncIterator[bytes]:
        nonlocal seen
        yield b"retry: 3000\n\n"
        start = last_sent = last_beat = time.monotonic()
        usage_due = start + USAGE_REFRESH_SECONDS
        while (now := time.monotonic()) - start < STREAM_SECONDS:
            if await request.is_disconnected():
                return
            version = str(parts.cache.changes)
            refresh = now - last_sent >= REFRESH_SECONDS
            if now >= usage_due:  # the cache is scanned once per period, not each second
                usage_due = now + USAGE_REFRESH_SECONDS
                refresh = refresh or anything_running(parts.cache)
            if version != seen or refresh:
                seen, last_sent, last_beat = version, now, now
                yield f"event: change\nid: {version}\ndata: {version}\n\n".encode()
            elif now - last_beat >= HEARTBEAT_SECONDS:
                last_beat = now
                yield b": heartbeat\n\n"
            await asyncio.sleep(1.0)

    return LimitedStream(
        stream(),
        slot,
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


# ---------------------------------------------------------------------------- jobs


@router.get("/jobs")
async def jobs_page(request: Request, parts: Parts, who: UiCaller) -> Response:
    q = request.query_params
    filters = v.Filters(
        name=q.get("name", ""),
        namespace=q.get("namespace", ""),
        label=q.get("label", ""),
        task_type=q.get("task_type", "") if q.get("task_type") in f.TASK_TYPES else "",
        state=q.get("state", "") if q.get("state") in v.STATES else "",
    )
    namespaces = await _visible(parts, who, filters.namespace)
    writable = {ns for ns in namespaces if await parts.jobs.may(who, "patch", ns)}
    page = _int(q.get("page"), 1)

    def table() -> Markup:
        rows = [row for _, row in _rows(parts, namespaces) if filters.match(row)]
        paging = v.paging(len(rows), page, v.JOBS_PAGE)
        params = dict(q.items())
        link = partial(v.page_link, f"{UI}/jobs", params)
        return Markup(  # noqa: S704 - the template's own autoescaped output
            environment()
            .get_template("jobs_table.html")
            .render(
                total=len(rows),
                rows=rows[paging.skip : paging.skip + paging.size],
                paging=paging,
                newer=link(paging.page - 1) if paging.page > 1 else None,
                older=link(paging.page + 1) if paging.page < paging.pages else None,
                writable=writable,
                now=_now(),
                v=v,
            )
        )

    key = ("jobs", tuple(namespaces), filters, page, frozenset(writable))
    return _render(
        parts,
        who,
        "jobs.html",
        notice=_notice(request),
        table=_memo.get(parts, key, table),
        filters=filters,
        writable=writable,
        task_types=f.TASK_TYPES,
        can_create=await parts.jobs.may(
            who, "create", filters.namespace or parts.settings.api_default_namespace
        ),
        states=v.STATES,
        here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )


@router.post("/jobs/bulk")
async def bulk(parts: Parts, who: UiCaller, form: Form) -> Response:
    action = first(form, "action")
    if action not in ("suspend", "resume"):
        raise ProblemError.invalid([("action", "must be suspend or resume")])
    targets = []
    for value in form.get("job", []):
        namespace, _, job_id = value.partition("/")
        _check_namespace(namespace)
        targets.append((namespace, job_id))
    for namespace, job_id in targets:  # every right first: all of the writes or none
        await parts.jobs.authorize(who, "patch", namespace, job_id)
    for namespace, job_id in targets:
        await parts.jobs.set_enabled(who, namespace, job_id, action == "resume", None)
    done = "resumed" if action == "resume" else "suspended"
    return _see_other(f"{UI}/jobs?done={done}")


@router.get("/jobs/{namespace}/{job_id}")
async def job_page(
    request: Request, parts: Parts, who: UiCaller, namespace: str, job_id: str
) -> Response:
    _check_namespace(namespace)
    await parts.jobs.authorize(who, "get", namespace, job_id)
    entry = await parts.jobs.get(who, namespace, job_id)
    assert entry.view is not None
    row = v.job_row(entry.obj, entry.view)
    # status.history is bounded by the CRD (a hundred records): page it here.
    history = await parts.jobs.history(who, namespace, job_id, skip=0, limit=10_000)
    paging = v.paging(history.total, _int(request.query_params.get("page"), 1))
    now = _now()
    try:
        upcoming = next_run_times(row.cron, row.zone, now, 10) if row.cron else []
    except (ScheduleError, ValueError):
        upcoming = []
    return _render(
        parts,
        who,
        "job.html",
        notice=_notice(request),
        row=row,
        view=entry.view,
        spec=entry.obj.get("spec") or {},
        runs=history.items[paging.skip : paging.skip + paging.size],
        paging=paging,
        next_runs=v.next_runs_marked(upcoming),
        stats=v.run_stats(run_records(entry.obj.get("status") or {})),
        events=await parts.jobs.events(who, namespace, job_id),
        can_patch=await parts.jobs.may(who, "patch", namespace, job_id),
        can_delete=await parts.jobs.may(who, "delete", namespace, job_id),
        now=now,
        v=v,
    )


def _int(text: str | None, default: int) -> int:
    try:
        return int(text or default)
    except ValueError:
        return default


@router.post("/jobs/{namespace}/{job_id}/enabled")
async def set_enabled(
    parts: Parts, who: UiCaller, form: Form, namespace: str, job_id: str
) -> Response:
    _check_namespace(namespace)
    enabled = first(form, "enabled") == "true"
    await parts.jobs.authorize(who, "patch", namespace, job_id)
    await parts.jobs.set_enabled(who, namespace, job_id, enabled, None)
    back = v.safe_next(first(form, "next"), _job_url(namespace, job_id))
    joiner = "&" if "?" in back else "?"
    return _see_other(f"{back}{joiner}done={'enabled' if enabled else 'disabled'}")


async def _confirm(
    parts: Components,
    who: Caller,
    namespace: str,
    job_id: str,
    action: str,
    verb: str,
    run: str = "",
) -> Response:
    """The page that asks before ``action`` (run, delete, abort a run), naming the job
    (and the run); only for a caller RBAC lets do it (``verb`` on the job; an abort
    needs ``get`` on the job and ``delete`` on the run's batch Job, see
    ``JobService.active_run``). Run now carries a fresh idempotency key."""
    _check_namespace(namespace)
    if action == "abort":
        entry = await parts.jobs.active_run(who, namespace, job_id, run)
    else:
        await parts.jobs.authorize(who, verb, namespace, job_id)
        entry = await parts.jobs.get(who, namespace, job_id)
    assert entry.view is not None
    key = uuid.uuid4().hex if action == "run" else ""
    url = _job_url(namespace, job_id) + (f"/runs/{run}/abort" if run else f"/{action}")
    row = v.job_row(entry.obj, entry.view)
    return _render(
        parts, who, "confirm.html", row=row, action=action, key=key, run=run, post_url=url
    )


@router.get("/jobs/{namespace}/{job_id}/run")
async def run_confirm(parts: Parts, who: UiCaller, namespace: str, job_id: str) -> Response:
    return await _confirm(parts, who, namespace, job_id, "run", "patch")


@router.post("/jobs/{namespace}/{job_id}/run")
async def run_now(parts: Parts, who: UiCaller, form: Form, namespace: str, job_id: str) -> Response:
    _check_namespace(namespace)
    await parts.jobs.authorize(who, "patch", namespace, job_id)
    # The key came with the confirm page: a second click of the same page is one run.
    answer = await parts.jobs.run_now(who, namespace, job_id, first(form, "key") or None)
    done = "run-again" if answer.already_requested else "run"
    return _see_other(f"{_job_url(namespace, job_id)}?done={done}")


@router.get("/jobs/{namespace}/{job_id}/delete")
async def delete_confirm(parts: Parts, who: UiCaller, namespace: str, job_id: str) -> Response:
    return await _confirm(parts, who, namespace, job_id, "delete", "delete")


@router.post("/jobs/{namespace}/{job_id}/delete")
async def delete(parts: Parts, who: UiCaller, form: Form, namespace: str, job_id: str) -> Response:
    _check_namespace(namespace)
    await parts.jobs.authorize(who, "delete", namespace, job_id)
    await parts.jobs.delete(who, namespace, job_id, None)
    return _see_other(f"{UI}/jobs?done=deleted")


@router.get("/jobs/{namespace}/{job_id}/runs/{run}/abort")
async def abort_confirm(
    parts: Parts, who: UiCaller, namespace: str, job_id: str, run: str
) -> Response:
    return await _confirm(parts, who, namespace, job_id, "abort", "delete", run)


@router.post("/jobs/{namespace}/{job_id}/runs/{run}/abort")
async def abort(
    parts: Parts, who: UiCaller, form: Form, namespace: str, job_id: str, run: str
) -> Response:
    _check_namespace(namespace)
    await parts.jobs.abort_run(who, namespace, job_id, run)
    return _see_other(f"{UI}/?done=aborted")


# ------------------------------------------------------------------------ run page


@dataclass(frozen=True)
class LogShown:
    """The log the run page shows, and where it comes from (the page says so)."""

    says: str
    lines: list[str]
    #: Why the pod's own log is not what is shown.
    note: str | None = None
    #: The SSE endpoint that continues it live (while the run's container runs).
    stream: str | None = None
    #: The cursor of the last line shown (where the live stream starts).
    since: str = ""


def _stored(view: v.RunView, note: str | None, stream: str | None = None) -> LogShown:
    lines = view.log_tail.splitlines()
    if lines:
        says = "the log tail kept with the run (the last 4 KiB the runner logged)"
    else:
        says = (
            "nothing yet"
            if view.active
            else "no log: none was kept with this run (only the newest 10 runs keep one)"
        )
    return LogShown(says, lines, note, stream)


async def _run_log(
    parts: Components, who: Caller, namespace: str, view: v.RunView, stream: str
) -> LogShown:
    """The pod's log, read as the caller, while the run's pod exists; else the tail the
    runner kept with the run, saying why."""
    if not await parts.jobs.may(who, "get", namespace, None, POD_LOGS):
        return _stored(
            view,
            f'You may not read pod logs in namespace "{namespace}" (Kubernetes RBAC: get '
            "pods/log), so the pod's own log is not shown.",
        )
    logs = RunLogs(parts.as_caller)
    try:
        pod = await logs.pod(who.token, namespace, view.run_id)
        if pod is None or not pod.started:
            if view.active or pod is not None:
                return _stored(view, "The run's pod has not started yet.", stream)
            return _stored(view, "The run's pod is gone (Kubernetes removed its Job).")
        read = logs.lines(who.token, namespace, pod.name, follow=False, tail=MAX_LINES)
        lines: list[LogLine] = [line async for line in read]
    except LogUnavailableError as exc:
        live = stream if view.active and not exc.forbidden else None
        return _stored(view, f"The run's pod log cannot be read: {exc}.", live)
    since = lines[-1].cursor if lines else ""
    texts = [line.text for line in lines]
    if pod.terminated:
        return LogShown(f"the log of pod {pod.name} (complete: its container has ended)", texts)
    return LogShown(f"live from pod {pod.name}", texts, None, stream, since)


async def _run(
    parts: Components, who: Caller, namespace: str, job_id: str, run: str
) -> tuple[v.JobRow, v.RunView, datetime]:
    _check_namespace(namespace)
    await parts.jobs.authorize(who, "get", namespace, job_id)
    entry = await parts.jobs.get(who, namespace, job_id)
    assert entry.view is not None
    record, active = v.find_run(entry.obj.get("status") or {}, run)
    if record is None and not active:
        raise ProblemError(404, f'job "{job_id}" has no run "{run}"')
    now = _now()
    return v.job_row(entry.obj, entry.view), v.run_view(run, record, active, now), now


@router.get("/jobs/{namespace}/{job_id}/runs/{run}")
async def run_page(parts: Parts, who: UiCaller, namespace: str, job_id: str, run: str) -> Response:
    # The version first: a change while the page renders then reaches it over SSE.
    version = parts.cache.changes
    row, view, now = await _run(parts, who, namespace, job_id, run)
    url = f"{_job_url(namespace, job_id)}/runs/{quote(run, safe='')}"
    return _render(
        parts,
        who,
        "run.html",
        row=row,
        r=view,
        log=await _run_log(parts, who, namespace, view, f"{url}/log/events"),
        max_lines=MAX_LINES,
        now=now,
        v=v,
        version=version,
        summary_url=f"{url}/summary",
    )


@router.get("/jobs/{namespace}/{job_id}/runs/{run}/summary")
async def run_summary(
    parts: Parts, who: UiCaller, namespace: str, job_id: str, run: str
) -> Response:
    """The run page's banner, timings and entity results, fetched again at each change
    of the watch cache while the page shows a run in progress."""
    _, view, now = await _run(parts, who, namespace, job_id, run)
    template = environment().get_template("run_summary.html")
    return HTMLResponse(template.render(r=view, now=now, v=v))


@router.get("/jobs/{namespace}/{job_id}/runs/{run}/log/events")
async def run_log_events(
    request: Request, parts: Parts, who: UiCaller, namespace: str, job_id: str, run: str
) -> Response:
    """The run's pod log, followed as the caller: a ``line`` event per line (its id a
    cursor, so a reconnect with Last-Event-ID resumes after it), a heartbeat comment,
    ``end`` once the container has ended, ``waiting`` (the stream closes and the browser
    comes back) while the pod has not started, ``unavailable`` when it cannot be read."""
    _check_namespace(namespace)
    await parts.jobs.authorize(who, "get", namespace, job_id)
    entry = await parts.jobs.get(who, namespace, job_id)
    since = Cursor.parse(request.headers.get("last-event-id") or request.query_params.get("since"))
    record, active = v.find_run(entry.obj.get("status") or {}, run)
    if record is None and not active:  # only the pods of this job's runs
        raise ProblemError(404, f'job "{job_id}" has no run "{run}"')
    logs = RunLogs(parts.streaming)
    return LimitedStream(
        _follow(logs, who, namespace, run, since, active=active),
        parts.stream_limits.acquire(who.name),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


async def _follow(
    logs: RunLogs, who: Caller, namespace: str, run: str, since: Cursor | None, *, active: bool
) -> AsyncIterator[bytes]:
    yield b"retry: 3000\n\n"
    try:
        pod = await logs.pod(who.token, namespace, run)
    except LogUnavailableError as exc:
        yield sse("unavailable", str(exc))
        return
    if pod is None or not pod.started:
        # The stream closes and the browser comes back after the retry time.
        yield (
            sse("waiting", "The run's pod has not started yet.")
            if active or pod is not None
            else sse("end", "the run's pod is gone")
        )
        return
    # The upstream is read by a task so that heartbeats go out while no line comes; the
    # bounded queue holds the upstream back when the browser reads slowly.
    queue: asyncio.Queue[LogLine | Exception | None] = asyncio.Queue(maxsize=MAX_LINES)

    async def pump() -> None:
        try:
            async for line in logs.lines(who.token, namespace, pod.name, follow=True, since=since):
                await queue.put(line)
            await queue.put(None)
        except Exception as exc:  # noqa: BLE001 - told to the reader, then the stream ends
            await queue.put(exc)

    task = asyncio.create_task(pump())
    start = time.monotonic()
    try:
        while time.monotonic() - start < STREAM_SECONDS:
            try:
                item = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            if item is None:
                break
            if isinstance(item, Exception):
                yield sse("unavailable", f"the log could not be read: {item}")
                return
            yield sse("line", item.text, item.cursor)
        else:
            return  # the browser reconnects with Last-Event-ID and resumes
        # The API server ended the follow: for good when the container has ended, which
        # the pod's status says a moment after its log closes (the kubelet reports it).
        for _ in range(END_CHECKS):
            try:
                after = await logs.pod(who.token, namespace, run)
            except LogUnavailableError:
                after = None
            if after is None or after.terminated:
                yield sse("end", after.reason if after and after.reason else "the pod is gone")
                return
            await asyncio.sleep(END_CHECK_SECONDS)
        # Still running (the API server closed a long follow): the browser resumes.
    finally:
        task.cancel()


# --------------------------------------------------------------------- the job form


def _preview(parts: Components, values: f.FormValues) -> Markup:
    """The schedule's words and next runs (ScheduleService.preview, as the REST route),
    or why it is not valid."""
    body, errors = f.schedule_body(values)
    template = environment().get_template("preview.html")
    try:
        if errors:
            raise ProblemError.invalid(errors)
        sent = {k: val for k, val in body.items() if val is not None}
        try:
            request = PreviewIn.model_validate({**sent, "count": 5})
        except ValidationError as exc:
            raise ProblemError.invalid(f.pydantic_errors(exc.errors())) from None
        out = parts.schedules.preview(request)
    except ProblemError as problem:
        if problem.status != 422:
            raise
        return Markup(template.render(problem=problem.detail))  # noqa: S704 - autoescaped
    runs = v.next_runs_marked([t for t in map(parse_time, out.next_run_times) if t])
    html = template.render(
        problem=None, description=out.description, cron=out.cron_expression, runs=runs
    )
    return Markup(html)  # noqa: S704 - autoescaped


def _form_page(
    parts: Components,
    who: Caller,
    values: f.FormValues,
    *,
    action: str,
    cancel: str,
    creating: bool,
    problem: ProblemError | None = None,
) -> Response:
    errors = f.by_field(problem.errors or []) if problem else {}
    return _render(
        parts,
        who,
        "job_form.html",
        problem.status if problem else 200,
        f=values,
        creating=creating,
        action=action,
        cancel=cancel,
        errors=errors,
        message=problem.detail if problem else None,
        preview=_preview(parts, values),
        task_types=f.TASK_TYPES,
        write_methods=f.WRITE_METHODS,
        weekdays=f.WEEKDAYS,
        zones=f.zones(),
        default_zone=parts.settings.default_time_zone,
    )


def _validated(model: type[JobCreate] | type[JobUpdate], values: f.FormValues) -> Any:
    body, errors = f.request_body(values, creating=model is JobCreate)
    if errors:
        raise ProblemError.invalid(errors)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ProblemError.invalid(f.pydantic_errors(exc.errors())) from None


@router.get("/jobs/new")
async def new_job(request: Request, parts: Parts, who: UiCaller) -> Response:
    namespace = request.query_params.get("namespace") or parts.settings.api_default_namespace
    _check_namespace(namespace)
    await parts.jobs.authorize(who, "create", namespace)
    values = f.FormValues(namespace=namespace)
    return _form_page(
        parts, who, values, action=f"{UI}/jobs/new", cancel=f"{UI}/jobs", creating=True
    )


@router.post("/jobs/new")
async def create_job(parts: Parts, who: UiCaller, form: Form) -> Response:
    values = f.values_from_form(form)
    namespace = values.namespace or parts.settings.api_default_namespace
    _check_namespace(namespace)
    await parts.jobs.authorize(who, "create", namespace)
    try:
        entry = await parts.jobs.create(who, namespace, _validated(JobCreate, values))
    except ProblemError as problem:
        if problem.status != 422:
            raise
        return _form_page(
            parts,
            who,
            values,
            action=f"{UI}/jobs/new",
            cancel=f"{UI}/jobs",
            creating=True,
            problem=problem,
        )
    return _see_other(f"{_job_url(namespace, entry.obj['metadata']['name'])}?done=created")


@router.get("/jobs/{namespace}/{job_id}/edit")
async def edit_job(parts: Parts, who: UiCaller, namespace: str, job_id: str) -> Response:
    _check_namespace(namespace)
    for verb in ("get", "patch"):
        await parts.jobs.authorize(who, verb, namespace, job_id)
    entry = await parts.jobs.get(who, namespace, job_id)
    assert entry.view is not None
    url = _job_url(namespace, job_id)
    return _form_page(
        parts,
        who,
        f.values_from_view(entry.view, entry.obj["metadata"].get("generation")),
        action=f"{url}/edit",
        cancel=url,
        creating=False,
    )


@router.post("/jobs/{namespace}/{job_id}/edit")
async def save_job(
    parts: Parts, who: UiCaller, form: Form, namespace: str, job_id: str
) -> Response:
    _check_namespace(namespace)
    for verb in ("get", "patch"):
        await parts.jobs.authorize(who, verb, namespace, job_id)
    values = f.values_from_form(form)
    url = _job_url(namespace, job_id)
    # The settings the form was read at: a change made meanwhile is a 412, not overwritten.
    read_at = int(values.generation) if values.generation.isdigit() else None
    try:
        body = _validated(JobUpdate, values)
        await parts.jobs.update(who, namespace, job_id, body, None, generation=read_at)
    except ProblemError as problem:
        if problem.status not in (412, 422):
            raise
        return _form_page(
            parts, who, values, action=f"{url}/edit", cancel=url, creating=False, problem=problem
        )
    return _see_other(f"{url}?done=saved")


@router.post("/schedule/preview")
async def preview(parts: Parts, who: UiCaller, form: Form) -> Response:
    return HTMLResponse(_preview(parts, f.values_from_form(form)))


# ---------------------------------------------------------------------- the wiring


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
        return _see_other(f"{UI}/")

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
        return _see_other(f"{UI}/login")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(ApiError, on_problem)
    app.add_exception_handler(http.TransportError, on_problem)
    app.add_exception_handler(SignInRequiredError, on_sign_in)
