"""A kubelet's log endpoint with scripted lines, for a control plane without a node:
the API server reads and follows a pod's log from the kubelet of the pod's Node, so a
Node whose kubelet endpoint is this server gives tests a "running" pod whose log they
write line by line (the run page's viewer, live and after the run).

The control plane without a node has no kubelet CA configured, so the API server does
not verify this server's certificate."""

from __future__ import annotations

import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lightkube import Client
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Node, Pod
from lightkube.types import PatchType

from chronos.api.runlog import JOB_NAME_LABEL
from chronos.devcluster.certs import CertificateAuthority

RUNNER_IMAGE = "chronos-runner:0.1.0"


class ScriptedKubelet(ThreadingHTTPServer):
    """Each pod's log is the lines a test gave it (``write``): a read gets them all; a
    follow gets them, then each new one as it is written, until ``end``."""

    daemon_threads = True

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Logs)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )
        self.changed = threading.Condition()
        self.logs: dict[str, list[tuple[str, str]]] = {}
        #: Each request's path and query, as the API server sent it.
        self.paths: list[str] = []
        self.ended: set[str] = set()
        self.stopping = False
        #: Follows open now (each holds a connection of the API server's).
        self.following = 0

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def write(self, pod: str, *lines: tuple[str, str]) -> None:
        """Adds ``(RFC 3339 time, text)`` lines to ``pod``'s log."""
        with self.changed:
            self.logs.setdefault(pod, []).extend(lines)
            self.changed.notify_all()

    def end(self, pod: str) -> None:
        """The container has ended: its followed logs close."""
        with self.changed:
            self.ended.add(pod)
            self.changed.notify_all()

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
        self.shutdown()


class _Logs(BaseHTTPRequestHandler):
    server: ScriptedKubelet

    def setup(self) -> None:
        self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:
        # /containerLogs/{namespace}/{pod}/{container}?timestamps=true&follow=...
        self.server.paths.append(self.path)
        url = urlsplit(self.path)
        parts = url.path.split("/")
        if len(parts) < 4 or parts[1] != "containerLogs":
            self.send_error(404)
            return
        pod = parts[3]
        query = parse_qs(url.query)
        follow = query.get("follow") == ["true"]
        stamped = query.get("timestamps") == ["true"]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        kubelet = self.server
        if follow:
            with kubelet.changed:
                kubelet.following += 1
        try:
            self._send(pod, follow, stamped)
        finally:
            if follow:
                with kubelet.changed:
                    kubelet.following -= 1

    def _send(self, pod: str, follow: bool, stamped: bool) -> None:
        sent = 0
        kubelet = self.server
        while True:
            with kubelet.changed:
                lines = list(kubelet.logs.get(pod, []))
                over = not follow or pod in kubelet.ended or kubelet.stopping
                if sent >= len(lines) and not over:
                    kubelet.changed.wait(1.0)
                    continue
            for stamp, text in lines[sent:]:
                self.wfile.write((f"{stamp} {text}\n" if stamped else f"{text}\n").encode())
            self.wfile.flush()
            sent = len(lines)
            if over:
                return

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def scripted_node(k8s: Client, folder: Path) -> Iterator[tuple[str, ScriptedKubelet]]:
    """A Node whose kubelet is a :class:`ScriptedKubelet`: its name and the kubelet."""
    pair = CertificateAuthority(folder).issue("kubelet", "fake", server_hosts=("127.0.0.1",))
    server = ScriptedKubelet(pair.cert, pair.key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    name = f"scripted-node-{uuid.uuid4().hex[:6]}"
    k8s.create(Node(metadata=ObjectMeta(name=name)))
    status = {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": server.port}},
    }
    k8s.patch(Node.Status, name, {"status": status}, patch_type=PatchType.MERGE)
    try:
        yield name, server
    finally:
        server.stop()
        k8s.delete(Node, name)


def _container_state(k8s: Client, namespace: str, pod: str, state: dict[str, object]) -> None:
    status = {
        "phase": "Running" if "running" in state else "Succeeded",
        "containerStatuses": [
            {
                "name": "runner",
                "ready": "running" in state,
                "restartCount": 0,
                "image": RUNNER_IMAGE,
                "imageID": "",
                "state": state,
            }
        ],
    }
    k8s.patch(Pod.Status, pod, {"status": status}, namespace=namespace, patch_type=PatchType.MERGE)


def running_pod(k8s: Client, namespace: str, node: str, run: str, started: str) -> str:
    """A pod of ``run`` on ``node`` whose runner container runs (since ``started``)."""
    name = f"{run}-pod"
    k8s.create(
        Pod(
            metadata=ObjectMeta(name=name, namespace=namespace, labels={JOB_NAME_LABEL: run}),
            spec=PodSpec(nodeName=node, containers=[Container(name="runner", image=RUNNER_IMAGE)]),
        )
    )
    _container_state(k8s, namespace, name, {"running": {"startedAt": started}})
    return name


def completed(k8s: Client, namespace: str, pod: str, started: str, finished: str) -> None:
    """The pod's runner container has ended (``Completed``), as the kubelet reports it."""
    ended = {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": finished}
    _container_state(k8s, namespace, pod, {"terminated": ended})
