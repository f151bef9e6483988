"""Prometheus metrics: request counts and latencies per route, cache size and events."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "chronos_api_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "chronos_api_request_duration_seconds",
            "HTTP request latency by method and route.",
            ["method", "route"],
            registry=self.registry,
        )
        self.cached_jobs = Gauge(
            "chronos_api_cached_jobs", "ChronosJobs in the watch cache.", registry=self.registry
        )
        self.watch_events = Gauge(
            "chronos_api_watch_events",
            "Objects applied from LISTs and watch events since start.",
            registry=self.registry,
        )
        self.relists = Gauge(
            "chronos_api_cache_relists",
            "Full LISTs of ChronosJobs since start.",
            registry=self.registry,
        )


class MetricsMiddleware:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            m = self.metrics
            m.requests.labels(scope["method"], path, str(status)).inc()
            m.latency.labels(scope["method"], path).observe(time.perf_counter() - started)
