"""The CoreHub client shared by the components (see /work/shared/corehub-api.md).

``plan`` turns a Task into commands, ``CoreHubClient`` talks to CoreHub (login,
retries, TLS, one deadline per run) and ``execute`` runs a Task and waits for each
command's outcome.
"""

from chronos.corehub.api import (
    ENTITY_PARAM,
    GROUP_PARAM,
    Command,
    EntityState,
    Expect,
    Step,
    Verdict,
    affected_entities,
    entity_state,
    judge,
    pipelines_list,
    plan,
)
from chronos.corehub.client import (
    ClientOptions,
    CoreHubClient,
    EventSink,
    TLSOptions,
    classify,
    ssl_context,
)
from chronos.corehub.errors import (
    AuthenticationError,
    CoreHubError,
    CoreHubTimeoutError,
    CoreHubUnreachableError,
    EntityErrorStateError,
    TaskRejectedError,
)
from chronos.corehub.execute import ExecuteOptions, TargetResult, TaskOutcome, execute
from chronos.corehub.retry import (
    RETRYABLE_STATUSES,
    Deadline,
    Decision,
    Failure,
    RetryPolicy,
    backoff,
    decide,
    parse_retry_after,
    retryable,
)

__all__ = [
    "ENTITY_PARAM",
    "GROUP_PARAM",
    "RETRYABLE_STATUSES",
    "AuthenticationError",
    "ClientOptions",
    "Command",
    "CoreHubClient",
    "CoreHubError",
    "CoreHubTimeoutError",
    "CoreHubUnreachableError",
    "Deadline",
    "Decision",
    "EntityErrorStateError",
    "EntityState",
    "EventSink",
    "ExecuteOptions",
    "Expect",
    "Failure",
    "RetryPolicy",
    "Step",
    "TLSOptions",
    "TargetResult",
    "TaskOutcome",
    "TaskRejectedError",
    "Verdict",
    "affected_entities",
    "backoff",
    "classify",
    "decide",
    "entity_state",
    "execute",
    "judge",
    "parse_retry_after",
    "pipelines_list",
    "plan",
    "retryable",
    "ssl_context",
]
