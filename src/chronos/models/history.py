"""Merging a run into status.history: shared by the runner and the operator."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from chronos.models.chronosjob import LOG_TAILS_KEPT, MAX_HISTORY, RunRecord

RUNNER = "runner"


def parse_history(stored: Any) -> list[RunRecord]:
    """A stored status.history as models, at the edge where it is read.

    An entry the model refuses can only come from an older CRD version: it is left out
    (the next write drops it) rather than making every later run unrecordable.
    """
    records = []
    for raw in stored if isinstance(stored, list) else []:
        try:
            records.append(RunRecord.model_validate(raw))
        except ValidationError:
            continue
    return records


def run_time(record: RunRecord) -> datetime | None:
    """When a run happened, for ordering: its end, else its start, else its slot."""
    return record.end_time or record.start_time or record.scheduled_time


def merge_run(history: Sequence[RunRecord], record: RunRecord, limit: int) -> list[RunRecord]:
    """``history`` (newest first) with ``record`` in its place, at most ``limit`` runs.

    A run is placed by ``run_time``, ahead of every run that is not newer: so a run
    reported late (the operator recording a Job the runner could not report, after a
    restart) does not push newer runs down, and a run older than every run of a full
    history stays out of it, as it was when it was trimmed (a finished Job outlives its
    history entry when the CronJob keeps more Jobs than ``historyLimit``). A run without
    any time, and a tie, go first.

    A runId names one run and never another: it is the Job's name, and Job names do not
    repeat (a scheduled Job's carries its slot; a run-now Job's is derived from the
    request's token *and* the time it was accepted, see ``chronos.runnow``). So an entry
    with the same runId is the same run, reported again (a write retried after a
    conflict, or reported by both the runner and the operator): it is replaced, never
    listed twice, and the operator's account never replaces the runner's, which knows
    more (the entities, CoreHub's messages). Only the newest LOG_TAILS_KEPT runs keep
    their log tail.
    """
    if not 1 <= limit <= MAX_HISTORY:
        raise ValueError(f"limit must be between 1 and {MAX_HISTORY}, got {limit}")
    same = next((r for r in history if r.run_id == record.run_id), None)
    if same is not None and same.reported_by == RUNNER and record.reported_by != RUNNER:
        return list(history)[:limit]
    rest = [r for r in history if r.run_id != record.run_id]
    when = run_time(record)
    place = 0
    if when is not None:
        while place < len(rest):
            other = run_time(rest[place])
            if other is not None and other <= when:
                break
            place += 1
    merged = [*rest[:place], record, *rest[place:]][:limit]
    return [
        r if i < LOG_TAILS_KEPT or r.log_tail is None else r.model_copy(update={"log_tail": None})
        for i, r in enumerate(merged)
    ]
