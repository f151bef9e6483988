"""One run: read the settings, execute the task against CoreHub, report the outcome.

The outcome goes to the termination message first (so the operator can record the run
whatever happens next), then to the ChronosJob status. The exit code is always the
task's: a status write that fails is logged, never turned into a failed run.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chronos.contract import (
    ENV_PARAMETERS,
    ENV_POD_NAME,
    ENV_RUN_ID,
    ENV_TASK,
    ENV_TERMINATION_MESSAGE_PATH,
    TERMINATION_MESSAGE_PATH,
)
from chronos.corehub import (
    CoreHubClient,
    Deadline,
    EntityStatus,
    EventSink,
    ExecuteOptions,
    TaskOutcome,
    TLSOptions,
    execute,
)
from chronos.http import TransportError
from chronos.models import params as p
from chronos.models.chronosjob import EntityResult, RunRecord, RunTrigger, Task
from chronos.runner.abort import (
    READBACK_SECONDS,
    AbortedError,
    Sent,
    abort_entities,
    abort_message,
    on_sigterm,
    read_back,
    targets,
)
from chronos.runner.logs import JsonLog
from chronos.runner.outcome import ExitCode, build_record, exit_code_for, termination_message
from chronos.runner.settings import RunnerSettings
from chronos.runner.slot import SlotTime, jitter_delay, slot_of, slot_time, wait_seconds
from chronos.settings import SettingsError
from chronos.times import rfc3339

#: A status write is retried this often on transport errors before giving up.
STATUS_TRANSPORT_ATTEMPTS = 3


def _now() -> datetime:
    return datetime.now(UTC)


def write_termination_message(path: Path, record: RunRecord, log: JsonLog) -> None:
    try:
        path.write_text(termination_message(record))
    except OSError as exc:
        log.event("termination-message", f"could not write {path}: {exc}", level="warning")


def report_status(settings: RunnerSettings, record: RunRecord, log: JsonLog) -> bool:
    if not settings.job_name or not settings.job_namespace:
        log.event("status", "no ChronosJob named: status not written", level="warning")
        return False
    # Imported only when the status is written: lightkube is most of the runner's
    # import time, and a run without a ChronosJob never needs it.
    from lightkube import ApiError, ConfigError

    from chronos import kube
    from chronos.runner.status import write_run

    for attempt in range(1, STATUS_TRANSPORT_ATTEMPTS + 1):
        try:
            client = kube.client()
            tries = write_run(
                client,
                settings.job_name,
                settings.job_namespace,
                record,
                settings.history_limit,
                on_conflict=lambda n: log.event(
                    "status", "conflict: merging again", level="warning", attempt=n
                ),
            )
        except (ApiError, TransportError, ConfigError, OSError, ValueError) as exc:
            transient = isinstance(exc, TransportError) or (
                isinstance(exc, ApiError) and exc.status.code in (429, 500, 502, 503, 504)
            )
            log.event(
                "status",
                f"status write failed: {type(exc).__name__}: {exc}",
                level="error",
                attempt=attempt,
            )
            if not transient or attempt == STATUS_TRANSPORT_ATTEMPTS:
                return False
            time.sleep(0.5 * 2**attempt)
            continue
        log.event("status", "lastRun and history written", attempts=tries)
        return True
    return False


def _summary(task: Task, outcome: TaskOutcome) -> str:
    scope = task.type.scope
    failed = [r for r in outcome.results if not r.ok]
    head = f"{task.type} on pipeline {task.pipeline_id}"
    if not failed:
        n = len(outcome.results)
        what = "pipeline" if scope == "pipeline" and n == 0 else f"{n} {scope} target(s)"
        return f"{head}: {what} done"
    first = failed[0]
    return f"{head}: {len(failed)} of {len(outcome.results)} failed; {first.id}: {first.message}"


def _slot(settings: RunnerSettings, run_id: str) -> SlotTime | None:
    slot = slot_of(settings.scheduled_time, run_id, settings.trigger)
    return None if slot is None else slot_time(slot, settings.time_zone)


def _jitter(settings: RunnerSettings, slot: SlotTime | None, start: datetime) -> float:
    """Sleep the run's jitter (spec.jitterSeconds); returns the seconds slept."""
    if slot is None or not settings.jitter_seconds:
        return 0.0
    delay = jitter_delay(
        settings.job_namespace or "", settings.job_name or "", slot.instant, settings.jitter_seconds
    )
    now = _now()
    wait = wait_seconds(
        slot=slot.instant,
        delay=delay,
        now=now,
        elapsed=(now - start).total_seconds(),
        timeout=settings.timeout_seconds,
    )
    if wait > 0:
        time.sleep(wait)
    return wait


_Done = tuple[ExitCode, str, TaskOutcome | None]


def _task_of(settings: RunnerSettings) -> tuple[Task, str | None]:
    """The task this run performs: the job's, with the run-now parameters applied (the
    operator judged them against the same task; judged again here, as a configuration
    error, should a hand-made Job carry others)."""
    params = settings.parameters
    if params is None:
        return settings.task, None
    return p.judge(settings.task, params, ENV_PARAMETERS)


def _task(
    settings: RunnerSettings,
    task: Task,
    log: JsonLog,
    slot: SlotTime | None,
    start: datetime,
    sent: Sent,
) -> _Done:
    """The jitter's wait and ``task``: its exit code, summary and outcome."""
    waited = _jitter(settings, slot, start)
    extra: dict[str, Any] = {}
    if slot is not None:
        extra.update(slot=rfc3339(slot.instant), schedule=settings.schedule)
    if waited:
        extra["jitterSeconds"] = round(waited, 3)
    if settings.parameters is not None:
        extra["parameters"] = settings.parameters.model_dump(mode="json", exclude_none=True)
    log.event(
        "start",
        task=task.model_dump(mode="json", exclude_none=True),
        trigger=settings.trigger.value,
        timeoutSeconds=settings.timeout_seconds,
        **extra,
    )
    try:
        client = _client(
            settings,
            # The jitter's wait counts against the timeout, as the Job's
            # activeDeadlineSeconds does.
            Deadline(max(0.001, settings.timeout_seconds - waited)),
            sent,
        )
    except (OSError, ssl.SSLError) as exc:
        return ExitCode.CONFIGURATION_ERROR, f"configuration error: TLS: {exc}", None
    try:
        with client:
            options = ExecuteOptions(
                command_interval=settings.corehub_command_interval_seconds,
                migration_start_timeout=settings.corehub_migration_start_timeout_seconds,
            )
            outcome = execute(client, task, options)
        return exit_code_for(outcome.error), _summary(task, outcome), outcome
    except Exception as exc:  # noqa: BLE001 - a bug must still be reported as a run
        return ExitCode.INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}", None


def _client(settings: RunnerSettings, deadline: Deadline, events: EventSink) -> CoreHubClient:
    tls = TLSOptions(
        ca_file=settings.corehub_ca_file,
        insecure_skip_verify=settings.corehub_insecure_skip_verify,
    )
    return CoreHubClient(
        settings.corehub_url,
        settings.corehub_username,
        settings.corehub_password.get_secret_value(),
        tls=tls,
        deadline=deadline,
        events=events,
    )


def _aborted(
    settings: RunnerSettings, task: Task, log: JsonLog, sent: Sent
) -> tuple[_Done, list[EntityResult] | None]:
    """After SIGTERM: no further command; the states of the entities commands were sent
    for, read once on a fresh session (the task's was cut mid-request) within
    READBACK_SECONDS."""
    ids = targets(sent, task.entity_ids)
    log.event("abort", "SIGTERM: no further CoreHub command", commandsSent=len(sent.commands))

    def read() -> Mapping[str, EntityStatus]:
        with _client(settings, Deadline(READBACK_SECONDS), log.corehub) as client:
            return client.entities_status(task.pipeline)

    statuses, problem = read_back(read, ids)
    entities = abort_entities(ids, statuses)
    message = abort_message(sent.commands, entities, problem)
    return (ExitCode.ABORTED, message, None), entities


def deadline_slack(timeout: float) -> float:
    """A SIGTERM this close to the run's timeout (or later), on the runner's own clock,
    is the Job's deadline (activeDeadlineSeconds), not an abort. The deadline counts from
    the Job's start, before the pod was scheduled and the runner started, so the runner
    sees it early by that latency: a quarter of the timeout, at least 5 s, at most 60 s
    (an abort that close to the timeout is recorded as the timeout)."""
    return min(max(5.0, timeout / 4), 60.0)


def run() -> int:
    log = JsonLog()
    start = _now()
    try:
        settings = RunnerSettings.from_env()
    except (SettingsError, ValidationError) as exc:
        problem = str(exc)
        if problem.startswith(f"{ENV_TASK}: not valid JSON"):
            # The task is the runner's one JSON setting.
            problem = f"{ENV_TASK} must be the JSON of spec.task: {exc}"
        log.event("config", problem, level="error")
        run_id = os.environ.get(ENV_RUN_ID) or os.environ.get(ENV_POD_NAME) or "unknown"
        path = Path(os.environ.get(ENV_TERMINATION_MESSAGE_PATH) or TERMINATION_MESSAGE_PATH)
        code = ExitCode.CONFIGURATION_ERROR
        record = build_record(
            run_id=run_id,
            trigger=RunTrigger.SCHEDULE,
            start=start,
            end=_now(),
            code=code,
            message=f"configuration error: {problem}",
        )
        write_termination_message(path, record, log)
        log.event("result", record.message or "", level="error", exitCode=int(code))
        return int(code)

    run_id = settings.run_id or settings.pod_name or f"local-{start:%Y%m%dT%H%M%SZ}"
    log.context = {"runId": run_id, "job": settings.job_name, "namespace": settings.job_namespace}
    task, refused = _task_of(settings)
    slot = _slot(settings, run_id)
    sent = Sent(log.corehub)
    done: _Done | None = None
    entities: list[EntityResult] | None = None
    if refused is not None:
        done = ExitCode.CONFIGURATION_ERROR, f"configuration error: {refused}", None
    else:
        try:
            with on_sigterm():
                done = _task(settings, task, log, slot, start, sent)
        except AbortedError:
            pass  # a signal after the task's end (``done`` set) leaves its outcome standing
        if done is None:
            done, entities = _aborted(settings, task, log, sent)
            elapsed = (_now() - start).total_seconds()
            if elapsed >= settings.timeout_seconds - deadline_slack(settings.timeout_seconds):
                # The Job's activeDeadlineSeconds (the timeout) sent the SIGTERM, not an
                # abort: the run timed out.
                done = (
                    ExitCode.TIMEOUT,
                    f"timed out after {settings.timeout_seconds} s (the Job's deadline); "
                    + done[1],
                    None,
                )
    code, message, outcome = done
    record = build_record(
        run_id=run_id,
        trigger=settings.trigger,
        start=start,
        end=_now(),
        code=code,
        message=message,
        outcome=outcome,
        entities=entities,
        slot=slot,
        schedule=settings.schedule,
        cause=settings.cause,
    )
    record = record.model_copy(update={"parameters": settings.parameters})
    log.event(
        "result",
        message,
        level="info" if code is ExitCode.SUCCESS else "error",
        result=record.result.value,
        reason=record.reason,
        exitCode=int(code),
        durationSeconds=record.duration_seconds,
        entities=[e.model_dump(mode="json", exclude_none=True) for e in record.entities or []],
    )
    # The log so far, result line included, goes with the run: it outlives the pod.
    record = record.model_copy(update={"log_tail": log.tail.text()})
    write_termination_message(settings.termination_message_path, record, log)
    report_status(settings, record, log)
    return int(code)
