"""The overview page and the server-sent events that tell every page of a change."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from chronos.api import runsview as rv
from chronos.api import stats as st
from chronos.api import uiviews as v
from chronos.api.deps import Components, Parts
from chronos.api.podmetrics import active_runs, anything_running
from chronos.api.services import JOBS, Caller
from chronos.api.streams import LimitedStream
from chronos.api.ui.pages import (
    HEARTBEAT_SECONDS,
    STREAM_SECONDS,
    job_rows,
    memo,
    notice,
    now_utc,
    render,
    visible_namespaces,
)
from chronos.api.web import UiCaller, environment

router = APIRouter()

#: A change event goes out at least this often (the pages' clocks and relative times).
REFRESH_SECONDS = 60.0
#: While a run is running, its CPU and memory change: refresh this often (metrics-server
#: scrapes every 10-60 s, so faster would show the same numbers).
USAGE_REFRESH_SECONDS = 15.0


async def _overview(parts: Components, who: Caller) -> Markup:
    """The live part of the overview (the same for everyone who sees these namespaces
    and may abort runs in the same ones)."""
    namespaces = await visible_namespaces(parts, who, "")
    abortable = frozenset(
        [ns for ns in namespaces if await parts.jobs.may(who, "delete", ns, None, JOBS)]
    )
    # Read as the caller (their RBAC on metrics.k8s.io), so part of the key below.
    usage = await parts.pod_metrics.running(who.token, active_runs(parts.cache, namespaces))

    def compute() -> Markup:
        now = now_utc()
        model = v.overview(job_rows(parts, namespaces), now, parts.settings.default_time_zone)
        template = environment().get_template("overview_live.html")
        html = template.render(o=model, now=now, v=v, abortable=abortable, usage=usage)
        return Markup(html)  # noqa: S704 - autoescaped

    key = ("overview", tuple(namespaces), abortable, usage)
    return memo.get(parts, key, compute)  # type: ignore[no-any-return]


async def _over_time(parts: Components, who: Caller) -> st.Stats:
    """Stats over time of every run the caller may read (shared like the live part)."""
    namespaces = await visible_namespaces(parts, who, "")

    def compute() -> st.Stats:
        rows = rv.row_cache.rows(job_rows(parts, namespaces))
        return st.stats(rows, now_utc(), parts.settings.default_time_zone)

    return memo.get(parts, ("over-time", tuple(namespaces)), compute)  # type: ignore[no-any-return]


@router.get("/")
async def overview_page(request: Request, parts: Parts, who: UiCaller) -> Response:
    # The version first: a change while the page renders then reaches it over SSE.
    version = parts.cache.changes
    live = await _overview(parts, who)
    return render(
        parts,
        who,
        "overview.html",
        notice=notice(request),
        live=live,
        version=version,
        over_time=await _over_time(parts, who),
        st=st,
    )


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
