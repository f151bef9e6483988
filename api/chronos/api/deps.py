"""FastAPI dependencies: the app's components, the caller, the namespace, and the
caller's right to the route (checked before the body, the cache or the API server)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from lightkube import AsyncClient

from chronos.api.auth import Authenticator
from chronos.api.cache import JobCache
from chronos.api.errors import ProblemError
from chronos.api.metrics import Metrics
from chronos.api.services import Caller, JobService, ScheduleService
from chronos.api.session import SessionCodec
from chronos.api.settings import DNS_LABEL, ApiSettings


@dataclass
class Components:
    """Everything the routes need, built at start-up (``chronos.api.app``)."""

    settings: ApiSettings
    own: AsyncClient
    #: Sends each caller's own token (auth on); the facade's own client when auth is off.
    as_caller: AsyncClient
    cache: JobCache
    jobs: JobService
    schedules: ScheduleService
    authenticator: Authenticator | None
    metrics: Metrics
    #: Seals the dashboard's session cookies and makes its CSRF tokens.
    sessions: SessionCodec


# The dependencies are ``async def`` though they never await: FastAPI runs a plain
# ``def`` dependency in its thread pool, a hand-off per request that cost more than the
# list itself once list responses are kept encoded (bench/api_list.py, paged).
async def components(request: Request) -> Components:
    found: Components = request.app.state.components
    return found


bearer = HTTPBearer(
    auto_error=False,
    description="A Kubernetes bearer token (for example a ServiceAccount token).",
)

_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="chronos"'}


async def caller(
    parts: Annotated[Components, Depends(components)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if parts.authenticator is None:
        return Caller(None)
    if credentials is None or not credentials.credentials:
        raise ProblemError(
            401,
            "authentication required: send Authorization: Bearer <Kubernetes token>",
            headers=_UNAUTHORIZED,
        )
    identity = await parts.authenticator.identify(credentials.credentials)
    if identity is None:
        raise ProblemError(
            401,
            "the bearer token is not valid (unknown, expired or revoked)",
            headers=_UNAUTHORIZED,
        )
    return Caller(identity, credentials.credentials)


async def namespace(
    parts: Annotated[Components, Depends(components)],
    namespace: Annotated[
        str | None,
        Query(
            pattern=DNS_LABEL,
            max_length=63,
            description="Kubernetes namespace; default: CHRONOS_API_DEFAULT_NAMESPACE.",
        ),
    ] = None,
) -> str:
    return namespace or parts.settings.api_default_namespace


Parts = Annotated[Components, Depends(components)]
CallerDep = Annotated[Caller, Depends(caller)]
Namespace = Annotated[str, Depends(namespace)]


def allowed(*verbs: str) -> Any:
    """A dependency giving the caller once RBAC lets them do each of ``verbs`` to
    chronosjobs in the namespace (to the job of the path, if any).

    FastAPI solves it before it validates the body or runs the route, so a caller
    without the right gets the same 403 whatever the body and whether the job exists.
    """

    async def check(request: Request, parts: Parts, who: CallerDep, namespace: Namespace) -> Caller:
        job_id = request.path_params.get("job_id")
        for verb in verbs:
            await parts.jobs.authorize(who, verb, namespace, job_id)
        return who

    return Depends(check)
