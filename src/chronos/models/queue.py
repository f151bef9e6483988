"""The bounded run queue of concurrencyPolicy Enqueue (issue 20, feature 4): the spec's
``maxQueued`` bound and its rule. The queued runs themselves are status
(``jobstatus.QueuedRun``, beside ``ActiveRun``); the operator's planner is
``chronos.operator.queue``.

A slot (or a run-now) that arrives while a run of an Enqueue job is active waits in
``status.queued`` and starts when no run is active, oldest first; beyond ``maxQueued``
the oldest waiting run is dropped and recorded as missed with reason ``QueueFull``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chronos.models.rules import Rule

if TYPE_CHECKING:
    from chronos.models.chronosjob import ChronosJobSpec

#: ``ConcurrencyPolicy.ENQUEUE``'s value (the enum takes it from here: the rule below
#: needs it without importing the spec's module).
ENQUEUE = "Enqueue"
MAX_QUEUED = 100
#: ``maxQueued`` when an Enqueue job leaves it out.
DEFAULT_MAX_QUEUED = 10
#: The reason of the history entry of a queued run dropped for a newer one.
QUEUE_FULL = "QueueFull"

MAX_QUEUED_RULE: Rule[Any] = Rule(
    cel=(
        "!has(self.maxQueued) || "
        f"(has(self.concurrencyPolicy) && self.concurrencyPolicy == '{ENQUEUE}')"
    ),
    message=f"maxQueued needs concurrencyPolicy {ENQUEUE} (only Enqueue queues runs)",
    field_path=".maxQueued",
    check=lambda s: s.max_queued is None or s.concurrency_policy == ENQUEUE,
)


def enqueues(spec: ChronosJobSpec) -> bool:
    """Whether runs of ``spec`` wait their turn (the operator then fires every slot)."""
    return bool(spec.concurrency_policy == ENQUEUE)


def max_queued(spec: ChronosJobSpec) -> int:
    """How many runs may wait at most (its default applied)."""
    return spec.max_queued if spec.max_queued is not None else DEFAULT_MAX_QUEUED
