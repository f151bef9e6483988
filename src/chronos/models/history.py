"""Merging a run into status.history: shared by the runner and the operator."""

from __future__ import annotations

from collections.abc import Sequence

from chronos.models.chronosjob import MAX_HISTORY, RunRecord


def prepend_run(history: Sequence[RunRecord], record: RunRecord, limit: int) -> list[RunRecord]:
    """``record`` first, then the other runs (newest first), at most ``limit`` in all.

    An entry with the same runId is replaced rather than kept, so a write that is
    retried after a conflict, or a run both writers report, never appears twice.
    """
    if not 1 <= limit <= MAX_HISTORY:
        raise ValueError(f"limit must be between 1 and {MAX_HISTORY}, got {limit}")
    rest = [r for r in history if r.run_id != record.run_id]
    return [record, *rest][:limit]
