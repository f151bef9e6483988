"""The background processes of the local system, as recorded in its state folder.

Each process is a :class:`Component`: how to start it (argv and the environment it adds),
how to tell that it answers (a health URL, or a node Lease renewed lately), and
the pid of its current incarnation. Keeping the recipe next to the pid is what lets
``up`` restart exactly the components that died, on the same ports, and lets ``status``
report each one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from chronos.devcluster.files import open_private_log, write_private


@dataclass
class Component:
    name: str
    argv: list[str]
    health: str
    """``http(s)://…`` answered with 200, or ``lease:<namespace>/<name>`` renewed lately."""
    env: dict[str, str] = field(default_factory=dict)
    """Added to the caller's environment, whose ``CHRONOS_*`` variables are dropped."""
    pid: int = 0

    def alive(self) -> bool:
        return self.pid > 0 and alive(self.pid)


def spawn(component: Component, logs: Path, *, fresh_log: bool) -> int:
    """Start ``component`` in a session of its own; its output goes to ``logs/<name>.log``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    log = open_private_log(logs / f"{component.name}.log", truncate=fresh_log)
    try:
        proc = subprocess.Popen(
            component.argv,
            env={**base, **component.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        os.close(log)
    component.pid = proc.pid
    return proc.pid


def save(path: Path, components: list[Component], **extra: object) -> None:
    """Record ``components`` in ``path`` (owner-only: it names ports and files)."""
    body = {
        **extra,
        # ``pids`` alone is what benchmarks and older readers look at.
        "pids": {c.name: c.pid for c in components},
        "components": [asdict(c) for c in components],
    }
    write_private(path, json.dumps(body, indent=2))


def load(path: Path) -> list[Component]:
    if not path.exists():
        return []
    body = json.loads(path.read_text())
    if "components" not in body:
        # Written by an older devcluster: pids only, so these can be stopped, not restarted.
        pids = body.get("pids", body)
        return [Component(name=name, argv=[], health="", pid=pid) for name, pid in pids.items()]
    return [Component(**c) for c in body["components"]]


def http_answers(url: str, context: ssl.SSLContext | None = None, timeout: float = 2) -> bool:
    """True if ``url`` (on loopback) answers 200."""
    try:
        with urllib.request.urlopen(  # noqa: S310 - loopback health URLs only
            url, timeout=timeout, context=context if url.startswith("https:") else None
        ) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def log_tail(logs: Path, name: str, size: int = 3000) -> str:
    path = logs / f"{name}.log"
    return path.read_text(errors="replace")[-size:] if path.exists() else ""


def alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by a parent that is not us) is not running.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def terminate(*pids: int, grace: float = 10.0, group: bool = True) -> None:
    """SIGTERM ``pids`` together (their process groups, with ``group``); SIGKILL those
    still alive after ``grace`` seconds."""
    send = os.killpg if group else os.kill
    signalled = []
    for pid in pids:
        try:
            send(pid, signal.SIGTERM)
            signalled.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(pid) for pid in signalled):
        time.sleep(0.05)
    for pid in signalled:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                send(pid, signal.SIGKILL)
