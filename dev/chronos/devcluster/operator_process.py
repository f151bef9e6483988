"""The operator as a child process (``python -m chronos.operator``), for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from chronos.devcluster.cluster import free_port


class OperatorProcess:
    """One operator with the given CHRONOS_* settings, its output in ``log_dir``."""

    def __init__(self, kubeconfig: Path, log_dir: Path, **settings: str) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"operator-{self.port}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")},
            "KUBECONFIG": str(kubeconfig),
            "CHRONOS_HEALTH_PORT": str(self.port),
            "CHRONOS_HEALTH_HOST": "127.0.0.1",
            **settings,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self, timeout: float = 30) -> OperatorProcess:
        """Start it and wait until /readyz answers (standbys are ready too)."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chronos.operator"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"operator not ready in {timeout:.0f} s")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            body: bytes = r.read()
            return body.decode()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
