"""Bounds on what one anonymous client controls: request body size, metric labels.

:class:`BodyLimit` is pure ASGI, outside every route: a request whose Content-Length
passes CHRONOS_API_MAX_BODY_BYTES is answered 413 before anything reads it, and a body
without one (chunked) is counted as it arrives and cut off with 413 once it passes the
limit. uvicorn reads a request only as fast as the app asks for it, so nothing past the
limit is ever held in memory, whoever sends it and whatever route it names.

The label functions map everything a request chooses (its method, its path, the status
it provoked) to a fixed set, so no request adds a series to /metrics.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The methods a route serves; any other token a client sends is counted as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


def route_label(scope: Scope) -> str:
    """The template of the route that served the request (``/api/jobs/{job_id}``), never
    the path the client sent."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def status_label(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


class BodyTooLargeError(HTTPException):
    """Raised by the limited ``receive``: an HTTPException, so FastAPI's body reading
    passes it on unchanged and the app's handler answers it like any 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses those before us
    return None


CLOSE = (b"connection", b"close")


def has_body(scope: Scope, declared: int | None) -> bool:
    if declared is not None:
        return declared > 0
    return any(name == b"transfer-encoding" for name, _ in scope.get("headers", ()))


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            # The rest of the body is not read: the connection cannot carry another request.
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                CLOSE,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: no request body longer than ``limit`` bytes is read."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.limit:
            await _too_large(send, self.limit)
            return
        received = 0
        started = False
        unread = has_body(scope, declared)

        async def limited() -> Message:
            nonlocal received, unread
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLargeError(self.limit)
                unread = unread and message.get("more_body", False)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if unread:
                    # Answered before its body was read (a 401, a 413): end the
                    # connection, else the server reads the rest only to drop it.
                    message["headers"] = [*message.get("headers", ()), CLOSE]
            await send(message)

        try:
            await self.app(scope, limited, tracked)
        except BodyTooLargeError:
            # Read outside a route's own handling (a body read in a middleware or a
            # streaming response): answer here unless an answer has begun.
            if started:
                raise
            await _too_large(send, self.limit)
