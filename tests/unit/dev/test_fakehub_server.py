"""The fake CoreHub itself: its CoreHub calls, state changes, control API and CLI."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from chronos.fakehub import FakeCoreHub, FakeHubControl, FakeHubState, load_seed
from chronos.http import Client, RemoteProtocolError


@pytest.fixture
def api(fakehub: FakeHubControl) -> Iterator[Client]:
    """A raw HTTP client logged in to the fake, to see its answers unfiltered."""
    with Client(base_url=fakehub.url) as http:
        token = http.post(
            "/authentication/login", json={"username": "admin", "password": "admin"}
        ).json()["apiToken"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield http


def test_login_answers_like_corehub(fakehub: FakeHubControl) -> None:
    with Client(base_url=fakehub.url) as http:
        ok = http.post("/authentication/login", json={"username": "admin", "password": "admin"})
        assert ok.status_code == 200
        assert ok.json()["changeRequired"] is False
        assert ok.json()["apiToken"]
        bad = http.post("/authentication/login", json={"username": "admin", "password": "x"})
        assert bad.status_code == 401
        assert http.get("/pipelines").status_code == 401
        nope = http.get("/pipelines", headers={"Authorization": "Bearer made-up"})
        assert nope.status_code == 401
        assert nope.json()["message"].startswith("Invalid authorization token")


def test_commands_change_state_after_the_configured_delay(
    fakehub: FakeHubControl, api: Client
) -> None:
    fakehub.configure(delays={"activate": 0.4})
    r = api.post("/pipelines/p1/commands/sync/start", params={"entity": "e1"})
    assert r.status_code == 200
    status = {s["entityId"]: s for s in api.get("/pipelines/p1/entities-status").json()}
    assert status["e1"]["isSyncActive"] is False
    assert status["e1"]["isBusy"] is True
    time.sleep(0.5)
    status = {s["entityId"]: s for s in api.get("/pipelines/p1/entities-status").json()}
    assert status["e1"]["isSyncActive"] is True
    assert status["e1"]["isBusy"] is False
    assert status["e2"]["isSyncActive"] is False


def test_start_with_snapshot_migrates_first(fakehub: FakeHubControl, api: Client) -> None:
    fakehub.configure(delays={"activate": 0.0, "snapshot": 0.5})
    api.post("/pipelines/p1/commands/sync/start", params={"entity": "e1", "withSnapshot": "true"})
    time.sleep(0.1)
    e1 = fakehub.entity("p1", "e1")
    assert (e1["isMigrationActive"], e1["isSyncActive"]) == (True, False)
    time.sleep(0.6)
    e1 = fakehub.entity("p1", "e1")
    assert (e1["isMigrationActive"], e1["isSyncActive"]) == (False, True)


def test_snapshot_answers_202_and_group_commands_hit_the_group(
    fakehub: FakeHubControl, api: Client
) -> None:
    fakehub.configure(delays={"activate": 0.0, "snapshot": 5.0})
    r = api.post("/pipelines/p1/commands/sync/one-time-snapshot-group", params={"groupId": "g1"})
    assert r.status_code == 202
    time.sleep(0.05)
    migrating = {
        s["entityId"]
        for s in api.get("/pipelines/p1/entities-status").json()
        if s["isMigrationActive"]
    }
    assert migrating == {"e3", "e4"}


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/pipelines/nope/commands/sync/start", {}, 404, "Pipeline nope not found"),
        ("/pipelines/p1/commands/sync/start", {"entity": "zz"}, 404, "Entity zz not found"),
        ("/pipelines/p1/commands/sync/stop-group", {}, 400, "groupId is required"),
        ("/pipelines/p1/commands/sync/stop-group", {"groupId": "zz"}, 404, "Group zz"),
        ("/pipelines/p1/commands/sync/fly", {}, 404, "unknown command"),
        (
            "/pipelines/p1/commands/sync/redo",
            {"snapshotWriteMethod": "MERGE"},
            400,
            "Invalid snapshotWriteMethod",
        ),
        (
            "/pipelines/p1/commands/sync/start",
            {"withSnapshot": "yes"},
            400,
            "Invalid withSnapshot",
        ),
    ],
)
def test_bad_commands(
    api: Client, path: str, params: dict[str, str], status: int, message: str
) -> None:
    r = api.post(path, params=params)
    assert r.status_code == status
    assert message in r.json()["message"]


def test_command_log_records_every_command(fakehub: FakeHubControl, api: Client) -> None:
    api.post("/pipelines/p1/commands/sync/stop", params={"entity": "e2"})
    api.post("/pipelines/p1/commands/sync/stop", params={"entity": "zz"})
    api.get("/pipelines")
    commands = fakehub.commands()
    assert [(c["params"], c["status"]) for c in commands] == [
        ([["entity", "e2"]], 200),
        ([["entity", "zz"]], 404),
    ]
    assert [c["seq"] for c in commands] == [1, 2]
    assert len(fakehub.requests()) == 4  # login, two commands, pipelines


def test_reset_restores_the_seed(fakehub: FakeHubControl, api: Client) -> None:
    fakehub.set_entity("p1", "e1", isSyncActive=True)
    fakehub.add_fault("latency", seconds=0.1)
    api.get("/pipelines")
    fakehub.reset()
    assert fakehub.entity("p1", "e1")["isSyncActive"] is False
    assert fakehub.faults() == []
    assert fakehub.requests() == []
    assert api.get("/pipelines").status_code == 401  # tokens are forgotten too


def test_fault_counts_and_matching(fakehub: FakeHubControl, api: Client) -> None:
    fakehub.add_fault("status", method="GET", path="^/pipelines/p1$", status=503, count=2)
    assert api.post("/pipelines/p1/commands/maintenance/enter").status_code == 200
    assert [api.get("/pipelines/p1").status_code for _ in range(3)] == [503, 503, 200]
    assert fakehub.faults()[0]["count"] == 0
    fakehub.clear_faults()
    assert fakehub.faults() == []


def test_combined_faults_on_one_route_each_fire_as_configured(
    fakehub: FakeHubControl, api: Client
) -> None:
    # The 503 answers the first request, so the 502 (and the HTML page) must not be
    # used up by it: each fires on a later request, in the order they were added.
    fakehub.add_fault("status", path="/entities-status$", status=503)
    fakehub.add_fault("status", path="/entities-status$", status=502, count=2)
    fakehub.add_fault("answer", path="/entities-status$")
    got = [api.get("/pipelines/p1/entities-status").status_code for _ in range(5)]
    assert got == [503, 502, 502, 200, 200]
    assert [f["count"] for f in fakehub.faults()] == [0, 0, 0]
    faults = [r["fault"] for r in fakehub.requests() if r["path"].endswith("/entities-status")]
    assert faults == ["status", "status", "status", "answer", None]


def test_fault_kept_from_acting_by_a_drop_is_not_used_up(
    fakehub: FakeHubControl, api: Client
) -> None:
    # A drop before the request is handled and an "apply, then drop" after it: the first
    # request is dropped unapplied, the second applied and dropped, the third answered.
    fakehub.configure(delays={"activate": 0.0})
    fakehub.add_fault("drop", path="/commands/")
    fakehub.add_fault("drop", path="/commands/", after=True)
    fakehub.add_fault("latency", path="/commands/", seconds=0.2, count=1)
    for _ in range(2):
        with pytest.raises(RemoteProtocolError):
            api.post("/pipelines/p1/commands/sync/start", params={"entity": "e1"})
    started = time.monotonic()
    assert api.post("/pipelines/p1/commands/sync/start", params={"entity": "e1"}).is_success
    assert [(c["status"], c["fault"], c["applied"]) for c in fakehub.commands()] == [
        (None, "drop", False),
        (None, "drop", True),
        (200, None, True),
    ]
    # The latency (added last) acted on the second request, before the after-drop.
    assert time.monotonic() - started < 0.2
    assert [f["count"] for f in fakehub.faults()] == [0, 0, 0]


@pytest.mark.parametrize(
    ("fault", "status", "content_type", "body"),
    [
        ({}, 200, "text/html; charset=utf-8", b"<!DOCTYPE html>"),
        ({"text": "oops", "contentType": "text/plain", "status": 201}, 201, "text/plain", b"oops"),
        ({"json": [None]}, 200, "application/json", b"[null]"),
        ({"json": None}, 200, "application/json", b"null"),
        ({"json": {"message": "hi"}}, 200, "application/json", b'{"message": "hi"}'),
    ],
)
def test_answer_fault(
    fakehub: FakeHubControl,
    api: Client,
    fault: dict[str, Any],
    status: int,
    content_type: str,
    body: bytes,
) -> None:
    fakehub.add_fault("answer", path="/entities$", **fault)
    r = api.get("/pipelines/p1/entities")
    assert (r.status_code, r.headers["Content-Type"]) == (status, content_type)
    assert r.content.startswith(body)
    assert api.get("/pipelines/p1/entities").json()[0]["entity"]["entityId"] == "e1"


def test_answer_fault_after_a_command_applies_it(fakehub: FakeHubControl, api: Client) -> None:
    fakehub.configure(delays={"activate": 0.0})
    fakehub.add_fault("answer", path="/commands/", after=True)
    r = api.post("/pipelines/p1/commands/sync/start", params={"entity": "e1"})
    assert r.text.startswith("<!DOCTYPE html>")
    assert fakehub.entity("p1", "e1")["isSyncActive"] is True


def test_fault_forever_with_retry_after(fakehub: FakeHubControl, api: Client) -> None:
    fakehub.add_fault("status", path="/pipelines$", status=429, retryAfter=7, count=None)
    for _ in range(3):
        r = api.get("/pipelines")
        assert (r.status_code, r.headers["Retry-After"]) == (429, "7")


def test_drop_closes_the_connection(fakehub: FakeHubControl, api: Client) -> None:
    fakehub.add_fault("drop", path="/pipelines$")
    with pytest.raises(RemoteProtocolError):
        api.get("/pipelines")
    assert api.get("/pipelines").status_code == 200
    assert [r["status"] for r in fakehub.requests()][-2:] == [None, 200]


def test_drop_before_does_not_apply_the_command(fakehub: FakeHubControl, api: Client) -> None:
    fakehub.configure(delays={"activate": 0.0})
    fakehub.add_fault("drop", path="/commands/")
    with pytest.raises(RemoteProtocolError):
        api.post("/pipelines/p1/commands/sync/start", params={"entity": "e1"})
    assert fakehub.entity("p1", "e1")["isSyncActive"] is False
    assert [(c["status"], c["fault"], c["applied"]) for c in fakehub.commands()] == [
        (None, "drop", False)
    ]


def test_drop_after_applies_then_loses_the_answer(fakehub: FakeHubControl, api: Client) -> None:
    fakehub.configure(delays={"activate": 0.0})
    assert fakehub.add_fault("drop", path="/commands/", after=True)["after"] is True
    with pytest.raises(RemoteProtocolError):
        api.post("/pipelines/p1/commands/sync/start", params={"entity": "e1"})
    assert fakehub.entity("p1", "e1")["isSyncActive"] is True
    assert [(c["status"], c["fault"], c["applied"]) for c in fakehub.commands()] == [
        (None, "drop", True)
    ]


def test_status_and_latency_after_apply(fakehub: FakeHubControl, api: Client) -> None:
    fakehub.configure(delays={"activate": 0.0})
    fakehub.add_fault("status", path="/commands/", status=504, after=True)
    r = api.post("/pipelines/p1/commands/sync/start", params={"entity": "e1"})
    assert r.status_code == 504
    assert fakehub.entity("p1", "e1")["isSyncActive"] is True
    fakehub.add_fault("latency", path="/commands/", seconds=0.3, after=True)
    started = time.monotonic()
    r = api.post("/pipelines/p1/commands/sync/stop", params={"entity": "e1"})
    assert r.status_code == 200
    assert time.monotonic() - started >= 0.3
    assert [(c["status"], c["fault"], c["applied"]) for c in fakehub.commands()] == [
        (504, "status", True),
        (200, "latency", True),
    ]


def test_requests_record_when_they_arrived(fakehub: FakeHubControl, api: Client) -> None:
    before_wall, before_mono = time.time(), time.monotonic()
    api.get("/pipelines")
    entry = fakehub.requests()[-1]
    assert before_wall <= entry["received"] <= time.time()
    # The session fake runs in this process, so its monotonic clock is ours.
    assert before_mono <= entry["receivedMonotonic"] <= time.monotonic()
    assert entry["applied"] is True


def test_stuck_accepts_but_never_changes(fakehub: FakeHubControl, api: Client) -> None:
    fakehub.configure(delays={"activate": 0.0})
    fakehub.add_fault("stuck", path="/commands/")
    assert api.post("/pipelines/p1/commands/sync/start", params={"entity": "e1"}).status_code == 200
    time.sleep(0.1)
    assert fakehub.entity("p1", "e1")["isSyncActive"] is False
    assert fakehub.commands()[0]["fault"] == "stuck"


def test_expire_token_fault_and_endpoint(fakehub: FakeHubControl, api: Client) -> None:
    fakehub.add_fault("expire-token", path="/pipelines$")
    assert api.get("/pipelines").status_code == 401
    assert fakehub.expire_tokens() == 0  # already expired


def test_bad_control_requests(fakehub: FakeHubControl) -> None:
    with Client(base_url=fakehub.url) as http:
        assert http.post("/_fake/faults", json={"kind": "explode"}).status_code == 400
        assert http.post("/_fake/faults", json={"kind": "drop", "path": "("}).status_code == 400
        after_stuck = {"kind": "stuck", "after": True}
        assert http.post("/_fake/faults", json=after_stuck).status_code == 400
        both = {"kind": "answer", "text": "x", "json": []}
        assert http.post("/_fake/faults", json=both).status_code == 400
        assert http.put("/_fake/config", json={"delays": {"warp": 1}}).status_code == 400
        assert http.get("/_fake/nothing").status_code == 404


def test_wrapped_pipelines(fakehub: FakeHubControl, api: Client) -> None:
    assert isinstance(api.get("/pipelines").json(), list)
    fakehub.configure(wrapPipelines=True)
    assert [p["id"] for p in api.get("/pipelines").json()["pipelines"]] == ["p1", "pipeline-123"]


def test_state_object_from_python() -> None:
    now = [0.0]
    state = FakeHubState(clock=lambda: now[0])
    assert state.login({"username": "admin", "password": "admin"}).status == 200
    reply = state.handle("POST", "/pipelines/p1/commands/sync/redo", "entity=e1")
    assert reply.status == 202
    now[0] = 0.3
    p1 = state.snapshot()["pipelines"][0]
    assert p1["entities"][0]["isMigrationActive"] is True
    now[0] = 1.0
    p1 = state.snapshot()["pipelines"][0]
    assert (p1["entities"][0]["isMigrationActive"], p1["entities"][0]["isSyncActive"]) == (
        False,
        True,
    )


def test_scheduled_entity_states_form_a_timeline_on_the_fake_clock() -> None:
    now = [0.0]
    state = FakeHubState(clock=lambda: now[0])
    state.set_entity("p1", "e1", {"afterSeconds": 2, "isSyncActive": True})
    error = {"severity": "ERROR", "message": "agent down"}
    state.set_entity("p1", "e1", {"afterSeconds": 5, "errorState": error})

    def e1() -> dict[str, Any]:
        return dict(state.snapshot()["pipelines"][0]["entities"][0])

    # Not busy meanwhile: CoreHub is not acting on it, as it is after a command.
    assert (e1()["isSyncActive"], e1()["isBusy"]) == (False, False)
    now[0] = 2.0
    assert (e1()["isSyncActive"], e1()["errorState"]) == (True, None)
    now[0] = 5.0
    assert e1()["errorState"] == error
    # Setting a state now drops what was scheduled.
    state.set_entity("p1", "e2", {"afterSeconds": 1, "isSyncActive": True})
    state.set_entity("p1", "e2", {"isMigrationActive": False})
    now[0] = 9.0
    assert state.snapshot()["pipelines"][0]["entities"][1]["isSyncActive"] is False


def test_scheduled_states_are_refused_when_malformed(fakehub: FakeHubControl) -> None:
    with Client(base_url=fakehub.url) as http:
        route = "/_fake/pipelines/p1/entities/e1/state"
        for body in (
            {"afterSeconds": -1, "isSyncActive": True},
            {"afterSeconds": "soon", "isSyncActive": True},
            {"afterSeconds": 1, "isSynced": True},
        ):
            assert http.put(route, json=body).status_code == 400, body
    assert fakehub.entity("p1", "e1")["isSyncActive"] is False


def test_maintenance_shows_in_the_pipeline_and_refuses_sync_commands(
    fakehub: FakeHubControl, api: Client
) -> None:
    assert api.get("/pipelines/p1").json()["isInMaintenanceMode"] is False
    assert api.post("/pipelines/p1/commands/maintenance/enter").status_code == 200
    assert api.get("/pipelines/p1").json()["isInMaintenanceMode"] is True
    assert api.post("/pipelines/p1/commands/sync/start").status_code == 409
    assert api.post("/pipelines/p1/commands/maintenance/exit").status_code == 200
    assert api.get("/pipelines/p1").json()["isInMaintenanceMode"] is False
    assert api.post("/pipelines/p1/commands/maintenance/leave").status_code == 404


SEED = """
users: {ops: pw1}
delays: {activate: 0.01}
pipelines:
  - id: sales
    entities:
      - {id: s1, groupId: east, active: true}
      - {id: s2}
"""


def test_load_seed_yaml(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(SEED)
    seed = load_seed(path)
    state = FakeHubState(seed)
    assert state.users == {"ops": "pw1"}
    assert state.delays["activate"] == 0.01
    assert state.delays["snapshot"] == 0.5
    sales = state.pipelines["sales"]
    assert [(e.id, e.group_id, e.sync) for e in sales.entities.values()] == [
        ("s1", "east", True),
        ("s2", "_default", False),
    ]


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chronos.fakehub", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or "listening on" not in lines[-1]:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"fakehub exited early: {lines}")
        lines.append(line.strip())
    return proc, lines


def _stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def test_cli_serves_a_seed_and_extra_users(tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    path.write_text('{"pipelines": [{"id": "only", "entities": [{"id": "x"}]}]}')
    proc, lines = _start_cli("--seed", str(path), "--user", "demo:demo-pw", "--stop-delay", "0")
    try:
        url = lines[-1].rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        with FakeHubControl(url) as control:
            assert control.health()
            assert control.configure()["delays"]["stop"] == 0.0
            assert control.configure()["users"] == ["admin", "demo"]
            assert [p["id"] for p in control.state()["pipelines"]] == ["only"]
    finally:
        _stop(proc)


def test_cli_generates_tls(tmp_path: Path) -> None:
    proc, lines = _start_cli("--tls-generate", str(tmp_path / "tls"))
    try:
        ca = Path(lines[0].removeprefix("fakehub CA: "))
        url = lines[-1].rsplit(" ", 1)[-1]
        assert url.startswith("https://")
        with FakeHubControl(url, ca_file=ca) as control:
            assert control.health()
    finally:
        _stop(proc)


def test_cli_rejects_half_tls_options() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chronos.fakehub", "--port", "0", "--tls-cert", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "--tls-cert and --tls-key go together" in proc.stderr


def test_stats_count_concurrent_logins_and_requests_at_their_peak(
    fakehub: FakeHubControl,
) -> None:
    """A busy minute's logins overlap at CoreHub: the fake counts them in flight."""
    # Each login takes 0.5 s, so four logins sent at once are all in flight together.
    fakehub.add_fault(
        "latency", method="POST", path="^/authentication/login$", seconds=0.5, count=None
    )
    assert fakehub.stats()["peakInFlight"] == {"requests": 0, "logins": 0}

    def login() -> int:
        with Client(base_url=fakehub.url) as http:
            body = {"username": "admin", "password": "admin"}
            return http.post("/authentication/login", json=body).status_code

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: login(), range(4))) == [200] * 4
    with Client(base_url=fakehub.url) as http:
        assert http.get("/pipelines").status_code == 401  # a request, not a login
    stats = fakehub.stats()
    assert stats["peakInFlight"] == {"requests": 4, "logins": 4}
    assert stats["inFlight"] == {"requests": 0, "logins": 0}
    assert stats["requests"] == 5
    # Each logged request names its caller, to tell runners apart.
    assert {r["client"] for r in fakehub.requests()} == {"127.0.0.1"}
    fakehub.reset()
    assert fakehub.stats()["peakInFlight"] == {"requests": 0, "logins": 0}


def test_a_burst_of_connections_is_accepted_at_once() -> None:
    """Two hundred clients connecting together are all accepted without a SYN retry
    (socketserver's backlog of 5 made some wait 1 s or more)."""
    with FakeCoreHub(FakeHubState()) as hub:
        host, port = "127.0.0.1", hub.port
        socks = []
        try:
            started = time.monotonic()
            for _ in range(200):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex((host, port))
                socks.append(s)
            # Every connection completes its handshake at once (writable), none waits
            # for a retransmitted SYN.
            pending = list(socks)
            while pending and time.monotonic() - started < 0.9:
                _, writable, _ = select.select([], pending, [], 0.05)
                pending = [s for s in pending if s not in writable]
            assert pending == []
        finally:
            for s in socks:
                s.close()
