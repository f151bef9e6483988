"""The runner's pure parts: exit codes, records, termination message, history, settings."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from support import ROOT

from chronos import contract
from chronos.corehub import (
    AuthenticationError,
    CoreHubTimeoutError,
    CoreHubUnreachableError,
    EntityErrorStateError,
    TargetResult,
    TaskOutcome,
    TaskRejectedError,
    UnusableAnswerError,
)
from chronos.models.chronosjob import (
    LOG_TAILS_KEPT,
    MAX_HISTORY,
    MAX_LOG_TAIL,
    RunRecord,
    RunResult,
    RunTrigger,
)
from chronos.models.history import merge_run
from chronos.models.wire import RunRecordDict
from chronos.runner.logs import CUT, JsonLog, LogTail
from chronos.runner.outcome import ExitCode, build_record, exit_code_for, termination_message
from chronos.runner.settings import RunnerSettings
from chronos.runner.status import status_patch
from chronos.settings import SettingsError

DOCS = ROOT / "docs" / "runner.md"
T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (None, ExitCode.SUCCESS),
        (AuthenticationError("x"), ExitCode.AUTHENTICATION_FAILED),
        (TaskRejectedError(404, "nope"), ExitCode.TASK_REJECTED),
        (CoreHubTimeoutError("slow"), ExitCode.TIMEOUT),
        (CoreHubTimeoutError("slow", deadline_exceeded=False), ExitCode.TIMEOUT),
        (CoreHubUnreachableError("down"), ExitCode.COREHUB_UNREACHABLE),
        (EntityErrorStateError("err"), ExitCode.ENTITY_ERROR),
        (UnusableAnswerError("html"), ExitCode.UNUSABLE_ANSWER),
        (ValueError("bug"), ExitCode.INTERNAL_ERROR),
    ],
)
def test_exit_code_for(error: BaseException | None, code: ExitCode) -> None:
    assert exit_code_for(error) is code


def test_exit_codes_keep_their_meaning() -> None:
    # Others (the operator, alerts, scripts) read these numbers: add, never renumber.
    assert {c.name: int(c) for c in ExitCode} == {
        "SUCCESS": 0,
        "INTERNAL_ERROR": 1,
        "CONFIGURATION_ERROR": 2,
        "AUTHENTICATION_FAILED": 3,
        "TASK_REJECTED": 4,
        "TIMEOUT": 5,
        "COREHUB_UNREACHABLE": 6,
        "ENTITY_ERROR": 7,
        "UNUSABLE_ANSWER": 8,
        "ABORTED": 9,
    }


def test_exit_codes_are_documented() -> None:
    text = DOCS.read_text()
    rows = dict(re.findall(r"^\| (\d+) \| `(\w+)` \|", text, flags=re.MULTILINE))
    assert rows == {str(int(c)): c.reason for c in ExitCode}


def test_every_contract_variable_is_documented_and_read() -> None:
    names = {v for k, v in vars(contract).items() if k.startswith("ENV_")}
    assert names <= RunnerSettings.known_names()
    text = DOCS.read_text()
    for name in RunnerSettings.known_names():
        assert f"`{name}`" in text, name


def record(run_id: str, minutes: int = 0, **extra: object) -> RunRecord:
    start = T0 + timedelta(minutes=minutes)
    return RunRecord.model_validate(
        {
            "runId": run_id,
            "trigger": "schedule",
            "result": "succeeded",
            "startTime": start,
            "endTime": start + timedelta(seconds=3),
            **extra,
        }
    )


def ids(history: list[RunRecord]) -> list[str]:
    return [r.run_id for r in history]


def test_merge_run() -> None:
    history = [record("b", 1), record("a")]
    assert ids(merge_run(history, record("c", 2), 10)) == ["c", "b", "a"]
    assert ids(merge_run(history, record("c", 2), 2)) == ["c", "b"]
    assert ids(merge_run([], record("c"), 1)) == ["c"]
    assert ids(history) == ["b", "a"]  # not mutated


def test_merge_run_replaces_the_same_run_id() -> None:
    history = [record("c", result="running"), record("b"), record("a")]
    merged = merge_run(history, record("b", result="failed"), 10)
    assert ids(merged) == ["b", "c", "a"]
    assert merged[0].result == RunResult.FAILED
    again = merge_run(merged, merged[0], 10)
    assert again == merged


def test_merge_run_places_a_late_report_by_its_time() -> None:
    history = [record("d", 30), record("c", 20), record("a", 0)]
    # The operator records run b (ended at minute 10) after c and d were reported.
    assert ids(merge_run(history, record("b", 10), 10)) == ["d", "c", "b", "a"]
    # A tie goes first among equals; a run without any time goes first of all.
    assert ids(merge_run(history, record("e", 20), 10)) == ["d", "e", "c", "a"]
    timeless = RunRecord.model_validate({"runId": "m", "trigger": "schedule", "result": "missed"})
    assert ids(merge_run(history, timeless, 10)) == ["m", "d", "c", "a"]
    # An entry without a time is passed over, whatever the new run's time.
    assert ids(merge_run([timeless, *history], record("b", 10), 10)) == ["m", "d", "c", "b", "a"]


def test_a_run_trimmed_from_a_full_history_stays_out() -> None:
    """An old Job outlives its history entry (the CronJob keeps more Jobs than the
    history keeps runs): recording it again, after an operator restart, changes nothing."""
    full = [record(f"r{i}", i) for i in range(5, 2, -1)]  # r5, r4, r3: limit 3
    assert merge_run(full, record("r1", 1), 3) == full
    # Not full: the old run has its place at the end.
    assert ids(merge_run(full, record("r1", 1), 4)) == ["r5", "r4", "r3", "r1"]


@pytest.mark.parametrize("limit", [0, -1, MAX_HISTORY + 1])
def test_merge_run_rejects_bad_limits(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        merge_run([], record("a"), limit)


def test_build_record() -> None:
    outcome = TaskOutcome(
        [
            TargetResult("e1", True, "Active", "start done"),
            TargetResult("e2", False, None, "x" * 5000, TaskRejectedError(400, "bad")),
        ]
    )
    r = build_record(
        run_id="job-1",
        trigger=RunTrigger.RUN_NOW,
        start=T0,
        end=T0 + timedelta(seconds=2.5),
        code=ExitCode.TASK_REJECTED,
        message="m",
        outcome=outcome,
    )
    assert (r.result, r.reason, r.duration_seconds, r.reported_by) == (
        RunResult.FAILED,
        "TaskRejected",
        2.5,
        "runner",
    )
    assert r.entities is not None
    assert [(e.id, e.result, e.state) for e in r.entities] == [
        ("e1", RunResult.SUCCEEDED, "Active"),
        ("e2", RunResult.FAILED, None),
    ]
    assert len(r.entities[1].message or "") == 4096


def test_termination_message_small_is_the_whole_record() -> None:
    r = record("job-1", reason="Succeeded", reportedBy="runner", message="fine")
    text = termination_message(r)
    assert RunRecord.model_validate_json(text) == r
    assert '"runId":"job-1"' in text


def test_termination_message_drops_details_to_fit() -> None:
    entities = [
        {"id": f"entity-{i:04d}", "result": "failed", "message": "no good " * 20} for i in range(40)
    ]
    r = record("job-1", entities=entities, message="first failure")
    text = termination_message(r)
    assert len(text.encode()) <= 4096
    parsed = RunRecord.model_validate_json(text)
    assert parsed.entities is not None
    assert [e.message for e in parsed.entities] == [None] * 40

    many = [{"id": "e" * 200 + str(i), "result": "failed"} for i in range(100)]
    text = termination_message(record("job-1", entities=many, message="m"))
    assert len(text.encode()) <= 4096
    parsed = RunRecord.model_validate_json(text)
    assert parsed.entities is None
    assert parsed.message == "m [100 entity results omitted; see status.lastRun]"


def test_termination_message_drops_large_parameters_before_the_entities() -> None:
    ids = [f"entity-{'x' * 30}-{i:03d}" for i in range(90)]  # about 3.6 KiB of ids
    entities = [{"id": i, "result": "succeeded"} for i in ids[:20]]
    r = record("job-1", entities=entities, parameters={"entityIds": ids}, message="m")
    text = termination_message(r)
    assert len(text.encode()) <= 4096
    parsed = RunRecord.model_validate_json(text)
    assert parsed.parameters is None
    assert parsed.entities is not None
    assert len(parsed.entities) == 20
    small = record("job-1", parameters={"entityIds": ids[:2]}, message="m")
    assert RunRecord.model_validate_json(termination_message(small)) == small


def test_termination_message_truncates_a_long_message() -> None:
    r = record("job-1", message="é" * 4000)
    text = termination_message(r)
    assert len(text.encode()) <= 4096
    parsed = RunRecord.model_validate_json(text)
    assert parsed.message is not None
    assert parsed.message.endswith("…")
    assert len(parsed.message) > 1000


def test_termination_message_drops_the_log_tail_first() -> None:
    small = record("job-1", message="m", logTail="a line\n")
    assert RunRecord.model_validate_json(termination_message(small)) == small
    big = record("job-1", message="m", logTail="x" * 4000 + "\n")
    parsed = RunRecord.model_validate_json(termination_message(big))
    assert parsed.log_tail is None
    assert parsed.message == "m"


def test_only_the_newest_runs_keep_their_log_tail() -> None:
    history: list[RunRecord] = []
    for i in range(15):
        history = merge_run(history, record(f"r{i}", i, logTail=f"log {i}\n"), MAX_HISTORY)
    assert [r.run_id for r in history] == [f"r{i}" for i in range(14, -1, -1)]
    kept = [r.log_tail for r in history]
    assert kept[:LOG_TAILS_KEPT] == [f"log {i}\n" for i in range(14, 14 - LOG_TAILS_KEPT, -1)]
    assert kept[LOG_TAILS_KEPT:] == [None] * (15 - LOG_TAILS_KEPT)


def test_log_tail_keeps_the_newest_lines_within_its_bytes() -> None:
    tail = LogTail(100)
    for i in range(50):
        tail.add(f"line {i:02d} é")  # 10 bytes + newline
    text = tail.text()
    assert len(text.encode()) <= 100
    assert text.endswith("line 49 é\n")
    assert text.splitlines() == [f"line {i:02d} é" for i in range(41, 50)]


def test_log_tail_cuts_a_line_longer_than_the_limit() -> None:
    tail = LogTail(64)
    tail.add("first")
    tail.add("é" * 100)  # 200 bytes: kept cut, at a character boundary
    text = tail.text()
    assert len(text.encode()) <= 64
    assert text.startswith("éé")
    assert text.endswith(CUT + "\n")
    assert "first" not in text


def test_json_log_tees_into_its_tail_and_the_record_holds_it() -> None:
    stream = io.StringIO()
    log = JsonLog(stream, runId="r1")
    for i in range(500):
        log.event("wait", f"still waiting {i}")
    assert len(log.tail.text().encode()) <= MAX_LOG_TAIL
    assert stream.getvalue().endswith(log.tail.text())
    assert '"still waiting 499"' in log.tail.text()
    rec = record("r1", logTail=log.tail.text())
    assert RunRecord.model_validate_json(rec.model_dump_json(by_alias=True)) == rec


def test_status_patch() -> None:
    old = [record("old", message="from operator", reportedBy="operator")]
    new = record("new", reportedBy="runner")
    stored = [cast(RunRecordDict, h.model_dump(mode="json")) for h in old]
    patch = status_patch("42", stored, new, 5)
    assert patch["metadata"] == {"resourceVersion": "42"}
    assert set(patch["status"]) == {"lastRun", "history"}
    last = patch["status"]["lastRun"]
    assert last["runId"] == "new"
    # Absent fields are explicit nulls: a merge patch would otherwise keep old values.
    assert last["scheduledTime"] is None
    assert last["entities"] is None
    assert [h["runId"] for h in patch["status"]["history"]] == ["new", "old"]
    assert "scheduledTime" not in patch["status"]["history"][0]
    json.dumps(patch)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("CHRONOS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(contract.ENV_COREHUB_URL, "https://corehub:1717")
    monkeypatch.setenv(contract.ENV_COREHUB_USERNAME, "u")
    monkeypatch.setenv(contract.ENV_COREHUB_PASSWORD, "pw")
    monkeypatch.setenv(
        contract.ENV_TASK, '{"type": "group_redo", "pipelineId": "p", "groupIds": ["g"]}'
    )
    return monkeypatch


def test_settings_from_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(contract.ENV_TRIGGER, "")
    clean_env.setenv(contract.ENV_HISTORY_LIMIT, "7")
    s = RunnerSettings.from_env()
    assert s.task.group_ids == ["g"]
    assert s.trigger == RunTrigger.SCHEDULE
    assert s.history_limit == 7
    assert s.termination_message_path == Path(contract.TERMINATION_MESSAGE_PATH)
    assert s.corehub_insecure_skip_verify is False
    assert "pw" not in repr(s)


def test_settings_typo_is_named(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CHRONOS_COREHUB_PASWORD", "x")
    with pytest.raises(SettingsError, match="did you mean CHRONOS_COREHUB_PASSWORD"):
        RunnerSettings.from_env()


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        (contract.ENV_TASK, '{"type": "entity_start", "pipelineId": "p"}', "entityIds"),
        (contract.ENV_COREHUB_URL, "corehub:1717", "COREHUB_URL"),
        (contract.ENV_COREHUB_CA_FILE, "/nonexistent/ca.crt", "no CA bundle"),
        (contract.ENV_HISTORY_LIMIT, "0", "HISTORY_LIMIT"),
        (contract.ENV_TRIGGER, "cron", "TRIGGER"),
    ],
)
def test_settings_errors(
    clean_env: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError, match=problem):
        RunnerSettings.from_env()
