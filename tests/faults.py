"""A fault-injecting TCP proxy between a client and the API server, driven by the test.

The proxy forwards bytes (TLS passes through untouched: the API server's certificate
names 127.0.0.1, whatever the port). On the test's word it

- ``blackhole()``: every connection, open or new, stops forwarding without closing — a
  half-open connection as an API-server restart behind a load balancer or a dropped NAT
  entry leaves it: the client sees silence, not an error;
- ``heal()``: new connections forward again; the blackholed ones stay dead (as a dropped
  NAT entry does) until the client gives up on them;
- ``reset()``: closes every open connection at once (an API server killed).

It runs its own event loop in a thread, so synchronous tests drive it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    dead: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class FaultProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.accepted = 0
        self._links: set[_Link] = set()
        self._blackholed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> FaultProxy:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for link in list(self._links):
                _abort(link.client)
                _abort(link.upstream)

        self._call(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def blackhole(self) -> None:
        async def apply() -> None:
            self._blackholed = True
            for link in self._links:
                link.dead = True

        self._call(apply())

    def heal(self) -> None:
        async def apply() -> None:
            self._blackholed = False

        self._call(apply())

    def reset(self) -> None:
        async def apply() -> None:
            for link in list(self._links):
                _abort(link.client)
                _abort(link.upstream)

        self._call(apply())

    def kubeconfig(self, original: Path, into: Path) -> Path:
        """A copy of ``original`` whose server is this proxy."""
        config = yaml.safe_load(original.read_text())
        for cluster in config["clusters"]:
            scheme, _, _ = cluster["cluster"]["server"].partition("://")
            cluster["cluster"]["server"] = f"{scheme}://127.0.0.1:{self.port}"
        into.write_text(yaml.safe_dump(config))
        into.chmod(0o600)
        return into

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(writer)
            return
        link = _Link(writer, up_writer, dead=self._blackholed)
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._pump(reader, up_writer, link)),
            asyncio.create_task(self._pump(up_reader, writer, link)),
        ]
        await asyncio.gather(*link.tasks, return_exceptions=True)
        self._links.discard(link)
        _abort(writer)
        _abort(up_writer)

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: _Link
    ) -> None:
        while data := await source.read(65536):
            if link.dead:
                continue  # swallowed: neither delivered nor refused
            sink.write(data)
            await sink.drain()
        if not link.dead:
            # A clean end is passed on; a dead link never tells the other side.
            with contextlib.suppress(OSError):
                sink.write_eof()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a RST (SO_LINGER 0), as a killed peer's kernel answers."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
