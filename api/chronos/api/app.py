"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from chronos import kube
from chronos.api import errors, ui
from chronos.api.auth import Authenticator, Authorizer, caller_client
from chronos.api.cache import JobCache
from chronos.api.deps import Components
from chronos.api.docs import docs_router
from chronos.api.limits import BodyLimit
from chronos.api.mapping import job_view
from chronos.api.metrics import Metrics, MetricsMiddleware
from chronos.api.podmetrics import PodMetricsReader
from chronos.api.previews import ScheduleService
from chronos.api.routes import health_router, jobs_router, schedule_router
from chronos.api.runs import RunService
from chronos.api.services import JobService
from chronos.api.session import SessionCodec
from chronos.api.settings import ApiSettings
from chronos.api.signouts import SignOuts
from chronos.api.streams import StreamLimits
from chronos.models.wire import ChronosJobDict
from chronos.readiness import Readiness

log = logging.getLogger(__name__)

DESCRIPTION = """\
The Chronos REST job API over ChronosJob resources.

Job ids are the ChronosJobs' names (strings, not the integers of the original Chronos).
Every route under `/api` needs `Authorization: Bearer <Kubernetes token>`; the facade
checks the caller's RBAC on `chronosjobs.chronos.gluesync.io` first and forwards the
caller's own token to Kubernetes for every call made for them.
"""


def _build(settings: ApiSettings, metrics: Metrics) -> Components:
    # The facade's own credentials serve only the shared cache's list and watch (and,
    # with auth off, everything); calls for a caller carry the caller's token.
    own = kube.async_client(settings.api_kubeconfig)
    auth_off = settings.api_auth_disabled
    short = kube.Pool(settings.api_kube_connections, settings.api_kube_pool_wait_seconds)
    # A stream admitted by ``stream_limits`` always finds a connection of its pool.
    long = kube.Pool(settings.api_max_streams, settings.api_kube_pool_wait_seconds)
    if auth_off:
        as_caller = kube.async_client(settings.api_kubeconfig, pool=short)
        streaming = kube.async_client(settings.api_kubeconfig, pool=long)
    else:
        as_caller = caller_client(settings.api_kubeconfig, short)
        streaming = caller_client(settings.api_kubeconfig, long)
    zone = settings.default_time_zone
    min_interval = settings.min_interval_seconds

    def render(obj: ChronosJobDict, now: datetime) -> tuple[dict[str, Any], float]:
        return job_view(obj, zone, now, min_interval)

    cache = JobCache(own, render, Readiness(grace=settings.ready_grace_seconds))
    authorizer = None if auth_off else Authorizer(as_caller, settings.api_access_cache_seconds)
    authenticator = None if auth_off else Authenticator(as_caller, settings.api_token_cache_seconds)
    jobs = JobService(
        cache=cache,
        client=as_caller,
        authorizer=authorizer,
        default_time_zone=zone,
        min_interval_seconds=min_interval,
    )
    return Components(
        settings=settings,
        own=own,
        as_caller=as_caller,
        cache=cache,
        jobs=jobs,
        runs=RunService(jobs=jobs, client=as_caller),
        schedules=ScheduleService(zone, min_interval, jobs=jobs),
        authenticator=authenticator,
        metrics=metrics,
        sessions=SessionCodec(_session_key(settings), settings.api_session_seconds),
        sign_outs=SignOuts(own, settings.api_sign_out_config_map, settings.api_session_seconds),
        pod_metrics=PodMetricsReader(as_caller),
        streaming=streaming,
        stream_limits=StreamLimits(settings.api_max_streams_per_user, settings.api_max_streams),
    )


def _session_key(settings: ApiSettings) -> bytes:
    if settings.api_session_key is not None:
        return settings.api_session_key.get_secret_value().encode()
    if not settings.api_auth_disabled:
        log.warning(
            "CHRONOS_API_SESSION_KEY is not set: dashboard sessions use a key of this "
            "process only (they end when it restarts and fail across replicas)"
        )
    return secrets.token_bytes(32)


def _warn_local_sign_out(settings: ApiSettings) -> None:
    if settings.api_sign_out_config_map is None and not settings.api_auth_disabled:
        log.warning(
            "CHRONOS_API_SIGN_OUT_CONFIG_MAP is not set: a dashboard sign-out ends the "
            "user's sessions on this process only (docs/ui.md)"
        )


def create_app(settings: ApiSettings) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.api_auth_disabled:
            banner = "!" * 78
            log.warning(
                "%s\nCHRONOS_API_AUTH_DISABLED is true: NO AUTHENTICATION. Every request acts "
                "with the facade's own Kubernetes credentials. Local development only!\n%s",
                banner,
                banner,
            )
        _warn_local_sign_out(settings)
        components = _build(settings, metrics)
        app.state.components = components
        metrics.follow(components.cache)
        exporter = metrics.serve(settings.api_host, settings.api_metrics_port)
        watchers = [
            asyncio.create_task(components.cache.run(), name="chronosjob-cache"),
            asyncio.create_task(components.sign_outs.run(), name="sign-outs"),
        ]
        try:
            yield
        finally:
            exporter.close()
            for watcher in watchers:
                watcher.cancel()
                with suppress(asyncio.CancelledError):
                    await watcher
            clients = (components.own, components.as_caller, components.streaming)
            for client in {id(c): c for c in clients}.values():
                await client.aclose()

    app = FastAPI(
        title="Chronos API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # chronos.api.docs serves it, without a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.metrics = metrics
    errors.install(app)
    app.include_router(jobs_router)
    app.include_router(schedule_router)
    app.include_router(health_router)
    app.include_router(docs_router)
    ui.install(app)

    # Outermost but for the metrics (which count its 413s): no route, dependency or
    # middleware below ever sees more than CHRONOS_API_MAX_BODY_BYTES of a body.
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_page_limits(
                get_openapi_schema(), settings.api_max_page_size
            )
        return app.openapi_schema

    get_openapi_schema = app.openapi
    app.openapi = openapi  # type: ignore[method-assign]
    return app


def document_page_limits(schema: dict[str, Any], maximum: int) -> dict[str, Any]:
    """State the configured CHRONOS_API_MAX_PAGE_SIZE as every ``limit``'s maximum
    (the routes are declared before any settings exist)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and parameter.get("name") == "limit":
                    parameter["schema"]["maximum"] = maximum
    return schema
