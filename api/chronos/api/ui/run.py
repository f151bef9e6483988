"""A run's page: its summary (fetched again at each change), its log (read and then
followed live as the caller, each line rendered by the one macro of runlog_line.html,
downloadable as raw text), and its Abort button."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from chronos.api import uiviews as v
from chronos.api.deps import Components, Parts
from chronos.api.errors import ProblemError
from chronos.api.runlog import (
    LEVEL_CHOICES,
    MAX_LINES,
    Cursor,
    Entry,
    LogLine,
    LogUnavailableError,
    RunLogs,
    attachment,
    download_name,
    parse_line,
    sse,
    steps_of,
)
from chronos.api.services import JOBS, POD_LOGS, Caller
from chronos.api.streams import LimitedStream
from chronos.api.ui.pages import (
    HEARTBEAT_SECONDS,
    STREAM_SECONDS,
    Form,
    check_namespace,
    confirm,
    job_url,
    now_utc,
    readable_job,
    render,
    see_other,
)
from chronos.api.web import UI, UiCaller, environment

router = APIRouter()
#: After a followed log closes, how often and how long its pod's status is checked.
END_CHECKS = 10
END_CHECK_SECONDS = 0.5


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

    @property
    def entries(self) -> list[Entry]:
        return [parse_line(line) for line in self.lines]


def log_line(text: str) -> str:
    """One log line as the run page shows it: the same macro renders the lines of the
    page as it is made and each line its live stream sends."""
    macro = environment().get_template("runlog_line.html").module.line  # type: ignore[attr-defined]
    return str(macro(parse_line(text)))


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
    entry, view = await readable_job(parts, who, namespace, job_id)
    record, active = v.find_run(entry.obj.get("status") or {}, run)
    if record is None and not active:
        raise ProblemError(404, f'job "{job_id}" has no run "{run}"')
    now = now_utc()
    return v.job_row(entry.obj, view), v.run_view(run, record, active, now), now


@router.get("/jobs/{namespace}/{job_id}/runs/{run}")
async def run_page(parts: Parts, who: UiCaller, namespace: str, job_id: str, run: str) -> Response:
    # The version first: a change while the page renders then reaches it over SSE.
    version = parts.cache.changes
    row, view, now = await _run(parts, who, namespace, job_id, run)
    url = f"{job_url(namespace, job_id)}/runs/{quote(run, safe='')}"
    log = await _run_log(parts, who, namespace, view, f"{url}/log/events")
    entries = log.entries
    return render(
        parts,
        who,
        "run.html",
        row=row,
        r=view,
        log=log,
        entries=entries,
        steps=steps_of(entries),
        levels=LEVEL_CHOICES,
        download_url=f"{url}/log/raw",
        max_lines=MAX_LINES,
        now=now,
        v=v,
        version=version,
        summary_url=f"{url}/summary",
        can_abort=view.active and await parts.jobs.may(who, "delete", namespace, run, JOBS),
    )


@router.get("/jobs/{namespace}/{job_id}/runs/{run}/summary")
async def run_summary(
    parts: Parts, who: UiCaller, namespace: str, job_id: str, run: str
) -> Response:
    """The run page's banner, timings and entity results, fetched again at each change
    of the watch cache while the page shows a run in progress."""
    row, view, now = await _run(parts, who, namespace, job_id, run)
    template = environment().get_template("run_summary.html")
    return HTMLResponse(template.render(row=row, r=view, now=now, v=v))


@router.get("/jobs/{namespace}/{job_id}/runs/{run}/log/events")
async def run_log_events(
    request: Request, parts: Parts, who: UiCaller, namespace: str, job_id: str, run: str
) -> Response:
    """The run's pod log, followed as the caller: a ``line`` event per line (its id a
    cursor, so a reconnect with Last-Event-ID resumes after it), a heartbeat comment,
    ``end`` once the container has ended, ``waiting`` (the stream closes and the browser
    comes back) while the pod has not started, ``unavailable`` when it cannot be read."""
    entry, _ = await readable_job(parts, who, namespace, job_id)
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
            yield sse("line", log_line(item.text), item.cursor)
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


@router.get("/jobs/{namespace}/{job_id}/runs/{run}/log/raw")
async def run_log_raw(
    parts: Parts, who: UiCaller, namespace: str, job_id: str, run: str
) -> Response:
    """The lines the run page shows (the pod's newest lines, read as the caller, or the
    tail kept with the run), as they were logged: a text file to save."""
    _, view, _ = await _run(parts, who, namespace, job_id, run)
    log = await _run_log(parts, who, namespace, view, "")
    return Response(
        "".join(f"{line}\n" for line in log.lines),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": attachment(download_name(job_id, run))},
    )


@router.get("/jobs/{namespace}/{job_id}/runs/{run}/abort")
async def abort_confirm(
    parts: Parts, who: UiCaller, namespace: str, job_id: str, run: str
) -> Response:
    return await confirm(parts, who, namespace, job_id, "abort", "delete", run)


@router.post("/jobs/{namespace}/{job_id}/runs/{run}/abort")
async def abort(
    parts: Parts, who: UiCaller, form: Form, namespace: str, job_id: str, run: str
) -> Response:
    check_namespace(namespace)
    await parts.runs.abort(who, namespace, job_id, run)
    return see_other(f"{UI}/?done=aborted")
