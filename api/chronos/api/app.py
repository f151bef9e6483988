"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from chronos import kube
from chronos.api import errors
from chronos.api.auth import Authenticator, Authorizer, install_impersonation
from chronos.api.cache import JobCache
from chronos.api.deps import Components
from chronos.api.docs import docs_router
from chronos.api.mapping import job_view
from chronos.api.metrics import Metrics, MetricsMiddleware
from chronos.api.routes import health_router, jobs_router, schedule_router
from chronos.api.services import JobService, ScheduleService
from chronos.api.settings import ApiSettings

log = logging.getLogger(__name__)

DESCRIPTION = """\
The Chronos REST job API over ChronosJob resources.

Job ids are the ChronosJobs' names (strings, not the integers of the original Chronos).
Every route under `/api` needs `Authorization: Bearer <Kubernetes token>`; the facade
acts as the caller, so Kubernetes RBAC on `chronosjobs.chronos.gluesync.io` decides.
"""


def _build(settings: ApiSettings, metrics: Metrics) -> Components:
    own = kube.async_client(settings.api_kubeconfig)
    as_caller = kube.async_client(settings.api_kubeconfig)
    install_impersonation(as_caller, required=not settings.api_auth_disabled)
    zone = settings.default_time_zone

    def render(obj: dict[str, Any], now: datetime) -> tuple[dict[str, Any], float]:
        return job_view(obj, zone, now)

    cache = JobCache(own, render)
    auth_off = settings.api_auth_disabled
    authorizer = None if auth_off else Authorizer(own, settings.api_access_cache_seconds)
    authenticator = (
        None
        if auth_off
        else Authenticator(own, settings.api_token_cache_seconds, settings.api_token_audiences)
    )
    return Components(
        settings=settings,
        own=own,
        as_caller=as_caller,
        cache=cache,
        jobs=JobService(
            cache=cache, client=as_caller, authorizer=authorizer, default_time_zone=zone
        ),
        schedules=ScheduleService(zone),
        authenticator=authenticator,
        metrics=metrics,
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
        components = _build(settings, metrics)
        app.state.components = components
        watcher = asyncio.create_task(components.cache.run(), name="chronosjob-cache")
        try:
            yield
        finally:
            watcher.cancel()
            with suppress(asyncio.CancelledError):
                await watcher
            await components.own.aclose()
            await components.as_caller.aclose()

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

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
