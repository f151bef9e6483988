"""The fault proxy itself (tests/faults.py), against a tiny TLS HTTP server: each fault
does what the cluster tests rely on, and nothing else."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults import FaultProxy, Rule

from chronos import http
from chronos.devcluster.certs import CertificateAuthority

EVENT = b'{"type":"ADDED","object":{"metadata":{"resourceVersion":"1"}}}\n'


class Upstream:
    """HTTPS on 127.0.0.1: ``/list`` (a 20 kB JSON answer), ``/watch`` (a chunked event
    every 0.1 s until the client goes), anything else: 201 with ``{}``. Counts requests."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        ca = CertificateAuthority(directory, "upstream-ca")
        pair = ca.issue("upstream", "upstream", server_hosts=("127.0.0.1",))
        self.ca = ca.pair.cert
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(str(pair.cert), str(pair.key))
        self.requests: list[str] = []
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result()

    async def _start(self) -> int:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                line = head.split(b"\r\n")[0].decode()
                self.requests.append(line)
                length = next(
                    (
                        int(h.split(b":")[1])
                        for h in head.split(b"\r\n")
                        if h.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                if " /list" in line:
                    body = json.dumps({"items": ["x" * 100] * 200}).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
                    )
                elif " /watch" in line:
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    while True:
                        writer.write(b"%x\r\n%s\r\n" % (len(EVENT), EVENT))
                        await writer.drain()
                        await asyncio.sleep(0.1)
                else:
                    writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            writer.close()


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path / "upstream")


@pytest.fixture
def proxy(upstream: Upstream, tmp_path: Path) -> Iterator[FaultProxy]:
    context = ssl.create_default_context(cafile=str(upstream.ca))
    p = FaultProxy(f"https://127.0.0.1:{upstream.port}", context, tmp_path / "proxy").start()
    yield p
    p.stop()


def client(proxy: FaultProxy, read: float = 2.0) -> http.Client:
    context = ssl.create_default_context(cafile=str(proxy.ca_file))
    return http.Client(base_url=proxy.url, verify=context, timeout=http.Timeout(read))


def test_passes_through_and_records_every_request(proxy: FaultProxy, upstream: Upstream) -> None:
    with client(proxy) as c:
        assert len(c.get("/list").json()["items"]) == 200
        assert c.post("/apis/x/v1/namespaces/ns/things", content=b"{}").status_code == 201
        assert c.get("/list").status_code == 200  # the same connection, kept alive
    assert [(e.method, e.path, e.status, e.forwarded) for e in proxy.exchanges] == [
        ("GET", "/list", 200, True),
        ("POST", "/apis/x/v1/namespaces/ns/things", 201, True),
        ("GET", "/list", 200, True),
    ]
    assert [e.write for e in proxy.exchanges] == [False, True, False]
    assert all(e.delivered for e in proxy.exchanges)
    assert proxy.exchanges[1].resource == "things"
    assert len({e.conn for e in proxy.exchanges}) == 1
    assert len(upstream.requests) == 3


def test_answers_a_status_with_retry_after_without_the_server(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    proxy.add(Rule(lambda e: e.path == "/list", "answer", status=503, retry_after=3, times=1))
    with client(proxy) as c:
        first = c.get("/list")
        second = c.get("/list")
    assert first.status_code == 503
    assert first.headers["retry-after"] == "3"
    assert first.json()["code"] == 503
    assert first.json()["kind"] == "Status"
    assert second.status_code == 200
    assert len(upstream.requests) == 1
    assert [e.forwarded for e in proxy.exchanges] == [False, True]


def _drain(lines: Iterator[str]) -> None:
    """Read up to 100 more lines of a watch (an error ends it sooner)."""
    for _ in range(100):
        next(lines)


def test_a_watch_ends_with_an_error_event(proxy: FaultProxy) -> None:
    proxy.add(Rule(lambda e: e.watch, "watch_error", status=410, times=1))
    with client(proxy) as c, c.stream("GET", "/watch?watch=true") as response:
        lines = list(response.iter_lines())
    events = [json.loads(line) for line in lines if line]
    assert [(e["type"], e["object"]["code"]) for e in events] == [("ERROR", 410)]


def test_an_open_watch_is_ended_with_an_error_event(proxy: FaultProxy) -> None:
    with client(proxy) as c, c.stream("GET", "/watch?watch=true") as response:
        lines = response.iter_lines()
        assert json.loads(next(lines))["type"] == "ADDED"
        assert proxy.watch_error_now(410) == 1
        rest = [json.loads(line) for line in lines if line]
    assert rest[-1]["type"] == "ERROR"
    assert rest[-1]["object"]["code"] == 410
    assert all(e["type"] == "ADDED" for e in rest[:-1])


def test_a_body_cut_in_the_middle(proxy: FaultProxy) -> None:
    proxy.add(Rule(lambda e: e.path == "/list", "reset_mid_body", times=1))
    with client(proxy) as c:
        with pytest.raises(http.TransportError):
            c.get("/list")
        assert c.get("/list").status_code == 200  # a new connection works
    assert proxy.exchanges[0].injected == "reset_mid_body"


def test_a_stall_holds_answers_of_open_connections_only(proxy: FaultProxy) -> None:
    with client(proxy, read=0.5) as c, c.stream("GET", "/watch?watch=true") as response:
        lines = response.iter_lines()
        assert next(lines)
        proxy.stall()
        time.sleep(0.3)  # what was already on its way
        with pytest.raises(http.TimeoutException):
            _drain(lines)
        with client(proxy) as fresh:
            assert fresh.get("/list").status_code == 200
    proxy.heal()


def test_half_open_silences_open_and_new_connections_and_records_attempts(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    with client(proxy, read=0.5) as c:
        assert c.get("/list").status_code == 200
        proxy.half_open()
        with pytest.raises(http.TimeoutException):
            c.post("/apis/x/v1/namespaces/ns/things", content=b"{}")
        with client(proxy, read=0.5) as fresh, pytest.raises(http.TimeoutException):
            fresh.get("/list")
    attempted = proxy.exchanges[-1]
    assert attempted.write
    assert not attempted.forwarded
    assert attempted.status is None
    assert not attempted.delivered
    assert len(upstream.requests) == 1
    proxy.heal()
    with client(proxy) as c:
        assert c.get("/list").status_code == 200


def test_refused_then_accepted_again(proxy: FaultProxy) -> None:
    proxy.refuse()
    with client(proxy) as c, pytest.raises(http.ConnectError):
        c.get("/list")
    proxy.heal()
    with client(proxy) as c:
        assert c.get("/list").status_code == 200


def test_reset_all_breaks_open_watches(proxy: FaultProxy) -> None:
    with client(proxy) as c, c.stream("GET", "/watch?watch=true") as response:
        lines = response.iter_lines()
        assert next(lines)
        proxy.reset_all()
        with pytest.raises(http.TransportError):
            _drain(lines)


def test_a_cut_rule_goes_half_open_on_cue(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.add(Rule(lambda e: e.write, "cut", times=1))
    with client(proxy, read=0.5) as c:
        assert c.get("/list").status_code == 200
        with pytest.raises(http.TimeoutException):
            c.post("/apis/x/v1/namespaces/ns/things", content=b"{}")
    assert proxy.mode == "half_open"
    assert proxy.exchanges[-1].injected == "cut"
    assert not proxy.exchanges[-1].forwarded
    assert len(upstream.requests) == 1
