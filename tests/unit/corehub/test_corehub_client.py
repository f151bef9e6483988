"""The CoreHub client against the fake CoreHub: exact calls, waits, faults, TLS."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures_corehub import FAST_EXECUTE, MakeClient, Recorder

from chronos.corehub import (
    AuthenticationError,
    CoreHubTimeoutError,
    CoreHubUnreachableError,
    Deadline,
    EntityErrorStateError,
    ExecuteOptions,
    TaskRejectedError,
    TLSOptions,
    execute,
    plan,
)
from chronos.fakehub import FakeCoreHub, FakeHubControl, TLSFiles, server_ssl_context
from chronos.fakehub.state import FakeHubState
from chronos.models.chronosjob import Task, TaskType

P = "/pipelines/p1/commands/sync"


def task(type_: str, **extra: Any) -> Task:
    body: dict[str, Any] = {"type": type_, "pipelineId": "p1", **extra}
    if type_.startswith("entity_"):
        body.setdefault("entityIds", ["e1", "e2"])
    if type_.startswith("group_"):
        body.setdefault("groupIds", ["g1"])
    if type_.endswith("_wait"):
        body.setdefault("waitFor", {"state": "Hold", "timeoutSeconds": 5})
    return Task.model_validate(body)


def sent(fakehub: FakeHubControl) -> list[tuple[str, str, int | None]]:
    return [(c["path"], c["query"], c["status"]) for c in fakehub.commands()]


# Every task type, the exact commands CoreHub receives, and the entities' final states.
CASES: dict[str, tuple[list[tuple[str, str]], dict[str, str]]] = {
    "entity_start": (
        [
            (f"{P}/start", "entity=e1&withSnapshot=false&snapshotWriteMethod=UPSERT"),
            (f"{P}/start", "entity=e2&withSnapshot=false&snapshotWriteMethod=UPSERT"),
        ],
        {"e1": "Active", "e2": "Active", "e4": "Hold"},
    ),
    "entity_stop": (
        [(f"{P}/stop", "entity=e1"), (f"{P}/stop", "entity=e2")],
        {"e1": "Hold", "e2": "Hold", "e3": "Active"},
    ),
    "entity_snapshot": (
        [
            (f"{P}/stop", "entity=e1"),
            (f"{P}/one-time-snapshot", "entity=e1&snapshotWriteMethod=UPSERT"),
            (f"{P}/stop", "entity=e2"),
            (f"{P}/one-time-snapshot", "entity=e2&snapshotWriteMethod=UPSERT"),
        ],
        {"e1": "Hold", "e2": "Hold", "e3": "Active"},
    ),
    "entity_redo": (
        [
            (f"{P}/redo", "entity=e1&snapshotWriteMethod=UPSERT"),
            (f"{P}/redo", "entity=e2&snapshotWriteMethod=UPSERT"),
        ],
        {"e1": "Active", "e2": "Active", "e3": "Active", "e4": "Hold"},
    ),
    "pipeline_start": (
        [(f"{P}/start", "withSnapshot=false&snapshotWriteMethod=UPSERT")],
        {"e1": "Active", "e2": "Active", "e3": "Active", "e4": "Active"},
    ),
    "pipeline_stop": ([(f"{P}/stop", "")], {"e1": "Hold", "e3": "Hold", "e4": "Hold"}),
    "pipeline_snapshot": (
        [(f"{P}/one-time-snapshot", "snapshotWriteMethod=UPSERT")],
        {"e1": "Hold", "e3": "Active"},
    ),
    "pipeline_redo": (
        [(f"{P}/redo", "snapshotWriteMethod=UPSERT")],
        {"e1": "Active", "e2": "Active", "e3": "Active", "e4": "Active"},
    ),
    "group_start": (
        [(f"{P}/start-group", "groupId=g1&withSnapshot=false&snapshotWriteMethod=UPSERT")],
        {"e1": "Hold", "e3": "Active", "e4": "Active"},
    ),
    "group_stop": ([(f"{P}/stop-group", "groupId=g1")], {"e3": "Hold", "e4": "Hold"}),
    "group_snapshot": (
        [(f"{P}/one-time-snapshot-group", "groupId=g1&snapshotWriteMethod=UPSERT")],
        {"e3": "Active", "e4": "Hold"},
    ),
    "group_redo": (
        [(f"{P}/redo-group", "groupId=g1&snapshotWriteMethod=UPSERT")],
        {"e3": "Active", "e4": "Active", "e1": "Hold"},
    ),
    # Maintenance changes no entity; the pipeline's flag is checked in test_corehub_tasks.
    "pipeline_maintenance_enter": (
        [("/pipelines/p1/commands/maintenance/enter", "")],
        {"e1": "Hold", "e3": "Active"},
    ),
    "pipeline_maintenance_exit": (
        [("/pipelines/p1/commands/maintenance/exit", "")],
        {"e1": "Hold", "e3": "Active"},
    ),
    # A wait sends nothing: e1 and e2 are on Hold already; g1's e3 stops later (below).
    "entity_wait": ([], {"e1": "Hold", "e2": "Hold"}),
    "group_wait": ([], {"e3": "Hold", "e4": "Hold"}),
}


def state_of(fakehub: FakeHubControl, entity: str) -> str:
    e = fakehub.entity("p1", entity)
    if e["errorState"]:
        return "Error"
    return "Active" if e["isSyncActive"] or e["isMigrationActive"] else "Hold"


def test_cases_cover_every_task_type() -> None:
    assert set(CASES) == {t.value for t in TaskType if t.corehub}


@pytest.mark.parametrize("type_", sorted(CASES))
def test_task_type_sends_exact_commands_and_reaches_the_state(
    type_: str, fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    # e3 starts active and e4 on hold, so stops, snapshots and starts all have work to do.
    fakehub.set_entity("p1", "e3", isSyncActive=True)
    if type_ == "group_wait":
        # Not on Hold when the wait begins: met only once the fake changes it.
        fakehub.set_entity("p1", "e3", after=0.3, isSyncActive=False)
    if type_ == "entity_stop":
        for e in ("e1", "e2"):
            fakehub.set_entity("p1", e, isSyncActive=True)
    commands, states = CASES[type_]
    outcome = execute(corehub(), task(type_), FAST_EXECUTE)
    assert outcome.ok, [r.message for r in outcome.results]
    assert [(p, q) for p, q, _ in sent(fakehub)] == commands
    assert all(200 <= s <= 204 for _, _, s in sent(fakehub) if s is not None)
    for entity, expected in states.items():
        assert state_of(fakehub, entity) == expected, entity


def test_results_per_target(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    client = corehub()
    by_entity = execute(client, task("entity_start"), FAST_EXECUTE)
    assert [(r.id, r.ok, r.state) for r in by_entity.results] == [
        ("e1", True, "Active"),
        ("e2", True, "Active"),
    ]
    by_group = execute(client, task("group_stop", groupIds=["g1", "_default"]), FAST_EXECUTE)
    assert [(r.id, r.state) for r in by_group.results] == [("g1", "Hold"), ("_default", "Hold")]
    by_pipeline = execute(client, task("pipeline_start"), FAST_EXECUTE)
    assert [r.id for r in by_pipeline.results] == ["e1", "e2", "e3", "e4"]


def test_snapshot_waits_for_the_stop_before_snapshotting(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.configure(delays={"stop": 0.6})
    fakehub.set_entity("p1", "e1", isSyncActive=True)
    outcome = execute(corehub(), task("entity_snapshot", entityIds=["e1"]), FAST_EXECUTE)
    assert outcome.ok
    requests = fakehub.requests()
    paths = [r["path"] for r in requests]
    stop = paths.index(f"{P}/stop")
    snapshot = paths.index(f"{P}/one-time-snapshot")
    assert stop < snapshot
    polls = [p for p in paths[stop:snapshot] if p.endswith("/entities-status")]
    assert len(polls) >= 2  # it polled while the entity was still stopping
    elapsed = _at(requests[snapshot]) - _at(requests[stop])
    assert elapsed >= 0.6
    # It then waited for the snapshot to finish: polls after it, and the last saw Hold.
    assert paths[-1].endswith("/entities-status")
    assert state_of(fakehub, "e1") == "Hold"


def _at(request: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(request["time"]).timestamp()


def test_snapshot_result_waits_for_the_migration_to_finish(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.configure(delays={"snapshot": 0.8})
    started = time.monotonic()
    outcome = execute(corehub(), task("pipeline_snapshot"), FAST_EXECUTE)
    assert outcome.ok
    assert time.monotonic() - started >= 0.8


def test_login_sends_credentials_and_bearer_token(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    client = corehub()
    assert [p["id"] for p in client.pipelines()] == ["p1", "pipeline-123"]
    assert [r["path"] for r in fakehub.requests()] == ["/authentication/login", "/pipelines"]


def test_read_calls(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    client = corehub()
    fakehub.configure(wrapPipelines=True)
    assert [p["id"] for p in client.pipelines()] == ["p1", "pipeline-123"]
    assert client.pipeline("p1")["name"] == "Orders"
    assert [e.entity_id for e in client.entities("p1")] == ["e1", "e2", "e3", "e4"]
    assert {g["groupId"] for g in client.groups("p1")} == {"_default", "g1"}
    assert set(client.entities_status("p1")) == {"e1", "e2", "e3", "e4"}
    assert "entities" in client.snapshot_status("p1")


def test_wrong_password_is_an_authentication_error(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    with pytest.raises(AuthenticationError, match="refused \\(401\\)"):
        corehub(password="wrong").pipelines()
    assert [r["path"] for r in fakehub.requests()] == ["/authentication/login"]


def test_expired_token_means_one_relogin(
    fakehub: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    fakehub.add_fault("expire-token", path="/commands/")
    outcome = execute(corehub(), task("entity_start", entityIds=["e1"]), FAST_EXECUTE)
    assert outcome.ok
    paths = [(r["path"], r["status"]) for r in fakehub.requests()]
    assert paths[:4] == [
        ("/authentication/login", 200),
        (f"{P}/start", 401),
        ("/authentication/login", 200),
        (f"{P}/start", 200),
    ]
    assert len(recorder.steps("login")) == 2


def test_expired_tokens_between_calls(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    client = corehub()
    client.pipelines()
    assert fakehub.expire_tokens() == 1
    client.pipelines()
    assert [r["status"] for r in fakehub.requests()] == [200, 200, 401, 200, 200]


def test_second_401_after_relogin_fails(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    fakehub.add_fault("status", path="/commands/", status=401, count=2, message="nope")
    outcome = execute(corehub(), task("entity_start", entityIds=["e1", "e2"]), FAST_EXECUTE)
    assert isinstance(outcome.error, AuthenticationError)
    assert [r.message.startswith("not attempted") for r in outcome.results] == [False, True]
    logins = [r for r in fakehub.requests() if r["path"] == "/authentication/login"]
    assert len(logins) == 2
    assert len(fakehub.commands()) == 2


def test_429_retry_after_is_honoured(
    fakehub: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    fakehub.add_fault("status", path="/commands/", status=429, retryAfter="1")
    outcome = execute(corehub(), task("entity_start", entityIds=["e1"]), FAST_EXECUTE)
    assert outcome.ok
    assert [s for _, _, s in sent(fakehub)] == [429, 200]
    assert recorder.sleeps[0] == 1.0
    retry = recorder.steps("retry")
    assert len(retry) == 1
    assert retry[0]["delaySeconds"] == 1.0


def test_503_twice_then_success(
    fakehub: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    fakehub.add_fault("status", path="/commands/", status=503, count=2)
    outcome = execute(corehub(), task("entity_start", entityIds=["e1"]), FAST_EXECUTE)
    assert outcome.ok
    assert [s for _, _, s in sent(fakehub)] == [503, 503, 200]
    assert len(recorder.steps("retry")) == 2


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_are_retried(
    status: int, fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("status", path="/pipelines$", status=status)
    assert len(corehub().pipelines()) == 2
    assert [r["status"] for r in fakehub.requests()] == [200, status, 200]


def test_503_forever_is_unreachable(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    fakehub.add_fault("status", path="/commands/", status=503, count=None)
    outcome = execute(corehub(), task("entity_start", entityIds=["e1"]), FAST_EXECUTE)
    assert isinstance(outcome.error, CoreHubUnreachableError)
    assert len(fakehub.commands()) == 4  # FAST_RETRY.max_attempts


def test_retry_after_beyond_the_deadline_is_a_timeout(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("status", path="/commands/", status=429, retryAfter="30")
    started = time.monotonic()
    outcome = execute(
        corehub(deadline=Deadline(3.0)), task("entity_start", entityIds=["e1"]), FAST_EXECUTE
    )
    assert isinstance(outcome.error, CoreHubTimeoutError)
    assert time.monotonic() - started < 2.0
    assert len(fakehub.commands()) == 1


@pytest.mark.parametrize(("status", "message"), [(500, "internal"), (400, "bad"), (403, "no")])
def test_other_errors_are_rejections_and_not_retried(
    status: int, message: str, fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("status", path="/commands/", status=status, message=message)
    outcome = execute(corehub(), task("entity_start", entityIds=["e1", "e2"]), FAST_EXECUTE)
    error = outcome.error
    assert isinstance(error, TaskRejectedError)
    assert (error.status_code, error.corehub_message) == (status, message)
    # The first entity failed; the second was still tried and started.
    assert [(r.id, r.ok) for r in outcome.results] == [("e1", False), ("e2", True)]
    assert [s for _, _, s in sent(fakehub)] == [status, 200]


def test_unknown_entity_is_rejected_with_corehub_message(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    outcome = execute(corehub(), task("entity_start", entityIds=["nope"]), FAST_EXECUTE)
    assert isinstance(outcome.error, TaskRejectedError)
    assert outcome.error.status_code == 404
    assert "Entity nope not found" in str(outcome.error)


def test_maintenance_mode_rejects_commands(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    client = corehub()
    client.maintenance("p1", enter=True)
    assert client.pipeline("p1")["isInMaintenanceMode"] is True
    outcome = execute(client, task("pipeline_start"), FAST_EXECUTE)
    assert isinstance(outcome.error, TaskRejectedError)
    assert outcome.error.status_code == 409
    client.maintenance("p1", enter=False)
    assert execute(client, task("pipeline_start"), FAST_EXECUTE).ok


def test_dropped_connection_on_a_start_is_retried(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("drop", path="/commands/")
    outcome = execute(corehub(), task("entity_start", entityIds=["e1"]), FAST_EXECUTE)
    assert outcome.ok
    assert [s for _, _, s in sent(fakehub)] == [None, 200]


def test_dropped_connection_on_a_snapshot_is_not_resent(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("drop", path="one-time-snapshot")
    outcome = execute(corehub(), task("entity_snapshot", entityIds=["e1"]), FAST_EXECUTE)
    assert isinstance(outcome.error, CoreHubUnreachableError)
    assert "outcome unknown" in str(outcome.error)
    snapshots = [c for c in fakehub.commands() if c["path"].endswith("one-time-snapshot")]
    assert len(snapshots) == 1


def test_nothing_listening_is_unreachable(corehub: MakeClient, recorder: Recorder) -> None:
    with FakeCoreHub(FakeHubState()) as hub:
        url = hub.url  # a port that was just free and is now closed
    with pytest.raises(CoreHubUnreachableError, match="gave up after 4 attempts"):
        corehub(url=url).pipelines()
    assert len(recorder.steps("retry")) == 3


def test_slow_answer_is_retried_after_a_read_timeout(
    fakehub: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    from fixtures_corehub import FAST_RETRY

    from chronos.corehub import ClientOptions

    fakehub.add_fault("latency", path="/pipelines$", seconds=1.0)
    options = ClientOptions(connect_timeout=1.0, read_timeout=0.3, retry=FAST_RETRY)
    assert len(corehub(options=options).pipelines()) == 2
    retries = recorder.steps("retry")
    assert len(retries) == 1
    assert "Timeout" in retries[0]["cause"]


def test_latency_is_bounded_by_the_run_deadline(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("latency", path="/commands/", seconds=3.0)
    started = time.monotonic()
    outcome = execute(
        corehub(deadline=Deadline(1.0)), task("entity_start", entityIds=["e1"]), FAST_EXECUTE
    )
    assert isinstance(outcome.error, CoreHubTimeoutError)
    assert time.monotonic() - started < 2.5


def test_entity_never_reaching_the_state_times_out(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("stuck", path="/commands/")
    outcome = execute(
        corehub(deadline=Deadline(1.5)), task("entity_start", entityIds=["e1", "e2"]), FAST_EXECUTE
    )
    assert isinstance(outcome.error, CoreHubTimeoutError)
    assert outcome.error.deadline_exceeded
    assert "e1" in str(outcome.error)
    assert [r.ok for r in outcome.results] == [False, False]
    assert outcome.results[1].message.startswith("not attempted")
    assert len(fakehub.commands()) == 1


def test_state_timeout_fails_one_entity_and_goes_on(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("stuck", path="/commands/")
    options = ExecuteOptions(command_interval=0, poll_initial=0.02, poll_max=0.1, state_timeout=0.5)
    outcome = execute(corehub(), task("entity_start", entityIds=["e1", "e2"]), options)
    assert [(r.id, r.ok) for r in outcome.results] == [("e1", False), ("e2", True)]
    assert isinstance(outcome.error, CoreHubTimeoutError)
    assert not outcome.error.deadline_exceeded


def test_entity_in_error_fails_that_entity(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    fakehub.set_entity("p1", "e1", errorState={"severity": "ERROR", "message": "target down"})
    outcome = execute(corehub(), task("entity_start", entityIds=["e1", "e2"]), FAST_EXECUTE)
    assert isinstance(outcome.error, EntityErrorStateError)
    assert "target down" in str(outcome.error)
    assert [(r.id, r.ok) for r in outcome.results] == [("e1", False), ("e2", True)]


def test_warning_does_not_fail_a_start(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    fakehub.set_entity("p1", "e1", errorState={"severity": "WARNING", "message": "lag"})
    outcome = execute(corehub(), task("entity_start", entityIds=["e1"]), FAST_EXECUTE)
    assert outcome.ok
    assert outcome.results[0].state == "Warning"


def test_secrets_never_reach_events_or_repr(
    fakehub: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    client = corehub(username="chronos", password="s3cret-pw")
    fakehub.add_fault("expire-token", path="/commands/")
    fakehub.add_fault("status", path="/commands/", status=503)
    assert execute(client, task("entity_start", entityIds=["e1"]), FAST_EXECUTE).ok
    assert len(recorder.steps("login")) == 2
    dump = json.dumps(recorder.events) + repr(client)
    assert "s3cret-pw" not in dump
    # Every token the fake issues starts with "fake.", so none leaked into the events.
    assert _login(fakehub.url, "chronos", "s3cret-pw")["apiToken"].startswith("fake.")
    assert "fake." not in dump


def _login(url: str, user: str, password: str) -> dict[str, Any]:
    from chronos.http import Client

    with Client(base_url=url) as http:
        body = {"username": user, "password": password}
        return dict(http.post("/authentication/login", json=body).json())


# ------------------------------------------------------------------------------ TLS


def test_tls_with_the_fakes_ca(
    fakehub_tls: FakeHubControl, fakehub_tls_files: TLSFiles, corehub: MakeClient
) -> None:
    client = corehub(url=fakehub_tls.url, tls=TLSOptions(ca_file=fakehub_tls_files.ca_cert))
    assert fakehub_tls.url.startswith("https://")
    assert execute(client, task("entity_start", entityIds=["e1"]), FAST_EXECUTE).ok
    assert len(fakehub_tls.commands()) == 1


def test_tls_without_the_ca_is_refused_without_retries(
    fakehub_tls: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    with pytest.raises(CoreHubUnreachableError, match="CERTIFICATE_VERIFY_FAILED"):
        corehub(url=fakehub_tls.url).pipelines()
    assert recorder.steps("retry") == []
    assert fakehub_tls.requests() == []


def test_insecure_skip_verify_works_and_warns(
    fakehub_tls: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    client = corehub(url=fakehub_tls.url, tls=TLSOptions(insecure_skip_verify=True))
    assert len(client.pipelines()) == 2
    warnings = recorder.steps("tls")
    assert len(warnings) == 1
    assert warnings[0]["level"] == "warning"


def test_plain_http_never_warns_about_tls(corehub: MakeClient, recorder: Recorder) -> None:
    corehub(tls=TLSOptions(insecure_skip_verify=True)).pipelines()
    assert recorder.steps("tls") == []


def test_client_certificate(
    fakehub_tls_files: TLSFiles, corehub: MakeClient, tmp_path: Path
) -> None:
    files = fakehub_tls_files
    ctx = server_ssl_context(files.server_cert, files.server_key, client_ca=files.ca_cert)
    with FakeCoreHub(FakeHubState(), tls=ctx) as hub:
        with_cert = TLSOptions(
            ca_file=files.ca_cert, client_cert=files.client_cert, client_key=files.client_key
        )
        assert len(corehub(url=hub.url, tls=with_cert).pipelines()) == 2
        without = TLSOptions(ca_file=files.ca_cert)
        with pytest.raises(CoreHubUnreachableError):
            corehub(url=hub.url, tls=without).pipelines()


def test_every_plan_step_is_exercised() -> None:
    # Guards CASES above against drifting from plan(): same command count per type.
    for type_, (commands, _) in CASES.items():
        assert sum(len(s.commands) for s in plan(task(type_))) == len(commands), type_
