"""Typed failures of a CoreHub conversation, one class per way a run can fail."""

from __future__ import annotations


class CoreHubError(Exception):
    """Base class of every CoreHub failure."""


class AuthenticationError(CoreHubError):
    """Login refused, or a fresh token was refused again."""


class TaskRejectedError(CoreHubError):
    """CoreHub answered a non-retryable error (a 4xx, or a 500) with its message."""

    def __init__(self, status_code: int, message: str, method: str = "", path: str = "") -> None:
        self.status_code = status_code
        self.corehub_message = message
        self.method = method
        self.path = path
        where = f" to {method} {path}" if method else ""
        super().__init__(f"CoreHub answered {status_code}{where}: {message}")


class NotConfiguredError(TaskRejectedError):
    """A wait task names an entity or group that CoreHub's configuration does not list.

    No command was sent, so no CoreHub answer refused it; it fails as a rejected task
    (its 404 is CoreHub's "not found" for commands) rather than wait for nothing.
    """

    def __init__(self, message: str) -> None:
        self.status_code = 404
        self.corehub_message = message
        self.method = ""
        self.path = ""
        CoreHubError.__init__(self, message)


class EntityErrorStateError(CoreHubError):
    """An entity went into CoreHub's Error state while Chronos waited for it."""


class CoreHubTimeoutError(CoreHubError):
    """The run's deadline passed, or an entity never reached the expected state."""

    def __init__(self, message: str, *, deadline_exceeded: bool = True) -> None:
        self.deadline_exceeded = deadline_exceeded
        super().__init__(message)


class CoreHubUnreachableError(CoreHubError):
    """No usable answer: connection failures or retryable statuses until retries ran out."""


class AnswerLostError(CoreHubUnreachableError):
    """A command's answer was lost after it may have reached CoreHub: outcome unknown.

    ``attempt`` is the attempt that lost it, so a re-send (once CoreHub's state shows it
    did not act) counts against the same retry budget.
    """

    def __init__(self, message: str, attempt: int) -> None:
        self.attempt = attempt
        super().__init__(message)


class UnusableAnswerError(CoreHubError):
    """CoreHub answered 2xx with something that is not what the call returns (an HTML page,
    JSON of the wrong shape): nothing it says can be judged, so the run stops here rather
    than read the garbage as "no entities" or "not there yet"."""


class UnsafeIdError(CoreHubError, ValueError):
    """An id that cannot be one CoreHub path segment (empty, ``.``, ``..``, no UTF-8 form).

    The models refuse such ids; this stops one that bypassed them before any request.
    """
