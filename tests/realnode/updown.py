"""Helpers of the module that runs `make up` itself (test_devcluster_up.py): run the
devcluster CLI, wait, see a process gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from support import ROOT


def devcluster(
    *args: str,
    state: Path,
    api_port: int | None = None,
    check: bool = True,
    module: str = "chronos.devcluster",
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    # kind writes the user's kubeconfig (as for any kind user): a file of the test's own.
    env = {
        **os.environ,
        "CHRONOS_DEVCLUSTER_DIR": str(state),
        "KUBECONFIG": str(user_kubeconfig(state)),
    }
    env.pop("CHRONOS_DEVCLUSTER_API_PORT", None)
    if api_port is not None:
        env["CHRONOS_DEVCLUSTER_API_PORT"] = str(api_port)
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and out.returncode != 0:
        raise AssertionError(f"devcluster {args} failed ({out.returncode}):\n{out.stderr}")
    return out


def user_kubeconfig(state: Path) -> Path:
    """The kubeconfig `make up` writes as kind does for its user, beside ``state``."""
    return state.parent / "user.kubeconfig"


def gone(pid: int) -> bool:
    path = Path(f"/proc/{pid}/status")
    return not path.exists() or "zombie" in path.read_text().lower()


def wait_until(what: str, check: Any, timeout: float = 90, every: float = 1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")
