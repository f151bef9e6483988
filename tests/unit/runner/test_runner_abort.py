"""Issue 20, feature 5: the runner as a process gets SIGTERM mid-run (its Job deleted)
and records ``aborted`` with the commands CoreHub had accepted and the entities' states,
within the grace period, against the fake CoreHub. Plus the pure parts of
chronos.runner.abort."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from fixtures_corehub import runner_env

from chronos import contract
from chronos.corehub import EntityStatus
from chronos.fakehub import FakeHubControl
from chronos.models.chronosjob import MAX_TEXT, EntityResult, RunResult
from chronos.runner.abort import (
    MAX_NAMED_COMMANDS,
    READBACK_SECONDS,
    Sent,
    abort_entities,
    abort_message,
    targets,
)

SNAPSHOT_E1 = {"type": "entity_snapshot", "pipelineId": "p1", "entityIds": ["e1"]}
START_E1 = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1"]}
#: Kubernetes' default terminationGracePeriodSeconds: the runner must be done well within.
GRACE = 30.0


@dataclass
class Aborted:
    returncode: int
    lines: list[dict[str, Any]]
    termination: dict[str, Any] | None
    seconds_after_sigterm: float
    stderr: str


def _pump(stream: IO[str], out: queue.Queue[str | None]) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


@pytest.fixture
def abort_runner(tmp_path: Path) -> Iterator[Callable[..., Aborted]]:
    """Start the runner; SIGTERM it once a log line satisfies ``when``; its outcome."""
    started: list[subprocess.Popen[str]] = []

    def run(env: dict[str, str], when: Callable[[dict[str, Any]], bool]) -> Aborted:
        path = tmp_path / "termination.json"
        proc = subprocess.Popen(
            [sys.executable, "-m", "chronos.runner"],
            env={contract.ENV_TERMINATION_MESSAGE_PATH: str(path), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while True:
            text = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert text is not None, f"the runner ended first: {seen}"
            seen.append(json.loads(text))
            if when(seen[-1]):
                break
        sent_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=GRACE)
        took = time.monotonic() - sent_at
        while (text := lines.get(timeout=5)) is not None:
            seen.append(json.loads(text))
        assert proc.stderr is not None
        termination = json.loads(path.read_text()) if path.exists() else None
        return Aborted(proc.returncode, seen, termination, took, proc.stderr.read())

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_mid_run_records_the_commands_sent_and_the_states_left(
    fakehub: FakeHubControl, abort_runner: Callable[..., Aborted]
) -> None:
    # stop is applied, the snapshot is accepted but never starts: the run waits on it.
    fakehub.add_fault("stuck", path="one-time-snapshot$")
    env = runner_env(fakehub.url, SNAPSHOT_E1, **{contract.ENV_RUN_ID: "job-a"})
    result = abort_runner(
        env,
        lambda line: line["step"] == "command" and line["path"].endswith("one-time-snapshot"),
    )
    assert result.returncode == 9, result.stderr
    assert "Traceback" not in result.stderr
    assert result.seconds_after_sigterm < READBACK_SECONDS + 3
    record = result.termination
    assert record is not None
    assert (record["runId"], record["result"], record["reason"]) == ("job-a", "aborted", "Aborted")
    assert record["entities"] == [{"id": "e1", "result": "aborted", "state": "Hold"}]
    message = record["message"]
    assert message.startswith("aborted (SIGTERM) after 2 CoreHub command(s) sent: ")
    assert "/pipelines/p1/commands/sync/stop" in message
    assert "/pipelines/p1/commands/sync/one-time-snapshot" in message
    assert message.endswith("states left: e1 Hold")
    # No command after the signal; the states were read once more, after it.
    assert [c["path"].rsplit("/", 1)[-1] for c in fakehub.commands()] == [
        "stop",
        "one-time-snapshot",
    ]
    steps = [line["step"] for line in result.lines]
    assert steps.index("abort") < steps.index("result")
    final = next(line for line in result.lines if line["step"] == "result")
    assert (final["result"], final["exitCode"]) == ("aborted", 9)
    reads = [r for r in fakehub.requests() if r["path"].endswith("/entities-status")]
    assert reads, "the states were not read back"
    assert "s3cret-pw" not in json.dumps(result.lines)


def test_sigterm_during_a_hanging_request_ends_within_the_grace_period(
    fakehub: FakeHubControl, abort_runner: Callable[..., Aborted]
) -> None:
    # CoreHub hangs on the login: the signal cuts the request, nothing is sent after.
    fakehub.add_fault("latency", path="/authentication/login", seconds=8)
    env = runner_env(fakehub.url, START_E1, **{contract.ENV_RUN_ID: "job-b"})
    result = abort_runner(env, lambda line: line["step"] == "start")
    assert result.returncode == 9, result.stderr
    assert result.seconds_after_sigterm < 3, "waited for CoreHub's answer"
    record = result.termination
    assert record is not None
    assert record["result"] == "aborted"
    assert record["message"] == "aborted (SIGTERM) before CoreHub accepted any command"
    assert "entities" not in record
    time.sleep(0.2)
    assert fakehub.commands() == []
    assert not [r for r in fakehub.requests() if r["path"].endswith("/entities-status")]


# ------------------------------------------------------------------------- pure parts


def _status(entity: str, **fields: Any) -> EntityStatus:
    body = {"entityId": entity, "isSyncActive": False, "isMigrationActive": False, **fields}
    return EntityStatus.model_validate(body)


def test_sent_keeps_accepted_commands_and_waited_entities_and_passes_events_on() -> None:
    passed: list[str] = []
    sent = Sent(lambda step, fields: passed.append(step))
    sent("login", {})
    sent("command", {"path": "/pipelines/p1/commands/sync/start", "params": {"entityId": "e 1"}})
    sent("wait", {"phase": "begin", "entities": ["e 1", "e2"]})
    sent("wait", {"phase": "done", "states": {"e 1": "Active"}})
    sent("wait", {"phase": "begin", "entities": ["e2"]})
    assert passed == ["login", "command", "wait", "wait", "wait"]
    # The parameters encoded by the one query encoder, as the request sent them.
    assert sent.commands == ["/pipelines/p1/commands/sync/start?entityId=e%201"]
    assert sent.entities == ["e 1", "e2"]
    assert targets(sent, ["x"]) == ["e 1", "e2"]


def test_targets_fall_back_to_the_task_s_entities_and_are_none_without_a_command() -> None:
    sent = Sent(lambda step, fields: None)
    assert targets(sent, ["e1"]) == []
    sent("command", {"path": "/p", "params": {}})
    assert targets(sent, ["e1"]) == ["e1"]
    assert targets(sent, None) == []


def test_abort_entities_state_per_entity_and_unlisted_ones_said() -> None:
    statuses = {"e1": _status("e1", isSyncActive=True), "e2": _status("e2")}
    assert abort_entities(["e1", "e2", "e3"], statuses) == [
        EntityResult(id="e1", result=RunResult.ABORTED, state="Active"),
        EntityResult(id="e2", result=RunResult.ABORTED, state="Hold"),
        EntityResult(
            id="e3",
            result=RunResult.ABORTED,
            message="not listed in CoreHub's entity status",
        ),
    ]
    # Unread (CoreHub did not answer): no state, no claim about listing.
    assert abort_entities(["e1"], None) == [EntityResult(id="e1", result=RunResult.ABORTED)]
    assert abort_entities([], statuses) is None


def test_abort_message_names_commands_states_and_stays_bounded() -> None:
    entities = [EntityResult(id="e1", result=RunResult.ABORTED, state="Hold")]
    assert abort_message(["/a", "/b"], entities, "") == (
        "aborted (SIGTERM) after 2 CoreHub command(s) sent: /a; /b; states left: e1 Hold"
    )
    unread = abort_message(["/a"], [EntityResult(id="e1", result=RunResult.ABORTED)], "oops")
    assert unread.endswith("states left: e1 unknown; oops")
    many = abort_message([f"/{'x' * 500}{i}" for i in range(40)], None, "")
    assert len(many) == MAX_TEXT
    assert many.endswith("…")
    few = abort_message([f"/c{i}" for i in range(MAX_NAMED_COMMANDS + 2)], None, "")
    assert few.endswith("; and 2 more")


def test_a_sigterm_near_the_timeout_is_the_deadline_not_an_abort() -> None:
    from chronos.runner.run import deadline_slack

    assert deadline_slack(8) == 5.0  # the pod's start-up eats into a short deadline
    assert deadline_slack(120) == 30.0
    assert deadline_slack(3600) == 60.0  # an abort a minute before a long timeout is one
