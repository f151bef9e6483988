"""A run stopped on request (issue 20, feature 5): SIGTERM, what was sent, what is left.

Kubernetes stops a run by deleting its Job (the REST or dashboard Abort, ``kubectl
delete job``, concurrencyPolicy Replace): the kubelet sends the runner SIGTERM and
kills it ``terminationGracePeriodSeconds`` later (30 s unless the pod says otherwise).
Within that time the runner stops sending commands (the signal interrupts whatever it
was doing), reads the entities' states back once, and records the run ``aborted`` with
the commands CoreHub had accepted and those states, so whoever aborted it knows what
state the pipeline was left in.

``on_sigterm`` and ``Sent`` are the I/O edge; ``abort_message`` and ``abort_entities``
are pure and unit-tested.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from chronos.corehub import EntityStatus, EventSink, entity_state
from chronos.corehub.paths import query
from chronos.models.chronosjob import MAX_TEXT, EntityResult, RunResult

#: The read-back's own deadline: with the status write after it, well inside Kubernetes'
#: default grace period of 30 s (a pod override below ~15 s may cut the record short;
#: the operator then records the run aborted from the Job, without the states).
READBACK_SECONDS = 5.0
#: At most this many commands are named in the record's message (a pipeline task sends
#: one per step; the list is bounded all the same).
MAX_NAMED_COMMANDS = 10


class AbortedError(BaseException):
    """Raised in the main thread by SIGTERM: a BaseException, so no ``except Exception``
    on the way (a retry loop, the task's own error handling) can swallow it."""


@contextmanager
def on_sigterm() -> Iterator[None]:
    """SIGTERM raises AbortedError inside the block, once: a second SIGTERM (the kubelet
    sends one per container stop attempt) must not cut the read-back short. Outside
    the block SIGTERM is ignored until the run's record is written (the task is over:
    its record says what happened, not "aborted")."""

    def handler(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise AbortedError

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        # Not restored: the runner exits once its record is written.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


@dataclass
class Sent:
    """What the run did at CoreHub, from the client's events: the commands CoreHub
    accepted (``command`` events) and the entities each waited on (``wait`` events)."""

    sink: EventSink
    commands: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)

    def __call__(self, step: str, fields: dict[str, Any]) -> None:
        if step == "command":
            params = fields.get("params") or {}
            text = str(fields.get("path", ""))
            if params:
                text += "?" + query([(str(k), str(v)) for k, v in params.items()])
            self.commands.append(text)
        elif step == "wait" and fields.get("phase") == "begin":
            for entity in fields.get("entities") or []:
                if str(entity) not in self.entities:
                    self.entities.append(str(entity))
        self.sink(step, fields)


def targets(sent: Sent, task_entities: Sequence[str] | None) -> list[str]:
    """The entities whose state is read back: those a command was waited on for, else
    the task's own (a command accepted, the signal before its wait began)."""
    if not sent.commands:
        return []
    return list(sent.entities) or list(task_entities or [])


def abort_entities(
    ids: Sequence[str], statuses: Mapping[str, EntityStatus] | None
) -> list[EntityResult] | None:
    """One ``aborted`` entry per entity with the state read back (None: unread)."""
    if not ids:
        return None
    out = []
    for entity in ids:
        status = None if statuses is None else statuses.get(entity)
        state = None if status is None else str(entity_state(status))
        note = None
        if statuses is not None and status is None:
            note = "not listed in CoreHub's entity status"
        out.append(EntityResult(id=entity, result=RunResult.ABORTED, state=state, message=note))
    return out


def abort_message(commands: Sequence[str], entities: list[EntityResult] | None, read: str) -> str:
    """Why and what: the commands CoreHub had accepted, the states left behind."""
    if not commands:
        text = "aborted (SIGTERM) before CoreHub accepted any command"
    else:
        named = "; ".join(commands[:MAX_NAMED_COMMANDS])
        more = len(commands) - MAX_NAMED_COMMANDS
        if more > 0:
            named += f"; and {more} more"
        text = f"aborted (SIGTERM) after {len(commands)} CoreHub command(s) sent: {named}"
        if entities:
            states = ", ".join(f"{e.id} {e.state or 'unknown'}" for e in entities)
            text += f"; states left: {states}"
        if read:
            text += f"; {read}"
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def read_back(
    read: Callable[[], Mapping[str, EntityStatus]], ids: Sequence[str]
) -> tuple[Mapping[str, EntityStatus] | None, str]:
    """The entities' states, or None and why they could not be read (the error's text
    comes from the CoreHub client, which masks what CoreHub said)."""
    if not ids:
        return None, ""
    try:
        return read(), ""
    except Exception as exc:  # noqa: BLE001 - any failure still leaves a record
        return None, f"states could not be read: {type(exc).__name__}: {exc}"
