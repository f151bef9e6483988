"""Prometheus metrics: request counts and latencies per route, cache size and events.

They are served on a port of their own (CHRONOS_API_METRICS_PORT), which the Service
for users does not expose: cluster-wide job counts are for the operators' Prometheus.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chronos.api.limits import method_label, route_label, status_label


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "chronos_api_requests",
            "HTTP requests by method, route template and status class (each from a fixed set).",
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

    def follow(self, cache: CacheCounts) -> None:
        """Read the cache's figures at each scrape (the scrape runs on another thread:
        each read is one attribute or ``len``)."""
        self.cached_jobs.set_function(lambda: len(cache))
        self.watch_events.set_function(lambda: cache.events)
        self.relists.set_function(lambda: cache.relists)

    def serve(self, host: str, port: int) -> MetricsServer:
        """/metrics on ``host:port`` (prometheus_client's own server, on a thread)."""
        server, thread = start_http_server(port, host, registry=self.registry)
        return MetricsServer(server, thread)


class CacheCounts(Protocol):
    events: int
    relists: int

    def __len__(self) -> int: ...


class MetricsServer:
    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


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
            # Every label from a fixed set: a request's own method or path never becomes one.
            method, route = method_label(scope["method"]), route_label(scope)
            m = self.metrics
            m.requests.labels(method, route, status_label(status)).inc()
            m.latency.labels(method, route).observe(time.perf_counter() - started)
