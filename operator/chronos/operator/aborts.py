"""Runs whose Job was deleted before they ended: recorded ``aborted`` (issue 20, feature 5).

Deleting a run's Job is how every abort works (REST and the dashboard's Abort, ``kubectl
delete job``, concurrencyPolicy Replace). A runner that got SIGTERM records the run
itself, with the commands it had sent and the states it left (chronos.runner.abort);
this is the operator's account for the rest — a pod that never started, a runner
killed before it could write — so no aborted run goes missing from the history. The
REST facade's note on the Job (``contract.ABORT_ANNOTATION``) says who asked.

Pure functions over the deleted Job (a dict), unit-tested; controller.py does the I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chronos import contract as c
from chronos.abort import AbortNote, parse_note
from chronos.models.chronosjob import MAX_TEXT, RunRecord, RunResult, RunTrigger
from chronos.operator import runs
from chronos.times import rfc3339

ABORTED_REASON = "Aborted"


def deleted_unfinished(job: dict[str, Any]) -> bool:
    """A Job deleted before it ended, as the watch's DELETED event shows it (a stub
    made for a Job missing from a relist has no uid: what it was is unknown)."""
    return bool(job.get("metadata", {}).get("uid")) and not runs.finished(job)


def note_of(job: dict[str, Any]) -> AbortNote | None:
    return parse_note((job.get("metadata", {}).get("annotations") or {}).get(c.ABORT_ANNOTATION))


def aborted_run(job: dict[str, Any], now: datetime) -> RunRecord:
    """The operator's record of a run whose Job was deleted before it ended."""
    note = note_of(job)
    start = runs.start_time(job)
    end = (note.at if note else None) or now
    if note is None:
        message = "its Kubernetes Job was deleted before the run ended"
    else:
        who = f" by {note.by}" if note.by else ""
        when = f" at {rfc3339(note.at)}" if note.at else ""
        message = f"aborted{who}{when}: its Kubernetes Job was deleted before the run ended"
    trigger = runs.trigger_of(job)
    return RunRecord(
        run_id=job["metadata"]["name"],
        trigger=trigger,
        result=RunResult.ABORTED,
        scheduled_time=runs.scheduled_time(job),
        schedule=runs.schedule_of(job) if trigger is not RunTrigger.RUN_NOW else None,
        start_time=start,
        end_time=end,
        duration_seconds=round((end - start).total_seconds(), 3) if start else None,
        reason=ABORTED_REASON,
        message=message,
        reported_by="operator",
    )


def named(record: RunRecord, job: dict[str, Any]) -> RunRecord | None:
    """The runner's record of a run it saw aborted (SIGTERM), saying who asked, as the
    facade's note on the deleted Job names them; None when there is nobody to name or
    the record says so already. The runner cannot read its Job's note: without this,
    whoever wrote first decided whether the history said who aborted."""
    note = note_of(job)
    if record.result is not RunResult.ABORTED or note is None or not note.by:
        return None
    who = f"aborted by {note.by}"
    if (record.message or "").startswith(who):
        return None
    text = record.message or ""
    # The runner's own words start "aborted (SIGTERM) ...": say who right there.
    message = f"{who}{text[len('aborted') :]}" if text.startswith("aborted") else f"{who}: {text}"
    return record.model_copy(update={"message": message[:MAX_TEXT]})


def event_message(job: dict[str, Any]) -> str | None:
    """The Event on the ChronosJob for a run aborted through the facade or with the
    annotation (who asked); None for a plain delete (nothing to add to the record)."""
    note = note_of(job)
    if note is None:
        return None
    return f"run {job['metadata']['name']} aborted" + (f" by {note.by}" if note.by else "")
