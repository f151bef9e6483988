"""Readiness means ready: /readyz of the operator and of the REST facade follows the API
server connection and the watch, not the process start.

On the real control plane, each component talks to the API server through a TCP proxy
this test controls: closing the proxy makes the API server unreachable for that
component alone (the shared control plane keeps serving every other test). The readiness
rules themselves, without a cluster: tests/unit/common/test_readiness.py."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as http
import pytest
import yaml
from fixtures_api import ServedApp
from support import wait_for

from chronos.api.settings import ApiSettings
from chronos.devcluster.cluster import Cluster, free_port
from chronos.devcluster.operator_process import OperatorProcess

pytestmark = pytest.mark.cluster

GRACE = "2"


class Proxy:
    """A TCP forwarder to the API server that can be switched off and on at one port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones, as a dead API server would."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by stop()
            if self._listener is not listener:
                client.close()
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxied_kubeconfig(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[Proxy, Path]]:
    """A kubeconfig of the admin that reaches the API server only through a ``Proxy``."""
    config: dict[str, Any] = yaml.safe_load(cluster.kubeconfig.read_text())
    server = http.URL(config["clusters"][0]["cluster"]["server"])
    assert server.host in ("127.0.0.1", "localhost")  # the certificate names the loopback IP
    proxy = Proxy(("127.0.0.1", server.port or 443))
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    path = tmp_path / "proxied.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    proxy.start()
    yield proxy, path
    proxy.stop()


def _readyz(url: str) -> tuple[int, dict[str, Any]]:
    answer = http.get(url, timeout=5)
    body: dict[str, Any] = answer.json()
    return answer.status_code, body


def _follows_the_connection(proxy: Proxy, url: str, *, says_why: bool = True) -> None:
    assert _readyz(url)[0] == 200
    proxy.stop()

    def not_ready() -> dict[str, Any] | None:
        status, body = _readyz(url)
        return body if status == 503 else None

    body = wait_for(not_ready, timeout=30, what="/readyz to turn 503")
    if says_why:
        assert "unreachable" in str(body) or "broken" in str(body)
    else:
        # The facade's probe is public: a fixed word, the reason goes to its log.
        assert body == {"status": "not ready"}
    proxy.start()
    wait_for(lambda: _readyz(url)[0] == 200, timeout=30, what="/readyz to turn 200 again")


def test_operator_readiness_follows_the_api_server(
    proxied_kubeconfig: tuple[Proxy, Path],
    operator_settings: dict[str, str],
    solo_namespace: str,
    tmp_path: Path,
) -> None:
    proxy, kubeconfig = proxied_kubeconfig
    operator = OperatorProcess(
        kubeconfig,
        tmp_path,
        **{
            **operator_settings,
            "CHRONOS_NAMESPACES": solo_namespace,
            "CHRONOS_LEADER_ELECTION": "false",
            "CHRONOS_READY_GRACE_SECONDS": GRACE,
        },
    ).start()  # waits for /readyz 200
    try:
        _follows_the_connection(proxy, f"http://127.0.0.1:{operator.port}/readyz")
        assert operator.proc is not None
        assert operator.proc.poll() is None  # it waited for the API server, it did not die
    finally:
        operator.stop()


def test_api_readiness_follows_the_api_server(proxied_kubeconfig: tuple[Proxy, Path]) -> None:
    proxy, kubeconfig = proxied_kubeconfig
    settings = ApiSettings(
        api_port=free_port(),
        api_kubeconfig=kubeconfig,
        api_auth_disabled=True,
        ready_grace_seconds=float(GRACE),
    )
    with ServedApp(settings) as app:  # waits for /readyz 200
        _follows_the_connection(proxy, f"{app.url}/readyz", says_why=False)
