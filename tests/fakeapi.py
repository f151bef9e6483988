"""A tiny API server on 127.0.0.1 that speaks the LIST and WATCH protocol, scripted by
the test: the informer's unit tests talk real HTTP to it through lightkube's client.

Each request is answered by ``script(request)``, which returns what to do: a JSON
answer (``Answer``), a watch stream (``Stream``: newline-delimited events, then the
end of the response, or — with ``hang`` — silence on an open connection, as a
half-open connection looks from the client's side).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Request:
    path: str
    params: dict[str, str]
    method: str = "GET"
    body: bytes = b""

    @property
    def watch(self) -> bool:
        return self.params.get("watch") == "true"


@dataclass(frozen=True)
class Answer:
    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stream:
    events: list[dict[str, Any]] = field(default_factory=list)
    #: After the events, keep the connection open and send nothing.
    hang: bool = False
    #: False: not even the response headers are sent.
    headers: bool = True


Script = Callable[[Request], Answer | Stream]


def page(items: list[dict[str, Any]], version: str, cont: str | None = None) -> Answer:
    meta: dict[str, Any] = {"resourceVersion": version}
    if cont:
        meta["continue"] = cont
    return Answer(
        {"apiVersion": "batch/v1", "kind": "CronJobList", "metadata": meta, "items": items}
    )


def status(code: int, reason: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(
        {"kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": reason},
        code,
        headers or {},
    )


def obj(name: str, version: str, namespace: str = "team") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": version}}


def event(kind: str, o: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": o}


class FakeApiServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Request] = []
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> FakeApiServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._open:
            writer.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            line = (await reader.readline()).decode()
            length = 0
            while header := (await reader.readline()).strip():
                name, _, value = header.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            method, target_text = line.split()[:2]
            target = urlsplit(target_text)
            body = await reader.readexactly(length) if length else b""
            request = Request(target.path, dict(parse_qsl(target.query)), method, body)
            self.requests.append(request)
            answer = self.script(request)
            if isinstance(answer, Answer):
                body = json.dumps(answer.body).encode()
                extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
                writer.write(
                    f"HTTP/1.1 {answer.status} X\r\nContent-Type: application/json\r\n{extra}"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                return
            if not answer.headers:
                await asyncio.Event().wait()  # accepted, never answered
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
            )
            for e in answer.events:
                writer.write(json.dumps(e).encode() + b"\n")
            await writer.drain()
            if answer.hang:
                await asyncio.Event().wait()  # until the server closes
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._open.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
