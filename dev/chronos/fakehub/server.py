"""The fake CoreHub's HTTP(S) server: stdlib ThreadingHTTPServer, one thread per connection."""

from __future__ import annotations

import json
import re
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from chronos.corehub.api import LOGIN_PATH, SUCCESS_STATUSES
from chronos.fakehub.state import INVALID_TOKEN, LOAD_KINDS, FakeHubState, Reply

CONTROL = "/_fake"
_ENTITY_STATE = re.compile(r"^/_fake/pipelines/([^/]+)/entities/([^/]+)/state$")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops the SYNs of a burst of clients (hundreds
    # of runners on one slot), which then retry after 1 s, 3 s...: a delay no real
    # CoreHub adds, so the fake listens with a kernel-sized backlog.
    request_queue_size = 1024
    state: FakeHubState
    verbose: bool

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Refused handshakes and dropped clients are expected in fault tests.
        if self.verbose:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; with Nagle's algorithm on, a keep-alive
    # client's delayed ACK then holds each answer back about 40 ms, which no real server
    # would add to every call.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        # The TLS handshake runs here, in the connection's thread, so a slow or refused
        # client cannot stall the accept loop.
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"fakehub: {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    def _reply(self, reply: Reply) -> None:
        data = reply.raw
        if data is None:
            data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        if data:
            self.send_header("Content-Type", reply.content_type)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        received, received_monotonic = time.time(), time.monotonic()
        url = urlsplit(self.path)
        state = self.server.state
        if url.path.startswith(CONTROL + "/"):
            self._control(method, url.path, url.query, received, received_monotonic)
            return
        login = method == "POST" and url.path == LOGIN_PATH
        kinds = LOAD_KINDS if login else LOAD_KINDS[:1]
        state.enter(kinds)
        try:
            entry = self._entry(method, url.path, url.query, received, received_monotonic)
            self._corehub(method, url.path, url.query, self._body(), entry)
        finally:
            state.leave(kinds)

    def _entry(
        self, method: str, path: str, query: str, received: float, received_monotonic: float
    ) -> dict[str, Any]:
        return {
            "method": method,
            "path": path,
            "query": query,
            "params": [list(p) for p in _pairs(query)],
            # The caller's address: which runner pod sent it, when many share the fake.
            "client": str(self.client_address[0]),
            "received": received,
            "receivedMonotonic": received_monotonic,
        }

    def _control(
        self, method: str, path: str, query: str, received: float, received_monotonic: float
    ) -> None:
        entry = self._entry(method, path, query, received, received_monotonic)
        body = self._body()
        state = self.server.state
        try:
            reply = _control(state, method, path, body)
        except (KeyError, ValueError, TypeError, re.error) as exc:
            reply = Reply(400, {"message": f"{type(exc).__name__}: {exc}"})
        if self.headers.get("Authorization"):
            # The control API takes no credentials: a request that carries CoreHub's
            # is a CoreHub client that strayed here (an id that climbed out of its
            # path), so it is logged with the CoreHub requests for tests to see.
            state.log_request({**entry, "status": reply.status, "fault": None})
        self._reply(reply)

    def _corehub(
        self, method: str, path: str, query: str, body: Any, entry: dict[str, Any]
    ) -> None:
        state = self.server.state
        stuck = False
        after = []
        # A fault's count is used (``claim``) only when it acts on this request: one that
        # an earlier fault's answer keeps from acting stays for the next request.
        for fault in state.matching_faults(method, path):
            if fault.after:
                after.append(fault)
            elif not state.claim(fault):
                continue
            elif fault.kind == "latency":
                time.sleep(fault.seconds)
            elif fault.kind == "expire-token":
                token = state.authorized(self.headers.get("Authorization"))
                if token:
                    state.expire_tokens(token)
            elif fault.kind == "stuck":
                stuck = True
            elif fault.kind == "drop":
                state.log_request({**entry, "status": None, "fault": "drop", "applied": False})
                self.close_connection = True
                return
            else:
                state.log_request(
                    {**entry, "status": fault.status, "fault": fault.kind, "applied": False}
                )
                self._reply(fault.reply())
                return
        if method == "POST" and path == LOGIN_PATH:
            reply = state.login(body)
        elif state.authorized(self.headers.get("Authorization")) is None:
            reply = Reply(401, {"notificationId": -1, "message": INVALID_TOKEN})
        else:
            reply = state.handle(method, path, query, stuck=stuck)
        entry["applied"] = reply.status in SUCCESS_STATUSES
        fault_kind = "stuck" if stuck else None
        # Faults "after": CoreHub handled the request, then the answer is late or lost.
        for fault in after:
            if not state.claim(fault):
                continue
            if fault.kind == "latency":
                time.sleep(fault.seconds)
                fault_kind = fault_kind or "latency"
            elif fault.kind == "drop":
                state.log_request({**entry, "status": None, "fault": "drop"})
                self.close_connection = True
                return
            else:
                state.log_request({**entry, "status": fault.status, "fault": fault.kind})
                self._reply(fault.reply())
                return
        state.log_request({**entry, "status": reply.status, "fault": fault_kind})
        self._reply(reply)


def _pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def _control(state: FakeHubState, method: str, path: str, body: Any) -> Reply:
    body = body if isinstance(body, dict) else {}
    route = (method, path.removeprefix(CONTROL))
    if route == ("GET", "/health"):
        return Reply(200, {"ok": True})
    if route == ("POST", "/reset"):
        state.reset()
        return Reply(200, {"ok": True})
    if route == ("GET", "/commands"):
        with state.lock:
            return Reply(200, {"commands": list(state.commands)})
    if route == ("GET", "/requests"):
        with state.lock:
            return Reply(200, {"requests": list(state.requests)})
    if route == ("GET", "/stats"):
        return Reply(200, state.stats())
    if route == ("GET", "/faults"):
        with state.lock:
            return Reply(200, {"faults": [f.to_json() for f in state.faults]})
    if route == ("POST", "/faults"):
        return Reply(201, state.add_fault(body).to_json())
    if route == ("DELETE", "/faults"):
        state.clear_faults()
        return Reply(204)
    if route == ("POST", "/tokens/expire"):
        return Reply(200, {"expired": state.expire_tokens(body.get("token"))})
    if route == ("GET", "/config"):
        return Reply(200, state.config())
    if route == ("PUT", "/config"):
        return Reply(200, state.configure(body))
    if route == ("GET", "/state"):
        return Reply(200, state.snapshot())
    match = _ENTITY_STATE.match(path)
    if method == "PUT" and match:
        return Reply(200, state.set_entity(unquote(match[1]), unquote(match[2]), body))
    return Reply(404, {"message": f"no control route {method} {path}"})


def server_ssl_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        ctx.load_verify_locations(str(client_ca))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class FakeCoreHub:
    """A running fake CoreHub. ``start()`` serves from a daemon thread; ``url`` is its base."""

    def __init__(
        self,
        state: FakeHubState | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        verbose: bool = False,
    ) -> None:
        self.state = state or FakeHubState()
        self._server = _Server((host, port), _Handler)
        self._server.state = self.state
        self._server.verbose = verbose
        if tls is not None:
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.scheme = "https" if tls is not None else "http"
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"{self.scheme}://{host}:{self.port}"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.1)

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.serve_forever, name="fakehub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
