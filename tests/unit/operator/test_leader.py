"""Leader election against a tiny real API server: transport errors at start-up are
retried, a leader whose renewals hang stops leading within its renew deadline."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from fakeapi import Answer, FakeApiServer, Request, Stream, status
from support import local_async_client

from chronos.operator.leader import Leadership, LeaseConfig
from chronos.operator.settings import OperatorSettings
from chronos.settings import SettingsError


def lease(identity: str, version: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "l", "namespace": "ns", "resourceVersion": version},
        "spec": {
            "holderIdentity": identity,
            "leaseDurationSeconds": 2,
            "renewTime": "2026-01-01T00:00:00.000000Z",
        },
    }


def config(**overrides: Any) -> LeaseConfig:
    return LeaseConfig(**{"name": "l", "namespace": "ns", "identity": "me", **overrides})


def test_the_durations_keep_client_gos_order() -> None:
    assert config(duration=15, renew=5).renew_deadline == 10
    with pytest.raises(ValueError, match="twice the renew period"):
        config(duration=6, renew=3)
    with pytest.raises(SettingsError, match="CHRONOS_LEASE_DURATION_SECONDS"):
        OperatorSettings.from_env(
            {"CHRONOS_LEASE_DURATION_SECONDS": "6", "CHRONOS_LEASE_RENEW_SECONDS": "4"}
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: connecting to it is refused


def test_acquire_retries_while_the_api_server_cannot_be_reached() -> None:
    """It used to crash the process on the first transport error at start-up."""

    async def scenario() -> None:
        leadership = Leadership(
            local_async_client(f"http://127.0.0.1:{_free_port()}"), config(duration=1, renew=0.2)
        )
        with pytest.raises(TimeoutError):  # still trying, not crashed
            await asyncio.wait_for(leadership.acquire(), 1.0)

    asyncio.run(scenario())


def test_a_leader_whose_renewals_hang_stops_leading_within_the_renew_deadline() -> None:
    """The API connection goes half-open after the lease was acquired: each renew hangs.
    The leader must give up before a standby may take over (renew deadline < duration)."""
    acquired = asyncio.Event()

    def script(request: Request) -> Answer | Stream:
        if not acquired.is_set():
            if request.method == "GET":
                return status(404, "NotFound")
            acquired.set()
            return Answer(lease("me"), 201)
        return Stream(hang=True)  # headers, then silence

    async def scenario() -> float:
        async with FakeApiServer(script) as server:
            cfg = config(duration=2.0, renew=0.5)  # renew deadline 1.5 s
            leadership = Leadership(local_async_client(server.url), cfg)
            await asyncio.wait_for(leadership.acquire(), 2)
            start = time.monotonic()
            await asyncio.wait_for(leadership.keep(), 5)
            assert leadership.lost.is_set()
            return time.monotonic() - start

    took = asyncio.run(scenario())
    # From acquisition: never beyond the deadline (plus scheduling slack), and well
    # before the lease duration, when a standby may act.
    assert took <= 1.5 + 0.3, took
    assert took < 2.0


def test_a_standby_times_the_lease_on_its_own_clock() -> None:
    """A lease held by another is expired only once this replica has seen it unchanged
    for its duration (renewTime comes from another node's clock)."""
    now = [0.0]
    answers = [
        Answer(lease("other", "1")),
        Answer(lease("other", "1")),
        Answer(lease("other", "1")),
        Answer(lease("me", "2")),
    ]

    def script(request: Request) -> Answer:
        return answers.pop(0) if request.method == "GET" else Answer(lease("me", "2"))

    async def scenario() -> list[bool]:
        async with FakeApiServer(script) as server:
            leadership = Leadership(
                local_async_client(server.url), config(duration=2, renew=0.5), clock=lambda: now[0]
            )
            results = [await leadership._try_acquire()]  # first sight: not expired
            now[0] = 1.5
            results.append(await leadership._try_acquire())  # seen 1.5 s: still held
            now[0] = 2.5
            results.append(await leadership._try_acquire())  # unchanged 2.5 s: taken
            return results

    assert asyncio.run(scenario()) == [False, False, True]
