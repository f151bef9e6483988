"""Real receivers for notifications (issue 21): an HTTP server that verifies Standard
Webhooks signatures and counts deliveries, and an SMTP server (aiosmtpd) with STARTTLS
(a certificate from a CA made for the test) and AUTH. Both listen on 127.0.0.1 in a
thread of the test process; the operator's and ``chronos.notify``'s tests share them.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from chronos.devcluster.certs import CertificateAuthority
from chronos.notify import signing


@dataclass(frozen=True)
class Answer:
    """What the receiver answers one request with."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Delivery:
    """One request as received."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    #: Whether the Standard Webhooks signature verified (None: no signing key set).
    verified: bool | None
    status: int

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.headers.get("webhook-id") or self.headers.get("idempotency-key", "")


class WebhookReceiver:
    """An HTTP receiver on 127.0.0.1: answers the queued ``Answer``s first, then 200;
    with ``signing_key`` it verifies each request's signature (401 when it fails, as a
    real receiver does). ``hold()`` makes requests wait (received, not answered) until
    ``release()``: a delivery caught in flight."""

    def __init__(
        self,
        signing_key: str | None = None,
        clock: Callable[[], float] = time.time,
        *,
        tls: ssl.SSLContext | None = None,
    ):
        self.signing_key = signing_key
        self.clock = clock
        self.deliveries: list[Delivery] = []
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._released.set()
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                receiver._handle(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            # HTTPS: the handshake happens on the handler's first read (in its thread).
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        # A short poll: shutdown() waits up to one interval (0.5 s by default, per test).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}/hook"

    def answer(self, *answers: Answer) -> None:
        with self._lock:
            self._answers.extend(answers)

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def accepted(self) -> Counter[str]:
        """How many times each event id was answered 2xx (verified, if signed)."""
        return Counter(
            d.event_id for d in self.deliveries if 200 <= d.status < 300 and d.verified is not False
        )

    def _handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified: bool | None = None
        if self.signing_key is not None:
            try:
                signing.verify(
                    self.signing_key,
                    headers.get("webhook-id", ""),
                    headers.get("webhook-timestamp", ""),
                    body,
                    headers.get("webhook-signature", ""),
                    now=self.clock(),
                )
                verified = True
            except signing.SignatureError:
                verified = False
        self.arrived.set()
        self._released.wait(timeout=120)
        with self._lock:
            answer = self._answers.pop(0) if self._answers else Answer()
        if verified is False:
            answer = Answer(401, body=b"bad signature")
        with self._lock:
            self.deliveries.append(Delivery(request.path, headers, body, verified, answer.status))
        try:
            request.send_response(answer.status)
            for name, value in answer.headers.items():
                request.send_header(name, value)
            request.send_header("Content-Length", str(len(answer.body)))
            request.end_headers()
            request.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender stopped reading (a bounded read, a timeout): as intended

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        #: The reply to the next DATA commands, first in first out (then 250).
        self.data_replies: list[str] = []
        #: Recipients refused at RCPT, with the reply (e.g. "550 5.1.1 no such user").
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        self.envelopes.append(envelope)
        return "250 OK"


def server_tls(directory: Path, name: str) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for 127.0.0.1 from a CA made here, and the
    CA's file (for the client's trust)."""
    ca = CertificateAuthority(directory, f"chronos-{name}-test-ca")
    pair = ca.issue(name, name, server_hosts=("127.0.0.1",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pair.cert, pair.key)
    return context, ca.pair.cert


class SmtpServer:
    """aiosmtpd on 127.0.0.1 requiring STARTTLS (its certificate is issued for 127.0.0.1
    by a CA made here) and, with ``users``, AUTH (only after STARTTLS)."""

    def __init__(self, directory: Path, users: dict[str, str] | None = None):
        tls, self.ca_file = server_tls(directory, "smtp")
        self.users = users or {}
        self.logins: list[str] = []
        self.inbox = _Inbox()
        self.port = free_port()
        self._controller = Controller(
            self.inbox,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=tls,
            require_starttls=True,
            auth_required=bool(self.users),
            auth_require_tls=True,
            authenticator=self._authenticate,
        )

    def client_tls(self) -> ssl.SSLContext:
        """A client context that trusts this server's CA (and only it)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.users.get(data.login.decode()) == data.password.decode()
        )
        if ok:
            self.logins.append(data.login.decode())
        # handled=False: aiosmtpd answers 535 itself (True would leave the client waiting).
        return AuthResult(success=ok, handled=False)

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._controller.stop()
