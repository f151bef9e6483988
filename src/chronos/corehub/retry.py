"""When to retry a CoreHub request and how long to wait first: pure functions.

Retried: failures to connect, timeouts, 502/503/504 and 429 (after its Retry-After).
Never retried: any other status. A login or a read may simply be repeated. A command
(``idempotent=False``) is re-sent at once only when CoreHub cannot have acted on it (not
sent, 429, 503); when its answer was lost after it may have reached CoreHub (read
timeout, connection lost after sending, 502/504 from a proxy) the decision is ``verify``:
the caller reads the entities' state first and re-sends only if it shows that CoreHub did
not act (``Failure.NOT_APPLIED``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from chronos.corehub.errors import CoreHubTimeoutError

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


class Failure(StrEnum):
    """How a request failed without an HTTP answer."""

    NOT_SENT = "not-sent"  # connect error, connect or pool timeout: CoreHub saw nothing
    TIMEOUT = "timeout"  # sent, no answer in time
    CONNECTION_LOST = "connection-lost"  # sent, connection closed or reset
    TLS_REJECTED = "tls-rejected"  # CoreHub's certificate failed verification
    #: A command's answer was lost, and CoreHub's state then showed it did not act.
    NOT_APPLIED = "not-applied"


#: Statuses of a proxy in front of CoreHub that may have passed the request on.
LOST_ANSWER_STATUSES = frozenset({502, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    #: A Retry-After longer than this is not waited for.
    max_retry_after: float = 300.0


@dataclass(frozen=True)
class Decision:
    retry: bool
    delay: float
    reason: str
    #: Gave up because the run's deadline would pass first (a timeout, not unreachable).
    out_of_time: bool = False
    #: A command's answer was lost after it may have reached CoreHub: read its state
    #: before anything else (whatever the attempts left).
    verify: bool = False


def may_have_acted(status: int | None, failure: Failure | None) -> bool:
    """The request may have reached CoreHub, and its answer was lost."""
    if failure is not None:
        return failure in (Failure.TIMEOUT, Failure.CONNECTION_LOST)
    return status in LOST_ANSWER_STATUSES


def retryable(status: int | None, failure: Failure | None, idempotent: bool) -> bool:
    """Whether to send again without looking at CoreHub's state first."""
    if failure in (Failure.NOT_SENT, Failure.NOT_APPLIED):
        return True
    if failure is Failure.TLS_REJECTED:
        return False
    if not idempotent and may_have_acted(status, failure):
        return False
    if failure is not None:
        return True
    return status in RETRYABLE_STATUSES


def backoff(attempt: int, policy: RetryPolicy, rand: float) -> float:
    """Exponential backoff with equal jitter after failed ``attempt`` (1-based).

    Half the exponential step is fixed and half random (``rand`` in [0, 1)), so clients
    that failed together spread out while each still backs off.
    """
    step: float = min(policy.max_delay, policy.base_delay * 2.0 ** (attempt - 1))
    return step / 2 + rand * step / 2


def decide(
    attempt: int,
    *,
    status: int | None,
    failure: Failure | None,
    idempotent: bool,
    retry_after: float | None,
    remaining: float,
    policy: RetryPolicy,
    rand: float,
) -> Decision:
    """Whether to try again after failed ``attempt`` (1-based), and after how long."""
    what = f"HTTP {status}" if failure is None else str(failure)
    if not idempotent and may_have_acted(status, failure):
        return Decision(
            False,
            0.0,
            f"{what}: the answer was lost; reading the state before re-sending",
            verify=True,
        )
    if not retryable(status, failure, idempotent):
        return Decision(False, 0.0, f"{what} is not retryable")
    if attempt >= policy.max_attempts:
        return Decision(False, 0.0, f"{what}: gave up after {attempt} attempts")
    if retry_after is not None and failure is None:
        if retry_after > policy.max_retry_after:
            return Decision(False, 0.0, f"{what}: Retry-After {retry_after:g}s is too long")
        delay = retry_after
    else:
        delay = backoff(attempt, policy, rand)
    if delay >= remaining:
        return Decision(False, delay, f"{what}: the deadline passes before the next attempt", True)
    return Decision(True, delay, what)


class Deadline:
    """One overall deadline per run, on the monotonic clock."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0

    def check(self, doing: str) -> None:
        if self.expired():
            raise CoreHubTimeoutError(f"the run's {self.seconds:g}s deadline passed {doing}")
