"""Small helpers shared by the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from lightkube import AsyncClient, KubeConfig
from lightkube.config.models import Cluster as KubeCluster
from lightkube.config.models import User

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 30, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")


def local_async_client(url: str) -> AsyncClient:
    """A lightkube client of ``url`` without credentials (a test's own HTTP server)."""
    config = KubeConfig.from_one(cluster=KubeCluster(server=url), user=User())
    return AsyncClient(config=config)
