"""Issue 17: ids that try to leave their path segment, and answers quoted with secrets.

Against the real fake CoreHub and the runner's code path (``execute`` with a
``CoreHubClient``, as ``chronos.runner.run`` calls it; the runner process for the
quoting). The tasks are built with ``model_construct``: the models refuse these ids, and
the client must be safe for a task that bypassed them (defence in depth).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import pytest
from fixtures_corehub import FAST_EXECUTE, FAST_RETRY, RunRunner, runner_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronos import contract
from chronos.corehub import (
    ClientOptions,
    CoreHubClient,
    Deadline,
    TaskOutcome,
    UnsafeIdError,
    UnusableAnswerError,
    execute,
)
from chronos.fakehub import FakeCoreHub, FakeHubControl
from chronos.models.chronosjob import WAIT_TYPES, SnapshotWriteMethod, Task, TaskType
from chronos.models.rules import COREHUB_ID
from chronos.models.tasks import EntityState, WaitFor

#: What the reviewers tried, and relatives: climb out of the path, into the query or a
#: fragment, onto the fake's control API, with encodings a server might decode twice.
KNOWN_ATTACKS = [
    "x/../../anything/here#",
    "x/../../_fake/state#",
    "../../_fake/reset",
    "p1/commands/sync/stop?",
    "p1#",
    "p1?entity=e1",
    "%2e%2e",
    "%2F_fake%2Fstate",
    "..%2f..%2f_fake",
    "p1/../p1",
    "e1&entity=e2",
    "a b\tc\nd",
    "\\..\\..\\",
    "/",
    "//",
    "@evil.example",
    "é/ü",
]
#: Ids refused before any request: they cannot be a path segment at all.
NOT_SEGMENTS = ["", ".", ".."]
#: Ids the models refuse (so none names anything on the fake CoreHub either).
HOSTILE = st.one_of(
    st.sampled_from(KNOWN_ATTACKS + NOT_SEGMENTS),
    st.text(alphabet="/?#%.&=;:@\\ e1p_-", max_size=24),
    st.text(max_size=24),
).filter(lambda v: not COREHUB_ID.matches(v))

SEGMENT = r"[A-Za-z0-9._~%-]+"
#: Every request the runner may send (/work/shared/corehub-api.md), the ids as one
#: encoded segment each.
DOCUMENTED = re.compile(
    rf"^/authentication/login$|^/pipelines$"
    rf"|^/pipelines/(?P<pipeline>{SEGMENT})"
    r"(?:/entities|/entities-status|/config/groups|/snapshot-status"
    r"|/commands/sync/(?:start|stop|one-time-snapshot|redo)(?:-group)?"
    r"|/commands/maintenance/(?:enter|exit))?$"
)
PARAMS = {"entity", "groupId", "withSnapshot", "snapshotWriteMethod"}


def hostile_task(type_: TaskType, pipeline: str, ids: list[str]) -> Task:
    """A task as the runner would get it, had the models not refused its ids."""
    scope = type_.scope
    return Task.model_construct(
        type=type_,
        pipeline_id=pipeline,
        entity_ids=ids if scope == "entity" else None,
        group_ids=ids if scope == "group" else None,
        with_snapshot=False,
        snapshot_write_method=SnapshotWriteMethod.UPSERT,
        # Hold: what every seeded entity is in, so only the hostile id can fail a wait.
        wait_for=WaitFor(state=EntityState.HOLD, timeout_seconds=5)
        if type_ in WAIT_TYPES
        else None,
    )


def run(url: str, task: Task) -> TaskOutcome:
    options = ClientOptions(connect_timeout=2.0, read_timeout=5.0, retry=FAST_RETRY)
    with CoreHubClient(
        url, "admin", "admin", options=options, deadline=Deadline(10.0), events=lambda s, f: None
    ) as client:
        return execute(client, task, FAST_EXECUTE)


def assert_only_documented(requests: list[dict[str, Any]], task: Task) -> None:
    ids = set(task.entity_ids or ()) | set(task.group_ids or ())
    for request in requests:
        path = request["path"]
        match = DOCUMENTED.match(path)
        assert match is not None, f"undocumented request {request['method']} {path}"
        if match["pipeline"] is not None:
            assert unquote(match["pipeline"], errors="strict") == task.pipeline_id, path
        for name, value in request["params"]:
            assert name in PARAMS, request
            if name in ("entity", "groupId"):
                assert value in ids, request


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hostile=HOSTILE, where=st.sampled_from(["pipeline", "ids"]))
def test_hostile_ids_never_leave_their_segment_for_any_task_type(
    fakehub_server: FakeCoreHub, hostile: str, where: str
) -> None:
    with FakeHubControl(fakehub_server.url) as control:
        control.reset()
        before = control.state()
        for type_ in (t for t in TaskType if t.corehub):
            pipeline = hostile if where == "pipeline" or type_.scope == "pipeline" else "p1"
            task = hostile_task(type_, pipeline, [hostile])
            outcome = run(fakehub_server.url, task)
            # No hostile id names anything on the fake: every run fails, CoreHub untouched.
            assert not outcome.ok, (type_, outcome)
            requests = control.requests()
            assert_only_documented(requests, task)
            if pipeline in NOT_SEGMENTS:
                # Refused before anything was sent, login included.
                assert requests == []
                assert isinstance(outcome.error, UnsafeIdError)
            assert control.state() == before, type_
            control.reset()


def test_the_reported_attack_reaches_neither_another_path_nor_the_control_api(
    fakehub: FakeHubControl,
) -> None:
    outcome = run(fakehub.url, hostile_task(TaskType.PIPELINE_START, "x/../../_fake/state#", []))
    (request,) = [r for r in fakehub.requests() if r["path"] != "/authentication/login"]
    assert (request["method"], request["path"], request["status"]) == (
        "GET",
        "/pipelines/x%2F..%2F..%2F_fake%2Fstate%23/entities",
        404,
    )
    message = outcome.results[0].message
    assert message.endswith(": Pipeline x/../../_fake/state# not found"), message
    assert "users" not in message


# --------------------------------------------------------------- quoted answers are masked

#: The runner's credentials in fixtures_corehub.runner_env.
RUNNER_USER, RUNNER_PASSWORD = "chronos", "s3cret-pw"


def test_a_wrong_shaped_answer_quoted_by_the_runner_is_masked(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    # A proxy's (or another endpoint's) answer that echoes what it was sent: the quote
    # in status.lastRun.message (here the termination message) shows none of it.
    echoed = {"users": {RUNNER_USER: RUNNER_PASSWORD}, "note": "x" * 150 + RUNNER_PASSWORD}
    fakehub.add_fault("answer", path="/entities-status$", json=echoed, count=None)
    task = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1"]}
    result = run_runner(runner_env(fakehub.url, task, **{contract.ENV_RUN_ID: "job-m"}))
    assert result.returncode == 8, result.stdout + result.stderr
    assert result.termination is not None
    message = result.termination["message"]
    assert "CoreHub answered something that is not entity status" in message
    assert '{"users": {"***": "***"}' in message
    everything = result.stdout + result.stderr + str(result.termination)
    assert RUNNER_PASSWORD not in everything
    assert f'"{RUNNER_USER}"' not in everything
    # Not even the start of the password where the quote is cut.
    assert RUNNER_PASSWORD[:4] not in everything


@pytest.mark.parametrize("password", ['pw"with\\escapes', "päss wörd  two spaces", "x" * 30])
def test_masking_holds_for_json_escapes_whitespace_and_the_cut(
    fakehub: FakeHubControl, password: str
) -> None:
    fakehub.configure(users={"admin": password})
    # The password placed where the 200-character quote is cut.
    echoed = ["y" * 185 + password, {"password": password}]
    fakehub.add_fault("answer", path="/entities$", json=echoed, count=None)
    options = ClientOptions(connect_timeout=2.0, read_timeout=5.0, retry=FAST_RETRY)
    events: list[tuple[str, dict[str, Any]]] = []
    with CoreHubClient(
        fakehub.url,
        "admin",
        password,
        options=options,
        deadline=Deadline(10.0),
        events=lambda s, f: events.append((s, f)),
    ) as client:
        outcome = execute(client, hostile_task(TaskType.GROUP_STOP, "p1", ["g1"]), FAST_EXECUTE)
    assert isinstance(outcome.error, UnusableAnswerError)
    shown = str(outcome.error) + outcome.results[0].message + str(events)
    assert "***" in outcome.results[0].message
    for part in (password, password[:8], json.dumps(password)[1:-1], " ".join(password.split())):
        assert part not in shown


def test_an_entity_error_and_a_command_answer_are_masked(
    fakehub: FakeHubControl, corehub: Any, recorder: Any
) -> None:
    fakehub.set_entity("p1", "e1", errorState={"severity": "ERROR", "message": "admin:admin bad"})
    outcome = execute(corehub(), hostile_task(TaskType.ENTITY_STOP, "p1", ["e1"]), FAST_EXECUTE)
    assert outcome.results[0].message == "entity e1 is in Error: ERROR: ***:*** bad"
    fakehub.clear_faults()
    fakehub.add_fault("answer", path="/commands/", json={"message": "hello admin"}, after=True)
    execute(corehub(), hostile_task(TaskType.ENTITY_START, "p1", ["e2"]), FAST_EXECUTE)
    answers = [f["answer"] for f in recorder.steps("command")]
    assert "hello ***" in answers
    assert all("admin" not in str(a) for a in answers)
