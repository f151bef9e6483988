"""FastAPI dependencies: the app's components, the caller, the namespace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from lightkube import AsyncClient

from chronos.api.auth import Authenticator
from chronos.api.cache import JobCache
from chronos.api.errors import ProblemError
from chronos.api.metrics import Metrics
from chronos.api.services import Caller, JobService, ScheduleService
from chronos.api.settings import DNS_LABEL, ApiSettings


@dataclass
class Components:
    """Everything the routes need, built at start-up (``chronos.api.app``)."""

    settings: ApiSettings
    own: AsyncClient
    as_caller: AsyncClient
    cache: JobCache
    jobs: JobService
    schedules: ScheduleService
    authenticator: Authenticator | None
    metrics: Metrics


def components(request: Request) -> Components:
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
    return Caller(identity)


def namespace(
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
