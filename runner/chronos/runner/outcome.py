"""Exit codes, the RunRecord of a run and its termination message: pure functions.

docs/runner.md documents the exit codes; keep the two in step.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import IntEnum
from typing import cast

from chronos.corehub import (
    AuthenticationError,
    CoreHubTimeoutError,
    CoreHubUnreachableError,
    EntityErrorStateError,
    TaskOutcome,
    TaskRejectedError,
    UnsafeIdError,
    UnusableAnswerError,
)
from chronos.models import wire as w
from chronos.models.chains import RunCause
from chronos.models.chronosjob import MAX_TEXT, EntityResult, RunRecord, RunResult, RunTrigger
from chronos.models.wire import RunRecordDict
from chronos.runner.slot import SlotTime

TERMINATION_MESSAGE_LIMIT = 4096


class ExitCode(IntEnum):
    SUCCESS = 0
    INTERNAL_ERROR = 1
    CONFIGURATION_ERROR = 2
    AUTHENTICATION_FAILED = 3
    TASK_REJECTED = 4
    TIMEOUT = 5
    COREHUB_UNREACHABLE = 6
    ENTITY_ERROR = 7
    UNUSABLE_ANSWER = 8
    #: SIGTERM: the run's Job was deleted (chronos.runner.abort).
    ABORTED = 9

    @property
    def reason(self) -> str:
        """The RunRecord's machine-readable reason (CamelCase)."""
        return _REASONS[self]


_REASONS = {
    ExitCode.SUCCESS: "Succeeded",
    ExitCode.INTERNAL_ERROR: "InternalError",
    ExitCode.CONFIGURATION_ERROR: "ConfigurationError",
    ExitCode.AUTHENTICATION_FAILED: "AuthenticationFailed",
    ExitCode.TASK_REJECTED: "TaskRejected",
    ExitCode.TIMEOUT: "Timeout",
    ExitCode.COREHUB_UNREACHABLE: "CoreHubUnreachable",
    ExitCode.ENTITY_ERROR: "EntityError",
    ExitCode.UNUSABLE_ANSWER: "UnusableAnswer",
    ExitCode.ABORTED: "Aborted",
}


_RESULTS = {ExitCode.SUCCESS: RunResult.SUCCEEDED, ExitCode.ABORTED: RunResult.ABORTED}


def exit_code_for(error: BaseException | None) -> ExitCode:
    """The exit code of a run whose first failure is ``error`` (None: success)."""
    if error is None:
        return ExitCode.SUCCESS
    for kind, code in (
        (UnsafeIdError, ExitCode.CONFIGURATION_ERROR),
        (AuthenticationError, ExitCode.AUTHENTICATION_FAILED),
        (TaskRejectedError, ExitCode.TASK_REJECTED),
        (CoreHubTimeoutError, ExitCode.TIMEOUT),
        (CoreHubUnreachableError, ExitCode.COREHUB_UNREACHABLE),
        (EntityErrorStateError, ExitCode.ENTITY_ERROR),
        (UnusableAnswerError, ExitCode.UNUSABLE_ANSWER),
    ):
        if isinstance(error, kind):
            return code
    return ExitCode.INTERNAL_ERROR


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_record(
    *,
    run_id: str,
    trigger: RunTrigger,
    start: datetime,
    end: datetime,
    code: ExitCode,
    message: str,
    outcome: TaskOutcome | None = None,
    entities: list[EntityResult] | None = None,
    slot: SlotTime | None = None,
    schedule: str | None = None,
    cause: RunCause | None = None,
) -> RunRecord:
    """The run's record; ``entities`` (an aborted run's states) when there is no
    ``outcome``."""
    if outcome is not None:
        entities = [
            EntityResult(
                id=r.id,
                result=RunResult.SUCCEEDED if r.ok else RunResult.FAILED,
                state=r.state,
                message=_clip(r.message) if r.message else None,
            )
            for r in outcome.results
        ]
    return RunRecord(
        run_id=run_id,
        trigger=trigger,
        result=_RESULTS.get(code, RunResult.FAILED),
        start_time=start,
        end_time=end,
        duration_seconds=round((end - start).total_seconds(), 3),
        reason=code.reason,
        message=_clip(message),
        entities=entities,
        reported_by="runner",
        schedule=schedule,
        scheduled_time=slot.instant if slot else None,
        slot_wall_time=slot.wall if slot else None,
        slot_offset=slot.offset if slot else None,
        cause=cause,
    )


def _dumps(data: RunRecordDict) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def termination_message(record: RunRecord, limit: int = TERMINATION_MESSAGE_LIMIT) -> str:
    """The record as camelCase JSON of at most ``limit`` bytes, still a valid RunRecord.

    Kubernetes keeps at most 4096 bytes of a termination message, so details go first:
    the log tail (the status and the pod's log hold it), per-entity messages, the run-now
    parameters, then the entity list (noted in the message), then the message's tail.
    """
    data = cast(RunRecordDict, record.model_dump(mode="json", exclude_none=True))
    if len(_dumps(data).encode()) <= limit:
        return _dumps(data)
    data.pop(w.LOG_TAIL, None)
    if len(_dumps(data).encode()) <= limit:
        return _dumps(data)
    for entity in data.get("entities") or []:
        entity.pop("message", None)
    if len(_dumps(data).encode()) <= limit:
        return _dumps(data)
    # A run-now's parameters (up to 4 KiB themselves) are in the status the runner
    # writes and in its log's start line; the operator's fallback record goes without.
    data.pop("parameters", None)
    if len(_dumps(data).encode()) <= limit:
        return _dumps(data)
    omitted = len(data.pop("entities", None) or [])
    note = f" [{omitted} entity results omitted; see status.lastRun]" if omitted else ""
    message = str(data.get("message", ""))
    data["message"] = message + note
    while len(_dumps(data).encode()) > limit and message:
        excess = len(_dumps(data).encode()) - limit
        raw = message.encode()
        # Cut bytes, not characters (the limit is in bytes), leaving room for the "…".
        message = raw[: max(0, len(raw) - excess - 3)].decode(errors="ignore")
        data["message"] = (message + "…" if message else "") + note
    return _dumps(data)
