"""The Cluster page (Cronicle's Admin > Servers): the operator's replicas and which one
leads, the facade's replicas, the nodes that ran runs, the operator's work figures.

Everything is read with the signed-in user's own token (``acting_as``), so RBAC
decides what the page shows; a read that is refused is said calmly
(``clusterview.note``), never a 500. The live part (``/ui/fragments/cluster``) is
polled by htmx every LIVE_SECONDS, so a leader failover shows without a reload.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from lightkube import ApiError
from lightkube.operators import exists
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import ConfigMap, Pod
from markupsafe import Markup

from chronos import contract as c
from chronos import http
from chronos.api import clusterview as cv
from chronos.api.auth import acting_as, token_key
from chronos.api.cache import plain
from chronos.api.deps import Components, Parts
from chronos.api.services import Caller
from chronos.api.ui.pages import now_utc, render, visible_namespaces
from chronos.api.web import UiCaller, environment
from chronos.models.figures import figures_config_map

router = APIRouter()

#: How often the page's live part is fetched again (the figures refresh every 10 s,
#: the lease every few seconds).
LIVE_SECONDS = 5
#: Each read waits at most this long (a slow API server costs the page this, no more).
READ_SECONDS = 3.0
#: The runs' pods (the nodes) of at most this many namespaces, read at most every
#: NODES_SECONDS per user: they change slowly and a namespace may hold many pods.
MAX_NODE_NAMESPACES = 50
NODES_SECONDS = 30.0
_nodes_cache: dict[tuple[str, str], tuple[float, cv.Read]] = {}
_MAX_CACHED = 4096


def _selector(text: str) -> dict[str, str]:
    """``key=value,…`` (the settings' pattern admits nothing else) as lightkube's labels."""
    return dict(term.split("=", 1) for term in text.split(","))


def _where(parts: Components) -> tuple[str, str, str]:
    """The pods' namespace, the Lease's namespace and name."""
    settings = parts.settings
    home = settings.api_cluster_namespace or parts.own.namespace
    lease_ns, _, lease = settings.api_operator_lease.rpartition("/")
    return home, lease_ns or home, lease


async def _read(what: str, call: Callable[[], Awaitable[list[dict[str, Any]]]]) -> cv.Read:
    try:
        async with asyncio.timeout(READ_SECONDS):
            return cv.Read("ok", tuple(await call()), what)
    except ApiError as exc:
        code = exc.status.code
        state: cv.State = "forbidden" if code == 403 else "missing" if code == 404 else "error"
        return cv.Read(state, (), what)
    except (TimeoutError, http.HTTPError):
        return cv.Read("error", (), what)


async def _reads(parts: Components, who: Caller) -> cv.ClusterView:
    home, lease_ns, lease = _where(parts)
    client = parts.as_caller
    settings = parts.settings

    async def pods(namespace: str, labels: dict[str, Any]) -> list[dict[str, Any]]:
        return [plain(p) async for p in client.list(Pod, namespace=namespace, labels=labels)]

    async def one(kind: Any, name: str, namespace: str) -> list[dict[str, Any]]:
        return [plain(await client.get(kind, name, namespace=namespace))]

    async def run_pods(namespace: str) -> cv.Read:
        key = (token_key(who.token or ""), namespace)
        hit = _nodes_cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        read = await _read(
            f'the runs\' pods in namespace "{namespace}"',
            lambda: pods(namespace, {c.JOB_LABEL: exists()}),
        )
        if len(_nodes_cache) >= _MAX_CACHED:
            _nodes_cache.clear()
        _nodes_cache[key] = (time.monotonic() + NODES_SECONDS, read)
        return read

    visible = await visible_namespaces(parts, who, "")
    with acting_as(who.token):
        reads = await asyncio.gather(
            _read(
                f'the operator\'s pods in namespace "{home}"',
                lambda: pods(home, _selector(settings.api_operator_pod_selector)),
            ),
            _read(
                f'the dashboard\'s pods in namespace "{home}"',
                lambda: pods(home, _selector(settings.api_pod_selector)),
            ),
            _read(f'the leader lease "{lease_ns}/{lease}"', lambda: one(Lease, lease, lease_ns)),
            _read(
                f'the operator\'s figures (ConfigMap "{lease_ns}/{figures_config_map(lease)}")',
                lambda: one(ConfigMap, figures_config_map(lease), lease_ns),
            ),
            *(run_pods(ns) for ns in visible[:MAX_NODE_NAMESPACES]),
        )
    operator_pods, facade_pods, lease_read, figures, *runs = reads
    view = cv.cluster_view(
        operator_pods=operator_pods,
        facade_pods=facade_pods,
        lease=lease_read,
        figures=figures,
        run_pods=dict(zip(visible[:MAX_NODE_NAMESPACES], runs, strict=True)),
        visible=visible,
        now=now_utc(),
    )
    if len(visible) > MAX_NODE_NAMESPACES:
        view.notes.append(
            f"Nodes are listed from the runs of the first {MAX_NODE_NAMESPACES} of your "
            f"{len(visible)} namespaces."
        )
    return view


def _live(view: cv.ClusterView) -> Markup:
    template = environment().get_template("cluster_live.html")
    html = template.render(c=view, now=now_utc(), seconds=cv.seconds)
    return Markup(html)  # noqa: S704 - autoescaped


@router.get("/cluster")
async def cluster_page(parts: Parts, who: UiCaller) -> Response:
    view = await _reads(parts, who)
    return render(parts, who, "cluster.html", live=_live(view), every=LIVE_SECONDS)


@router.get("/fragments/cluster")
async def cluster_fragment(parts: Parts, who: UiCaller) -> Response:
    return HTMLResponse(_live(await _reads(parts, who)))
