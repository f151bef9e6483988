"""Fixtures for the CoreHub client, the fake CoreHub and the runner.

``fakehub`` is a control client of a fake CoreHub (plain HTTP, fast state changes)
reset before each test; ``fakehub_tls`` the same over TLS with a self-signed CA
(``fakehub_tls_files``); ``corehub`` builds CoreHub clients aimed at ``fakehub``;
``run_runner`` runs ``python -m chronos.runner`` as a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chronos import contract
from chronos.corehub import (
    ClientOptions,
    CoreHubClient,
    Deadline,
    ExecuteOptions,
    RetryPolicy,
    TLSOptions,
)
from chronos.fakehub import (
    DEFAULT_SEED,
    FakeCoreHub,
    FakeHubControl,
    FakeHubState,
    TLSFiles,
    generate_tls,
    server_ssl_context,
)

FAST_SEED: dict[str, Any] = {
    **DEFAULT_SEED,
    "users": {"admin": "admin", "chronos": "s3cret-pw"},
    "delays": {"activate": 0.05, "stop": 0.05, "snapshot": 0.2},
}
FAST_EXECUTE = ExecuteOptions(
    command_interval=0.0,
    poll_initial=0.02,
    poll_max=0.1,
    migration_start_timeout=1.0,
    quiet_wait=1.0,
    lost_answer_settle=0.3,
    lost_answer_window=5.0,
)
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)


@dataclass
class Recorder:
    """An event sink and a sleep that remember what they saw."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def event(self, step: str, fields: dict[str, Any]) -> None:
        self.events.append((step, fields))

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(seconds)

    def steps(self, name: str) -> list[dict[str, Any]]:
        return [f for s, f in self.events if s == name]


def _serve(state: FakeHubState, tls: Any = None) -> Iterator[FakeCoreHub]:
    hub = FakeCoreHub(state, tls=tls).start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="session")
def fakehub_server() -> Iterator[FakeCoreHub]:
    yield from _serve(FakeHubState(FAST_SEED))


@pytest.fixture
def fakehub(fakehub_server: FakeCoreHub) -> Iterator[FakeHubControl]:
    with FakeHubControl(fakehub_server.url) as control:
        control.reset()
        yield control


@pytest.fixture(scope="session")
def fakehub_tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return generate_tls(tmp_path_factory.mktemp("fakehub-tls"))


@pytest.fixture(scope="session")
def fakehub_tls_server(fakehub_tls_files: TLSFiles) -> Iterator[FakeCoreHub]:
    ctx = server_ssl_context(fakehub_tls_files.server_cert, fakehub_tls_files.server_key)
    yield from _serve(FakeHubState(FAST_SEED), ctx)


@pytest.fixture
def fakehub_tls(
    fakehub_tls_server: FakeCoreHub, fakehub_tls_files: TLSFiles
) -> Iterator[FakeHubControl]:
    with FakeHubControl(fakehub_tls_server.url, ca_file=fakehub_tls_files.ca_cert) as control:
        control.reset()
        yield control


MakeClient = Callable[..., CoreHubClient]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def corehub(fakehub: FakeHubControl, recorder: Recorder) -> Iterator[MakeClient]:
    """``corehub(url=..., username=..., password=..., deadline=..., tls=..., options=...)``."""
    made: list[CoreHubClient] = []

    def make(**overrides: Any) -> CoreHubClient:
        kwargs: dict[str, Any] = {
            "url": fakehub.url,
            "username": "admin",
            "password": "admin",
            "deadline": Deadline(20.0),
            "options": ClientOptions(connect_timeout=2.0, read_timeout=5.0, retry=FAST_RETRY),
            "tls": TLSOptions(),
            "events": recorder.event,
            "sleep": recorder.sleep,
        }
        kwargs.update(overrides)
        client = CoreHubClient(
            kwargs.pop("url"), kwargs.pop("username"), kwargs.pop("password"), **kwargs
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def runner_env(url: str, task: dict[str, Any], **settings: str) -> dict[str, str]:
    """A clean environment for the runner: this process's, minus every CHRONOS_* name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    env.update(
        {
            contract.ENV_COREHUB_URL: url,
            contract.ENV_COREHUB_USERNAME: "chronos",
            contract.ENV_COREHUB_PASSWORD: "s3cret-pw",
            contract.ENV_TASK: json.dumps(task),
            contract.ENV_TIMEOUT_SECONDS: "20",
            "CHRONOS_COREHUB_COMMAND_INTERVAL_SECONDS": "0",
        }
    )
    env.update(settings)
    return env


@dataclass
class RunnerResult:
    returncode: int
    lines: list[dict[str, Any]]
    stdout: str
    stderr: str
    termination: dict[str, Any] | None


RunRunner = Callable[..., RunnerResult]


@pytest.fixture
def run_runner(tmp_path: Path) -> RunRunner:
    """Run the runner with ``env``; returns its exit code, log lines and termination message."""
    counter = iter(range(1_000_000))

    def run(env: dict[str, str], timeout: float = 60.0) -> RunnerResult:
        path = tmp_path / f"termination-{next(counter)}.json"
        env = {contract.ENV_TERMINATION_MESSAGE_PATH: str(path), **env}
        proc = subprocess.run(
            [sys.executable, "-m", "chronos.runner"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        termination = json.loads(path.read_text()) if path.exists() else None
        return RunnerResult(proc.returncode, lines, proc.stdout, proc.stderr, termination)

    return run
