"""A fault-injecting proxy between one client and the real kube-apiserver, for tests.

The API server speaks TLS, so a byte relay could only cut connections; this proxy
terminates the client's TLS with a certificate of its own CA (the client's kubeconfig,
``kubeconfig``, trusts that CA and points at the proxy) and talks to the API server
over TLS with the credentials the test gives it (the devcluster admin's client
certificate). In between it reads HTTP/1.1 (what lightkube's httpx speaks), so every
request is recorded (time, method, path, query, body, answer, whether it reached the
API server) and faults can be placed at either layer:

connection faults (``half_open``, ``stall``, ``reset_all``, ``refuse``):
  * half-open: nothing moves in either direction on the connections open now, and they
    stay dead after ``heal`` (a NAT entry or load balancer that forgot them); new
    connections while it lasts are accepted but never answer the TLS handshake.
    Requests the client writes on a dead connection are still read and recorded
    (``forwarded=False``): what a client *tried* to write is evidence too.
  * stall: the API server's answers on the connections open now stop reaching the
    client (a stalled watch stream); requests still go through, new connections work.
    ``heal`` lets the held answers through.
  * reset_all: every open connection is reset (RST), as by a restarting server.
  * refuse: the listening socket closes: new connections are refused until ``heal``.

HTTP faults (``Rule``), for requests matching a predicate, a number of times:
  * ``answer``: the proxy answers with ``status`` itself (410, 429, 503 …, with
    ``Retry-After``), as a Kubernetes ``Status``; the API server never sees it.
  * ``watch_error``: the watch is forwarded, then its stream carries one ERROR event
    with ``status`` (410: "too old resource version") and ends, as the API server ends
    a watch it cannot serve. ``watch_error_now`` does the same to watches open now.
  * ``reset_mid_body``: the answer is cut after half its body with an RST (a LIST page
    that breaks off).
  * ``cut``: the connection goes half-open just as this request arrives (it is recorded,
    never forwarded): a failure at the worst moment, on cue.

Loopback only; one event loop in a daemon thread, driven synchronously by the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit

from chronos.devcluster.certs import CertificateAuthority

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REASONS = {410: "Expired", 429: "TooManyRequests", 503: "ServiceUnavailable"}


@dataclass
class Exchange:
    """One request the client sent, and what became of it."""

    at: float  #: wall-clock time (``time.time()``) the request was read
    conn: int
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    status: int | None = None  #: the answer the client got (None: none, cut or held)
    forwarded: bool = False  #: it reached the API server
    delivered: bool = False  #: the answer's head reached the client
    injected: str = ""  #: the fault that answered it, if any

    @property
    def write(self) -> bool:
        return self.method in WRITES

    @property
    def watch(self) -> bool:
        return self.query.get("watch") in ("true", "1")

    @property
    def resource(self) -> str:
        """The resource's plural (``cronjobs``, ``leases`` …), with a subresource
        after a slash (``chronosjobs/status``)."""
        parts = [p for p in self.path.split("/") if p]
        if "namespaces" in parts:
            at = parts.index("namespaces")
            rest = parts[at + 2 :]
            if not rest:  # the namespace object itself
                return "namespaces"
            return "/".join([rest[0], *rest[2:3]])
        return parts[-1] if parts else ""

    @property
    def name(self) -> str:
        """The object's name: from the path, or for a create from the body's metadata
        ('' for a collection read)."""
        parts = [p for p in self.path.split("/") if p]
        if "namespaces" in parts:
            rest = parts[parts.index("namespaces") + 2 :]
            if len(rest) > 1:
                return rest[1]
        if self.method == "POST" and self.body:
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                return str(json.loads(self.body)["metadata"]["name"])
        return ""


Match = Callable[[Exchange], bool]


def anything(_: Exchange) -> bool:
    return True


@dataclass
class Rule:
    match: Match
    action: Literal["answer", "watch_error", "reset_mid_body", "cut"]
    status: int = 0
    retry_after: int | None = None
    times: int | None = None  #: None: until removed
    hits: int = 0


@dataclass(eq=False)
class _Conn:
    id: int
    down_reader: asyncio.StreamReader
    down_writer: asyncio.StreamWriter
    up_reader: asyncio.StreamReader | None = None
    up_writer: asyncio.StreamWriter | None = None
    dead: bool = False  #: half-open: nothing moves, ever again
    stalled: bool = False  #: answers held until healed
    in_watch: bool = False
    ending: bool = False  #: a watch ended by the proxy: drop what the server still sends
    exchange: Exchange | None = None  #: the request being served
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _ClosedError(Exception):
    """The connection is gone (either side)."""


def _rst(writer: asyncio.StreamWriter | None) -> None:
    """Close with an RST rather than a FIN (SO_LINGER 0)."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def status_body(code: int, message: str) -> bytes:
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": _REASONS.get(code, HTTPStatus(code).phrase.replace(" ", "")),
            "code": code,
        }
    ).encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class FaultProxy:
    """Listen on 127.0.0.1 (``port``) and relay to ``upstream`` (``https://host:port``),
    faults as the test orders. ``directory`` receives the proxy's CA and the client's
    ``kubeconfig``; ``client_cert``/``client_key`` are only written into that kubeconfig
    (lightkube wants a user; the proxy does not ask for a certificate)."""

    def __init__(
        self,
        upstream: str,
        upstream_tls: ssl.SSLContext,
        directory: Path,
        *,
        client_cert: Path | None = None,
        client_key: Path | None = None,
    ) -> None:
        split = urlsplit(upstream)
        assert split.hostname, upstream
        assert split.port, upstream
        self.upstream = (split.hostname, split.port)
        self._upstream_tls = upstream_tls
        directory.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority(directory, "chronos-fault-proxy-ca")
        serving = ca.issue("proxy", "fault-proxy", server_hosts=(LOOPBACK, "localhost"))
        self.ca_file = ca.pair.cert
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(str(serving.cert), str(serving.key))
        self.kubeconfig = directory / "proxied.kubeconfig"
        self._client_cert, self._client_key = client_cert, client_key
        self.exchanges: list[Exchange] = []
        self.rules: list[Rule] = []
        self.mode = "pass"
        self._conns: set[_Conn] = set()
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._changed: asyncio.Condition | None = None
        self.port = 0

    # ------------------------------------------------------------------ control

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        user: dict[str, str] = {}
        if self._client_cert and self._client_key:
            user = {
                "client-certificate": str(self._client_cert),
                "client-key": str(self._client_key),
            }
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "proxied",
                            "cluster": {
                                "server": self.url,
                                "certificate-authority": str(self.ca_file),
                            },
                        }
                    ],
                    "users": [{"name": "proxied", "user": user}],
                    "contexts": [
                        {"name": "proxied", "context": {"cluster": "proxied", "user": "proxied"}}
                    ],
                    "current-context": "proxied",
                }
            )
        )
        return self

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def half_open(self) -> None:
        self._call(self._set(half_open=True))

    def stall(self) -> None:
        self._call(self._set(stall=True))

    def reset_all(self) -> None:
        self._call(self._reset_all())

    def refuse(self) -> None:
        self._call(self._refuse())

    def heal(self) -> None:
        """Back to passing through: held answers flow, new connections are accepted;
        connections that went half-open stay dead."""
        self._call(self._heal())

    def add(self, rule: Rule) -> Rule:
        self._call(self._add(rule))
        return rule

    def clear_rules(self) -> None:
        self._call(self._clear_rules())

    def watch_error_now(self, status: int = 410, match: Match = anything) -> int:
        """End every open watch matching ``match`` with an ERROR event; returns how many."""
        return self._call(self._watch_error_now(status, match))

    def since(self, start: float, end: float | None = None) -> list[Exchange]:
        return [e for e in list(self.exchanges) if e.at >= start and (end is None or e.at < end)]

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    # --------------------------------------------------------- in the proxy's loop

    async def _listen(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Condition()
        self._server = await asyncio.start_server(
            self._handle, LOOPBACK, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _set(self, *, half_open: bool = False, stall: bool = False) -> None:
        if half_open:
            self.mode = "half_open"
        for conn in self._conns:
            conn.dead = conn.dead or half_open
            conn.stalled = conn.stalled or stall
        await self._notify()

    async def _heal(self) -> None:
        if self._server is None:
            await self._listen()
        self.mode = "pass"
        for conn in self._conns:
            conn.stalled = False
        await self._notify()

    async def _reset_all(self) -> None:
        for conn in list(self._conns):
            self._drop(conn)

    async def _refuse(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _close_all(self) -> None:
        await self._refuse()
        await self._reset_all()

    async def _add(self, rule: Rule) -> None:
        self.rules.append(rule)

    async def _clear_rules(self) -> None:
        self.rules.clear()

    async def _watch_error_now(self, status: int, match: Match) -> int:
        ended = 0
        for conn in list(self._conns):
            exchange = conn.exchange
            if conn.in_watch and not conn.dead and exchange is not None and match(exchange):
                with contextlib.suppress(ConnectionError, OSError):
                    await self._end_watch(conn, status)
                exchange.injected = f"watch_error {status}"
                ended += 1
        return ended

    def _drop(self, conn: _Conn) -> None:
        _rst(conn.down_writer)
        if conn.up_writer is not None:
            conn.up_writer.transport.abort()
        conn.up_reader = conn.up_writer = None
        self._conns.discard(conn)

    async def _flow(self, conn: _Conn, *, answer: bool) -> None:
        """Wait until bytes may move on ``conn`` (``answer``: towards the client)."""
        assert self._changed is not None
        async with self._changed:
            await self._changed.wait_for(lambda: not conn.dead and not (answer and conn.stalled))

    def _rule(self, exchange: Exchange) -> Rule | None:
        for rule in self.rules:
            if (rule.times is None or rule.hits < rule.times) and rule.match(exchange):
                rule.hits += 1
                return rule
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(next(self._ids), reader, writer)
        self._conns.add(conn)
        try:
            if self.mode == "half_open":
                conn.dead = True  # never answer the handshake
                await self._flow(conn, answer=False)
            await writer.start_tls(self._tls)
            while await self._one_request(conn):
                pass
        except (_ClosedError, ConnectionError, OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            self._conns.discard(conn)
            with contextlib.suppress(Exception):
                writer.close()
            if conn.up_writer is not None:
                conn.up_writer.transport.abort()

    async def _one_request(self, conn: _Conn) -> bool:
        head = await _read_head(conn.down_reader)
        if head is None:
            return False
        method, target, headers = _parse_head(head)
        body = await _read_body(conn.down_reader, headers, method=method, status=None)
        split = urlsplit(target)
        exchange = Exchange(
            at=time.time(),
            conn=conn.id,
            method=method,
            path=split.path,
            query=dict(parse_qsl(split.query)),
            body=body,
        )
        self.exchanges.append(exchange)
        conn.exchange = exchange
        rule = self._rule(exchange)
        if rule is not None and rule.action == "cut":
            exchange.injected = "cut"
            await self._set(half_open=True)
        await self._flow(conn, answer=False)
        if rule is not None and rule.action == "answer":
            exchange.injected, exchange.status = f"answer {rule.status}", rule.status
            await self._answer(conn, rule)
            return True
        if conn.up_writer is None:
            try:
                conn.up_reader, conn.up_writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.upstream, ssl=self._upstream_tls), timeout=5
                )
            except (OSError, TimeoutError, ssl.SSLError):
                exchange.injected = "upstream unreachable"
                self._drop(conn)  # as a load balancer with no backend: a reset
                return False
        assert conn.up_reader is not None
        assert conn.up_writer is not None
        conn.up_writer.write(head + body)
        await conn.up_writer.drain()
        exchange.forwarded = True
        answer = await _read_head(conn.up_reader)
        if answer is None:
            raise _ClosedError
        _, code, answer_headers = _parse_head(answer)
        exchange.status = int(code)
        if rule is not None and rule.action == "reset_mid_body":
            rest = await _read_body(conn.up_reader, answer_headers, method=method, status=200)
            await self._flow(conn, answer=True)
            conn.down_writer.write(answer + rest[: max(1, len(rest) // 2)])
            await conn.down_writer.drain()
            exchange.injected, exchange.status = "reset_mid_body", None
            self._drop(conn)
            return False
        await self._flow(conn, answer=True)
        conn.down_writer.write(answer)
        await conn.down_writer.drain()
        exchange.delivered = True
        if rule is not None and rule.action == "watch_error" and exchange.status == 200:
            exchange.injected = f"watch_error {rule.status}"
            await self._end_watch(conn, rule.status)
            return True
        await self._relay_body(conn, exchange, answer_headers)
        return "close" not in answer_headers.get("connection", "")

    async def _answer(self, conn: _Conn, rule: Rule) -> None:
        body = status_body(rule.status, "injected by the fault proxy")
        extra = f"Retry-After: {rule.retry_after}\r\n" if rule.retry_after is not None else ""
        head = (
            f"HTTP/1.1 {rule.status} {HTTPStatus(rule.status).phrase}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
        )
        await self._flow(conn, answer=True)
        conn.down_writer.write(head.encode() + body)
        await conn.down_writer.drain()
        if conn.exchange is not None:
            conn.exchange.delivered = True

    async def _end_watch(self, conn: _Conn, status: int) -> None:
        """Send one ERROR event and the end of the chunked stream; forget the server's
        side of the watch (the next request opens a new upstream connection)."""
        conn.ending = True
        event = json.dumps(
            {"type": "ERROR", "object": json.loads(status_body(status, "too old resource version"))}
        ).encode()
        async with conn.lock:
            conn.down_writer.write(_chunk(event + b"\n") + b"0\r\n\r\n")
            await conn.down_writer.drain()
        if conn.up_writer is not None:
            conn.up_writer.transport.abort()
        conn.up_reader = conn.up_writer = None

    async def _relay_body(self, conn: _Conn, exchange: Exchange, headers: dict[str, str]) -> None:
        assert conn.up_reader is not None
        up = conn.up_reader
        if exchange.method == "HEAD" or exchange.status in (204, 304):
            return
        if "content-length" in headers:
            left = int(headers["content-length"])
            while left:
                data = await up.read(min(left, 65536))
                if not data:
                    raise _ClosedError
                left -= len(data)
                await self._flow(conn, answer=True)
                conn.down_writer.write(data)
                await conn.down_writer.drain()
            return
        if "chunked" not in headers.get("transfer-encoding", ""):
            while data := await up.read(65536):  # until the server closes
                await self._flow(conn, answer=True)
                conn.down_writer.write(data)
                await conn.down_writer.drain()
            raise _ClosedError
        conn.in_watch, conn.ending = exchange.watch, False
        try:
            while True:
                try:
                    size = int((await up.readuntil(b"\r\n")).split(b";")[0], 16)
                    data = await up.readexactly(size + 2)
                except (asyncio.IncompleteReadError, ConnectionError, OSError):
                    if conn.ending:
                        return  # the proxy ended this watch itself
                    raise _ClosedError from None
                if conn.ending:
                    return
                if size == 0:
                    trailer = data
                    while trailer != b"\r\n":
                        trailer = await up.readuntil(b"\r\n")
                    await self._flow(conn, answer=True)
                    async with conn.lock:
                        conn.down_writer.write(b"0\r\n\r\n")
                        await conn.down_writer.drain()
                    return
                await self._flow(conn, answer=True)
                if conn.ending:
                    return
                async with conn.lock:
                    conn.down_writer.write(b"%x\r\n" % size + data)
                    await conn.down_writer.drain()
        finally:
            conn.in_watch = False


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise _ClosedError from exc
        return None


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """(method or version, target or status code, lower-cased headers)."""
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
    return first[0], first[1], headers


async def _read_body(
    reader: asyncio.StreamReader, headers: dict[str, str], *, method: str, status: int | None
) -> bytes:
    """A whole body, as it came (chunked bodies keep their framing)."""
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    if "chunked" in headers.get("transfer-encoding", ""):
        raw = b""
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";")[0], 16)
            raw += line + await reader.readexactly(size + 2)
            if size == 0:
                return raw
    if status is None or method == "HEAD":
        return b""  # a request without a body
    return await reader.read()  # an answer that ends with the connection
