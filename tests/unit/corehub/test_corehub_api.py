"""The pure parts of the CoreHub client: task → commands, entity state, expectations."""

from __future__ import annotations

from typing import Any

import pytest

from chronos.corehub import (
    ENTITY_PARAM,
    GROUP_PARAM,
    TASKS,
    Applied,
    Command,
    EntityConfig,
    EntityState,
    EntityStatus,
    Expect,
    Seen,
    Step,
    UnusableAnswerError,
    Verdict,
    affected_entities,
    entity_state,
    judge,
    lost_answer,
    lost_answer_all,
    maintenance_applied,
    maintenance_flag,
    pipelines_list,
    plan,
    settle,
    wait_verdict,
)
from chronos.models.chronosjob import Task, TaskType
from chronos.models.tasks import WaitFor

P = "/pipelines/p1/commands/sync"


def task(type_: str, **extra: Any) -> Task:
    body: dict[str, Any] = {"type": type_, "pipelineId": "p1", **extra}
    scope = type_.split("_")[0]
    if scope == "entity":
        body.setdefault("entityIds", ["e1", "e2"])
    if scope == "group":
        body.setdefault("groupIds", ["g1", "g2"])
    if type_.endswith("_wait"):
        body.setdefault("waitFor", {"state": "Active", "timeoutSeconds": 60})
    return Task.model_validate(body)


def calls(t: Task) -> list[tuple[str, str, list[tuple[str, str]], Expect, bool]]:
    return [
        (s.target, c.path, list(c.params), c.expect, c.idempotent)
        for s in plan(t)
        for c in s.commands
    ]


UPSERT = ("snapshotWriteMethod", "UPSERT")
WARNING = {"severity": "WARNING"}
NO_SNAP = ("withSnapshot", "false")

EXPECTED: dict[str, list[tuple[str, str, list[tuple[str, str]], Expect, bool]]] = {
    "entity_start": [
        ("e1", f"{P}/start", [("entity", "e1"), NO_SNAP, UPSERT], Expect.ACTIVE, True),
        ("e2", f"{P}/start", [("entity", "e2"), NO_SNAP, UPSERT], Expect.ACTIVE, True),
    ],
    "entity_stop": [
        ("e1", f"{P}/stop", [("entity", "e1")], Expect.HOLD, True),
        ("e2", f"{P}/stop", [("entity", "e2")], Expect.HOLD, True),
    ],
    "entity_snapshot": [
        ("e1", f"{P}/stop", [("entity", "e1")], Expect.HOLD, True),
        ("e1", f"{P}/one-time-snapshot", [("entity", "e1"), UPSERT], Expect.SNAPSHOT_DONE, False),
        ("e2", f"{P}/stop", [("entity", "e2")], Expect.HOLD, True),
        ("e2", f"{P}/one-time-snapshot", [("entity", "e2"), UPSERT], Expect.SNAPSHOT_DONE, False),
    ],
    "entity_redo": [
        ("e1", f"{P}/redo", [("entity", "e1"), UPSERT], Expect.REDO_DONE, False),
        ("e2", f"{P}/redo", [("entity", "e2"), UPSERT], Expect.REDO_DONE, False),
    ],
    "pipeline_start": [("p1", f"{P}/start", [NO_SNAP, UPSERT], Expect.ACTIVE, True)],
    "pipeline_stop": [("p1", f"{P}/stop", [], Expect.HOLD, True)],
    "pipeline_snapshot": [("p1", f"{P}/one-time-snapshot", [UPSERT], Expect.SNAPSHOT_DONE, False)],
    "pipeline_redo": [("p1", f"{P}/redo", [UPSERT], Expect.REDO_DONE, False)],
    "group_start": [
        ("g1", f"{P}/start-group", [("groupId", "g1"), NO_SNAP, UPSERT], Expect.ACTIVE, True),
        ("g2", f"{P}/start-group", [("groupId", "g2"), NO_SNAP, UPSERT], Expect.ACTIVE, True),
    ],
    "group_stop": [
        ("g1", f"{P}/stop-group", [("groupId", "g1")], Expect.HOLD, True),
        ("g2", f"{P}/stop-group", [("groupId", "g2")], Expect.HOLD, True),
    ],
    "group_snapshot": [
        (
            "g1",
            f"{P}/one-time-snapshot-group",
            [("groupId", "g1"), UPSERT],
            Expect.SNAPSHOT_DONE,
            False,
        ),
        (
            "g2",
            f"{P}/one-time-snapshot-group",
            [("groupId", "g2"), UPSERT],
            Expect.SNAPSHOT_DONE,
            False,
        ),
    ],
    "group_redo": [
        ("g1", f"{P}/redo-group", [("groupId", "g1"), UPSERT], Expect.REDO_DONE, False),
        ("g2", f"{P}/redo-group", [("groupId", "g2"), UPSERT], Expect.REDO_DONE, False),
    ],
    "pipeline_maintenance_enter": [
        ("p1", "/pipelines/p1/commands/maintenance/enter", [], Expect.MAINTENANCE_ON, True)
    ],
    "pipeline_maintenance_exit": [
        ("p1", "/pipelines/p1/commands/maintenance/exit", [], Expect.MAINTENANCE_OFF, True)
    ],
    # A wait sends no command (its steps wait: test_wait_steps_carry_what_they_wait_for).
    "entity_wait": [],
    "group_wait": [],
}


def test_the_task_registry_knows_every_task_type() -> None:
    # (A container task runs its own pod, never CoreHub code.)
    assert set(TASKS) == {t for t in TaskType if t.corehub}


@pytest.mark.parametrize(
    ("type_", "targets"), [("entity_wait", ["e1", "e2"]), ("group_wait", ["g1", "g2"])]
)
def test_wait_steps_carry_what_they_wait_for(type_: str, targets: list[str]) -> None:
    steps = plan(task(type_))
    assert [(s.target, s.commands) for s in steps] == [(t, ()) for t in targets]
    wanted = WaitFor(state=EntityState.ACTIVE, timeout_seconds=60)
    assert [s.wait for s in steps] == [wanted, wanted]
    # Only wait tasks have a step that waits.
    assert all(s.wait is None for s in plan(task("entity_start")))


@pytest.mark.parametrize("wanted", list(EntityState))
@pytest.mark.parametrize(
    ("status", "state"),
    [
        ({"isSyncActive": True, "isMigrationActive": False}, EntityState.ACTIVE),
        ({"isSyncActive": False, "isMigrationActive": True}, EntityState.ACTIVE),
        ({"isSyncActive": False, "isMigrationActive": False}, EntityState.HOLD),
        (
            {"isSyncActive": True, "isMigrationActive": False, "errorState": {"severity": "x"}},
            EntityState.ERROR,
        ),
        (
            {
                "isSyncActive": True,
                "isMigrationActive": False,
                "errorState": {"severity": "WARNING"},
            },
            EntityState.WARNING,
        ),
    ],
)
def test_wait_verdict(wanted: EntityState, status: dict[str, Any], state: EntityState) -> None:
    item = EntityStatus.model_validate({"entityId": "e1", **status})
    verdict = wait_verdict(wanted, item)
    if state is wanted:
        assert verdict is Verdict.REACHED
    elif state is EntityState.ERROR:
        assert verdict is Verdict.FAILED  # Error does not go away by itself
    else:
        assert verdict is Verdict.PENDING
    assert wait_verdict(wanted, None) is Verdict.PENDING


@pytest.mark.parametrize(
    ("info", "flag"),
    [
        ({"isInMaintenanceMode": True}, True),
        ({"isInMaintenanceMode": False}, False),
        ({"isInMaintenanceMode": "true"}, None),
        ({}, None),
    ],
)
def test_maintenance_flag(info: dict[str, Any], flag: bool | None) -> None:
    assert maintenance_flag(info) is flag


def test_every_task_type_has_an_expected_mapping() -> None:
    assert set(EXPECTED) == {t.value for t in TaskType if t.corehub}


@pytest.mark.parametrize("type_", sorted(EXPECTED))
def test_task_maps_to_exact_commands(type_: str) -> None:
    assert calls(task(type_)) == EXPECTED[type_]


def test_start_with_snapshot_and_insert_write_method() -> None:
    t = task("entity_start", entityIds=["x"], withSnapshot=True, snapshotWriteMethod="INSERT")
    assert calls(t) == [
        (
            "x",
            f"{P}/start",
            [("entity", "x"), ("withSnapshot", "true"), ("snapshotWriteMethod", "INSERT")],
            Expect.ACTIVE,
            True,
        )
    ]


def test_entities_keep_their_order() -> None:
    t = task("entity_stop", entityIds=["z", "a", "m"])
    assert [s.target for s in plan(t)] == ["z", "a", "m"]


def test_parameter_names_are_the_documented_ones() -> None:
    assert (ENTITY_PARAM, GROUP_PARAM) == ("entity", "groupId")


def test_scope_of_each_step() -> None:
    assert {s.scope for s in plan(task("group_stop"))} == {"group"}
    assert [s.scope for s in plan(task("pipeline_stop"))] == ["pipeline"]


def test_command_action_is_the_last_path_segment() -> None:
    step = plan(task("group_snapshot"))[0]
    assert step.commands[0].action == "one-time-snapshot-group"


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ({"isSyncActive": False, "isMigrationActive": False, "errorState": None}, "Hold"),
        ({}, "Hold"),
        ({"isSyncActive": True, "isMigrationActive": False}, "Active"),
        ({"isSyncActive": False, "isMigrationActive": True}, "Active"),
        ({"isSyncActive": True, "isMigrationActive": True}, "Active"),
        ({"isBusy": True}, "Hold"),
        ({"isSyncActive": True, "errorState": {"severity": "ERROR"}}, "Error"),
        ({"errorState": {"severity": "WARNING"}}, "Warning"),
        ({"isSyncActive": True, "errorState": {"severity": "warning"}}, "Warning"),
        ({"errorState": {"message": "boom"}}, "Error"),
        ({"errorState": "boom"}, "Error"),
        ({"isSyncActive": True, "errorState": {}}, "Active"),
        ({"isSyncActive": False, "errorState": ""}, "Hold"),
    ],
)
def test_entity_state_mapping(status: dict[str, Any], state: str) -> None:
    flags = {"entityId": "e1", "isSyncActive": False, "isMigrationActive": False}
    assert entity_state(EntityStatus.model_validate({**flags, **status})) == EntityState(state)


CONFIGURED = [
    EntityConfig.model_validate({"entity": {"entityId": "e1", "groupId": "_default"}}),
    EntityConfig.model_validate({"entity": {"entityId": "e2", "groupId": "g1"}}),
    EntityConfig.model_validate({"entity": {"entityId": "e3", "groupId": "g1"}}),
]


def test_affected_entities() -> None:
    assert affected_entities(Step("entity", "x", ()), CONFIGURED) == ["x"]
    assert affected_entities(Step("group", "g1", ()), CONFIGURED) == ["e2", "e3"]
    assert affected_entities(Step("group", "none", ()), CONFIGURED) == []
    assert affected_entities(Step("pipeline", "p1", ()), CONFIGURED) == ["e1", "e2", "e3"]


WHERE = "GET /pipelines"


def NO_MASK(text: str) -> str:
    return text


def test_pipelines_list_accepts_both_shapes() -> None:
    one = [{"id": "p1"}]
    assert pipelines_list(one, WHERE, mask=NO_MASK) == one
    assert pipelines_list({"pipelines": one}, WHERE, mask=NO_MASK) == one
    assert pipelines_list({"pipelines": []}, WHERE, mask=NO_MASK) == []


@pytest.mark.parametrize("body", [{}, None, "<html>", [None], {"pipelines": {"id": "p1"}}])
def test_pipelines_list_refuses_other_shapes(body: Any) -> None:
    # Read as "no pipelines", such an answer would hide that CoreHub was not understood.
    with pytest.raises(UnusableAnswerError, match="not a list of pipelines to GET /pipelines"):
        pipelines_list(body, WHERE, mask=NO_MASK)


# ------------------------------------------------------------- lost answers (re-send rule)

KINDS = ("start", "stop", "one-time-snapshot", "redo")
ERRORS: tuple[dict[str, Any] | None, ...] = (
    None,
    {"severity": "ERROR", "message": "down"},
    {"severity": "WARNING", "message": "lag"},
)


def st(
    sync: bool = False,
    migration: bool = False,
    busy: bool = False,
    error: dict[str, Any] | None = None,
) -> EntityStatus:
    return EntityStatus.model_validate(
        {
            "entityId": "e1",
            "isSyncActive": sync,
            "isMigrationActive": migration,
            "isBusy": busy,
            "errorState": error,
        }
    )


ALL_STATUSES = [
    st(sync, migration, busy, error)
    for sync in (False, True)
    for migration in (False, True)
    for busy in (False, True)
    for error in ERRORS
]

TOOK, NO, PEND, UNK, ERR = (
    Applied.TOOK_EFFECT,
    Applied.NO_EFFECT,
    Applied.PENDING,
    Applied.UNKNOWN,
    Applied.IN_ERROR,
)


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        # start: running (sync, or the migration of withSnapshot) is the effect
        ("start", st(sync=True), TOOK),
        ("start", st(migration=True, busy=True), TOOK),
        ("start", st(busy=True), PEND),
        ("start", st(), NO),
        ("start", st(error={"severity": "WARNING"}), NO),
        ("start", st(sync=True, error={"severity": "WARNING"}), TOOK),
        # stop: not running is the effect (also for an entity that was on Hold already)
        ("stop", st(), TOOK),
        ("stop", st(busy=True), TOOK),
        ("stop", st(sync=True, busy=True), PEND),
        ("stop", st(sync=True), NO),
        ("stop", st(migration=True), NO),
        # snapshot: only a running migration shows it; afterwards it cannot tell
        ("one-time-snapshot", st(migration=True), TOOK),
        ("one-time-snapshot", st(busy=True), PEND),
        ("one-time-snapshot", st(), UNK),
        ("one-time-snapshot", st(sync=True), UNK),
        # redo: migration shows it; idle on Hold shows it did not act; running: cannot tell
        ("redo", st(migration=True), TOOK),
        ("redo", st(sync=True, busy=True), PEND),
        ("redo", st(), NO),
        ("redo", st(sync=True), UNK),
        # Error always wins: the wait phase reports it
        ("start", st(error={"severity": "ERROR"}), ERR),
        ("redo", st(migration=True, error={"severity": "FATAL"}), ERR),
        # nothing known about the entity, or an unknown command
        ("start", None, UNK),
        ("one-time-snapshot", None, UNK),
        ("maintenance", st(sync=True), UNK),
    ],
)
def test_lost_answer_table(kind: str, status: EntityStatus | None, expected: Applied) -> None:
    assert lost_answer(kind, status) is expected


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", ALL_STATUSES)
def test_lost_answer_exhaustive_properties(kind: str, status: EntityStatus) -> None:
    verdict = lost_answer(kind, status)
    in_error = entity_state(status) is EntityState.ERROR
    assert (verdict is ERR) is in_error
    if in_error:
        return
    running = status.is_sync_active or status.is_migration_active
    if kind in ("start", "stop"):
        reached = running if kind == "start" else not running
        # Never UNKNOWN: the target state is observable; re-sent only when idle elsewhere.
        assert verdict is (TOOK if reached else PEND if status.is_busy else NO)
    else:
        # A running migration is the only sign of a snapshot or redo.
        assert (verdict is TOOK) is status.is_migration_active
        # A snapshot is never declared "not applied": it would be sent twice.
        if kind == "one-time-snapshot":
            assert verdict is not NO
        if verdict is NO:
            assert not running
            assert not status.is_busy


def cmd(kind: str, idempotent: bool) -> Command:
    return Command(f"{P}/{kind}", (), Expect.ACTIVE, idempotent)


@pytest.mark.parametrize("idempotent", [True, False])
@pytest.mark.parametrize(
    ("verdicts", "safe", "unsafe"),
    [
        ((), UNK, UNK),
        ((TOOK,), TOOK, TOOK),
        ((TOOK, TOOK), TOOK, TOOK),
        ((NO,), NO, NO),
        ((NO, NO), NO, NO),
        ((TOOK, NO), NO, UNK),
        ((TOOK, PEND), PEND, PEND),
        ((NO, PEND), PEND, PEND),
        ((PEND, UNK), UNK, UNK),
        ((TOOK, UNK), UNK, UNK),
        ((UNK, ERR), ERR, ERR),
        ((TOOK, ERR), ERR, ERR),
    ],
)
def test_lost_answer_all_combines(
    verdicts: tuple[Applied, ...], safe: Applied, unsafe: Applied, idempotent: bool
) -> None:
    # One status per verdict, judged as a start (all five verdicts are reachable for it).
    example = {
        TOOK: st(sync=True),
        NO: st(),
        PEND: st(busy=True),
        UNK: None,
        ERR: st(error={"severity": "ERROR"}),
    }
    command = cmd("start", idempotent)
    assert all(lost_answer("start", example[v]) is v for v in verdicts)
    result = lost_answer_all(command, [example[v] for v in verdicts])
    assert result is (safe if idempotent else unsafe)


def test_lost_answer_all_uses_the_command_kind() -> None:
    snapshot_group = Command(f"{P}/one-time-snapshot-group", (), Expect.SNAPSHOT_DONE, False)
    assert snapshot_group.kind == "one-time-snapshot"
    assert lost_answer_all(snapshot_group, [st(migration=True), st(migration=True)]) is TOOK
    assert lost_answer_all(snapshot_group, [st(migration=True), st()]) is UNK
    stop = Command(f"{P}/stop-group", (), Expect.HOLD, True)
    assert lost_answer_all(stop, [st(), st()]) is TOOK


@pytest.mark.parametrize("applied", list(Applied))
@pytest.mark.parametrize("elapsed", [0.0, 0.99, 1.0, 5.0, 9.99, 10.0, 50.0])
def test_settle_exhaustive(applied: Applied, elapsed: float) -> None:
    final = settle(applied, elapsed, settle_for=1.0, give_up_after=10.0)
    if applied in (TOOK, ERR):
        assert final is applied  # an effect is believed at once
    elif elapsed < 1.0:
        assert final is None  # CoreHub may not show a just-accepted command yet
    elif applied is PEND:
        assert final is (None if elapsed < 10.0 else UNK)
    else:
        assert final is applied


@pytest.mark.parametrize(
    ("info", "enter", "expected"),
    [
        ({"isInMaintenanceMode": True}, True, TOOK),
        ({"isInMaintenanceMode": False}, True, NO),
        ({"isInMaintenanceMode": False}, False, TOOK),
        ({"isInMaintenanceMode": True}, False, NO),
        ({}, True, UNK),
        ({"isInMaintenanceMode": "yes"}, False, UNK),
    ],
)
def test_maintenance_applied(info: dict[str, Any], enter: bool, expected: Applied) -> None:
    assert maintenance_applied(info, enter) is expected


# ------------------------------------------------------------- the state judgement (wait)

ON_HOLD, SYNCING, MIGRATING = st(), st(sync=True), st(migration=True, busy=True)
BUSY, BUSY_SYNCING = st(busy=True), st(sync=True, busy=True)
IN_ERROR = st(sync=True, error={"severity": "ERROR", "message": "x"})
WARN_SYNCING = st(sync=True, error={"severity": "WARNING"})
WARN_HOLD = st(error={"severity": "WARNING"})
REACHED, PENDING, FAILED, NOT_STARTED = (
    Verdict.REACHED,
    Verdict.PENDING,
    Verdict.FAILED,
    Verdict.NOT_STARTED,
)


def verdicts(
    expect: Expect, before: EntityStatus | None, reads: list[EntityStatus | None]
) -> list[Verdict]:
    """The verdict after each read, as ``wait`` folds them (``before``: read before the command)."""
    seen = Seen().then(before)
    out = []
    for status in reads:
        seen = seen.then(status)
        out.append(judge(expect, status, seen))
    return out


@pytest.mark.parametrize(
    ("expect", "status", "verdict"),
    [
        # A start is done when CoreHub shows the entity running (sync, or the migration
        # of withSnapshot); a stop when it shows it not running. Both are judged by the
        # state alone: an entity already there needed no change.
        (Expect.ACTIVE, SYNCING, REACHED),
        (Expect.ACTIVE, MIGRATING, REACHED),
        (Expect.ACTIVE, BUSY_SYNCING, REACHED),
        (Expect.ACTIVE, ON_HOLD, PENDING),
        (Expect.ACTIVE, BUSY, PENDING),
        (Expect.ACTIVE, IN_ERROR, FAILED),
        (Expect.ACTIVE, WARN_SYNCING, REACHED),
        (Expect.ACTIVE, WARN_HOLD, PENDING),
        (Expect.ACTIVE, None, PENDING),
        (Expect.HOLD, ON_HOLD, REACHED),
        (Expect.HOLD, BUSY, REACHED),
        (Expect.HOLD, SYNCING, PENDING),
        (Expect.HOLD, MIGRATING, PENDING),
        (Expect.HOLD, IN_ERROR, FAILED),
        (Expect.HOLD, WARN_HOLD, REACHED),
        (Expect.HOLD, None, PENDING),
    ],
)
@pytest.mark.parametrize("before", [None, ON_HOLD, SYNCING])
def test_judge_start_and_stop_by_state(
    expect: Expect, status: EntityStatus | None, verdict: Verdict, before: EntityStatus | None
) -> None:
    assert verdicts(expect, before, [status]) == [verdict]


SNAP, REDO = Expect.SNAPSHOT_DONE, Expect.REDO_DONE


@pytest.mark.parametrize(
    ("expect", "before", "reads", "expected"),
    [
        # CoreHub takes the entity up, migrates, puts it down: done.
        (SNAP, ON_HOLD, [BUSY, MIGRATING, ON_HOLD], [NOT_STARTED, PENDING, REACHED]),
        (SNAP, ON_HOLD, [MIGRATING, ON_HOLD], [PENDING, REACHED]),
        (SNAP, SYNCING, [MIGRATING, SYNCING], [PENDING, REACHED]),  # a group's running entity
        (SNAP, ON_HOLD, [MIGRATING, BUSY, ON_HOLD], [PENDING, PENDING, REACHED]),
        # Busy, then idle again: a migration shorter than the poll interval.
        (SNAP, ON_HOLD, [BUSY, ON_HOLD], [NOT_STARTED, REACHED]),
        # Never started: the entity stays idle (the accepted command did nothing)...
        (SNAP, ON_HOLD, [ON_HOLD, ON_HOLD, ON_HOLD], [NOT_STARTED] * 3),
        (SNAP, SYNCING, [SYNCING, SYNCING], [NOT_STARTED] * 2),
        # ... or busy all along (busy before the command too: no sign of this one) ...
        (SNAP, BUSY, [BUSY, BUSY, BUSY], [NOT_STARTED] * 3),
        (SNAP, BUSY, [BUSY, ON_HOLD], [NOT_STARTED, NOT_STARTED]),
        # ... or busy from the command on, but the migration never runs.
        (SNAP, ON_HOLD, [BUSY, BUSY, BUSY], [NOT_STARTED] * 3),
        # A migration under way before the command is not this one's...
        (SNAP, MIGRATING, [MIGRATING, ON_HOLD], [NOT_STARTED, NOT_STARTED]),
        # ... but a new one after it ended is.
        (SNAP, MIGRATING, [ON_HOLD, MIGRATING, ON_HOLD], [NOT_STARTED, PENDING, REACHED]),
        # Error fails it whenever it shows; a Warning does not.
        (SNAP, ON_HOLD, [MIGRATING, IN_ERROR], [PENDING, FAILED]),
        (SNAP, ON_HOLD, [IN_ERROR], [FAILED]),
        (
            SNAP,
            ON_HOLD,
            [st(migration=True, error={"severity": "WARNING"}), WARN_HOLD],
            [PENDING, REACHED],
        ),
        # Not listed: nothing to judge.
        (SNAP, None, [None, None], [PENDING, PENDING]),
        (SNAP, None, [ON_HOLD, MIGRATING, ON_HOLD], [NOT_STARTED, PENDING, REACHED]),
        # A redo: migration, then CDC running again.
        (REDO, SYNCING, [MIGRATING, SYNCING], [PENDING, REACHED]),
        (REDO, ON_HOLD, [BUSY, MIGRATING, BUSY, SYNCING], [NOT_STARTED, PENDING, PENDING, REACHED]),
        (REDO, SYNCING, [MIGRATING, BUSY_SYNCING, SYNCING], [PENDING, PENDING, REACHED]),
        # Running before and after, no migration seen: "already running" and "redone" look
        # alike, so it is not done (it used to count as Active at once).
        (REDO, SYNCING, [SYNCING, SYNCING], [NOT_STARTED] * 2),
        (REDO, BUSY_SYNCING, [BUSY_SYNCING, SYNCING], [NOT_STARTED] * 2),
        # Migration over but CDC not restarted yet: wait.
        (REDO, SYNCING, [MIGRATING, ON_HOLD, ON_HOLD], [PENDING, PENDING, PENDING]),
        (REDO, ON_HOLD, [BUSY, ON_HOLD, SYNCING], [NOT_STARTED, PENDING, REACHED]),
        (REDO, SYNCING, [MIGRATING, IN_ERROR], [PENDING, FAILED]),
    ],
)
def test_judge_snapshot_and_redo_sequences(
    expect: Expect,
    before: EntityStatus | None,
    reads: list[EntityStatus | None],
    expected: list[Verdict],
) -> None:
    assert verdicts(expect, before, reads) == expected


ALPHABET: list[EntityStatus | None] = [
    None,
    *(
        st(sync, migration, busy)
        for sync in (False, True)
        for migration in (False, True)
        for busy in (False, True)
    ),
]


def _onset(trace: list[EntityStatus]) -> bool:
    """A migration, or CoreHub busy, that begins after a read showing it had not."""
    return any(
        (b.is_migration_active and not a.is_migration_active) or (b.is_busy and not a.is_busy)
        for i, b in enumerate(trace)
        for a in trace[:i]
    )


@pytest.mark.parametrize("expect", [SNAP, REDO])
def test_judge_snapshot_and_redo_never_succeed_without_evidence(expect: Expect) -> None:
    # Every sequence of up to three reads after any read before the command.
    sequences: list[list[EntityStatus | None]] = [[]]
    for n in range(3):
        sequences += [[*seq, s] for seq in sequences if len(seq) == n for s in ALPHABET]
    checked = 0
    for before in ALPHABET:
        for reads in sequences[1:]:
            verdict = verdicts(expect, before, reads)[-1]
            trace = [s for s in [before, *reads] if s is not None]
            last = reads[-1]
            if verdict is REACHED:
                assert last is not None
                assert _onset(trace), (before, reads)
                assert not last.is_migration_active
                assert not last.is_busy
                assert last.is_sync_active or expect is SNAP
            if not _onset(trace) and last is not None:
                assert verdict is NOT_STARTED, (before, reads)
            checked += 1
    assert checked == 9 * (9 + 81 + 729)


def test_seen_then_records_only_changes_after_a_quiet_read() -> None:
    assert Seen().then(MIGRATING) == Seen(quiet=False, idle=False)
    assert Seen().then(ON_HOLD).then(MIGRATING).migrated
    assert Seen().then(ON_HOLD).then(BUSY).acted
    assert not Seen().then(BUSY).then(BUSY).acted
    assert Seen().then(None) == Seen()
