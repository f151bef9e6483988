"""The abort annotation's value (issue 20, feature 5): who asked to stop a run, and when.

Written on the run's batch Job just before it is deleted (``contract.ABORT_ANNOTATION``,
by the REST facade or by hand with kubectl), read by the operator when the Job is gone,
so the run is recorded ``aborted`` — and by whom — even when its pod never started.
One home for the shape: the facade writes with ``note_value``, the operator reads
with ``parse_note``; a hand-written value that is not such JSON still marks an abort.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from chronos.times import parse_time, rfc3339

#: A user name is at most this long in the note (Kubernetes puts no bound on it; the
#: annotation, the record's message and the Event all have one).
MAX_BY = 256


@dataclass(frozen=True)
class AbortNote:
    by: str | None
    at: datetime | None


def note_value(by: str, at: datetime) -> str:
    """The annotation's value: ``{"by": <who>, "at": <RFC 3339>}``; a name, never a token."""
    return json.dumps({"by": by[:MAX_BY], "at": rfc3339(at)}, separators=(",", ":"))


def parse_note(text: str | None) -> AbortNote | None:
    """The note in an annotation value; None without the annotation. A value of another
    shape (``kubectl annotate job x chronos.gluesync.io/abort=yes``) is an abort by an
    unnamed user."""
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return AbortNote(None, None)
    by, at = data.get("by"), data.get("at")
    return AbortNote(
        by=by[:MAX_BY] if isinstance(by, str) and by else None,
        at=parse_time(at) if isinstance(at, str) else None,
    )
