"""FastAPI dependencies: the app's components, the caller, the namespace, and the
caller's right to the route (checked before the body, the cache or the API server).

FastAPI reads and parses a route's body before it solves the route's dependencies, so
on its own a malformed body would be a 422 before the 401 or 403. :class:`GatedRoute`
runs the route's gate (who is calling, and may they do the route's verbs) first and
leaves its answer in the request's scope, where the dependencies find it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.security import HTTPBearer
from lightkube import AsyncClient

from chronos.api.auth import Authenticator
from chronos.api.cache import JobCache
from chronos.api.errors import JsonBodyRoute, ProblemError
from chronos.api.metrics import Metrics
from chronos.api.podmetrics import PodMetricsReader
from chronos.api.previews import ScheduleService
from chronos.api.runs import RunService
from chronos.api.services import Caller, JobService
from chronos.api.session import SessionCodec
from chronos.api.settings import DNS_LABEL, ApiSettings
from chronos.api.signouts import SignOuts
from chronos.api.streams import StreamLimits


@dataclass
class Components:
    """Everything the routes need, built at start-up (``chronos.api.app``)."""

    settings: ApiSettings
    own: AsyncClient
    #: Sends each caller's own token (auth on); the facade's own client when auth is off.
    as_caller: AsyncClient
    cache: JobCache
    jobs: JobService
    #: Run now and abort (REST and dashboard alike).
    runs: RunService
    schedules: ScheduleService
    authenticator: Authenticator | None
    metrics: Metrics
    #: Seals the dashboard's session cookies and makes its CSRF tokens.
    sessions: SessionCodec
    #: Dashboard sign-outs, shared by the replicas.
    sign_outs: SignOuts
    #: CPU and memory of running runs (metrics.k8s.io), read as the caller.
    pod_metrics: PodMetricsReader
    #: As ``as_caller``, on a connection pool of its own: for calls that stream
    #: (followed pod logs), so they never hold a connection the short calls wait for.
    streaming: AsyncClient
    #: Open live streams, bounded per identity and in total (``chronos.api.streams``).
    stream_limits: StreamLimits


# The dependencies are ``async def`` though they never await: FastAPI runs a plain
# ``def`` dependency in its thread pool, a hand-off per request that cost more than the
# list itself once list responses are kept encoded (bench/api_list.py, paged).
#
# They are also few: FastAPI solves a dependency's whole sub-tree again at each place it
# is declared (its per-request cache only saves the call), and that solving was most of
# a paged list's time in the facade. So a route's tree is two nodes: :func:`allowed`
# (with the namespace parameter) over :data:`caller` (the bearer scheme itself);
# the components come from ``request.app.state``, one attribute read.
def app_components(request: Request) -> Components:
    found: Components = request.app.state.components
    return found


async def components(request: Request) -> Components:
    return app_components(request)


_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="chronos"'}


class CallerScheme(HTTPBearer):
    """The bearer scheme of the OpenAPI document, answering with the authenticated
    :class:`Caller` (401 without a valid token)."""

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        solved = request.scope.get(_CALLER)
        if solved is None:
            solved = request.scope[_CALLER] = await self._identify(request)
        assert isinstance(solved, Caller)
        return solved

    async def _identify(self, request: Request) -> Caller:
        authenticator = app_components(request).authenticator
        if authenticator is None:
            return Caller(None)
        credentials = await super().__call__(request)
        if credentials is None or not credentials.credentials:
            raise ProblemError(
                401,
                "authentication required: send Authorization: Bearer <Kubernetes token>",
                headers=_UNAUTHORIZED,
            )
        identity = await authenticator.identify(credentials.credentials)
        if identity is None:
            raise ProblemError(
                401,
                "the bearer token is not valid (unknown, expired or revoked)",
                headers=_UNAUTHORIZED,
            )
        return Caller(identity, credentials.credentials)


#: Scope keys of what a gate solved before the body was read.
_CALLER = "chronos.caller"
_ALLOWED = "chronos.allowed"
#: The attribute naming a dependency's gate: ``async (request) -> None``.
_GATE = "chronos_gate"

caller = CallerScheme(
    auto_error=False,
    # The name FastAPI gave the scheme when it was a plain HTTPBearer: the document's.
    scheme_name="HTTPBearer",
    description="A Kubernetes bearer token (for example a ServiceAccount token).",
)

Parts = Annotated[Components, Depends(components)]
CallerDep = Annotated[Caller, Depends(caller)]
#: The ``namespace`` query parameter of every job route.
NamespaceParam = Annotated[
    str | None,
    Query(
        pattern=DNS_LABEL,
        max_length=63,
        description="Kubernetes namespace; default: CHRONOS_API_DEFAULT_NAMESPACE.",
    ),
]


@dataclass(frozen=True)
class Allowed:
    """What a route needs once the caller may do its verbs in the namespace."""

    parts: Components
    caller: Caller
    namespace: str


def allowed(*verbs: str) -> Any:
    """A dependency giving the route its :class:`Allowed` once RBAC lets the caller do
    each of ``verbs`` to chronosjobs in the namespace (to the job of the path, if any).

    FastAPI solves it before it validates the body or runs the route, so a caller
    without the right gets the same 403 whatever the body and whether the job exists.
    The caller is solved before the namespace is validated, so a request without a
    valid token is a 401 whatever its parameters.
    """

    async def authorize(request: Request, who: Caller, namespace: str | None) -> Allowed:
        parts = app_components(request)
        namespace = namespace or parts.settings.api_default_namespace
        job_id = request.path_params.get("job_id")
        for verb in verbs:
            await parts.jobs.authorize(who, verb, namespace, job_id)
        return Allowed(parts, who, namespace)

    async def check(request: Request, who: CallerDep, namespace: NamespaceParam = None) -> Allowed:
        solved = request.scope.get(_ALLOWED)
        if isinstance(solved, Allowed):
            return solved
        return await authorize(request, who, namespace)

    async def gate(request: Request) -> None:
        who = await caller(request)
        namespace = request.query_params.get("namespace")
        if namespace is not None and not _NAMESPACE.fullmatch(namespace):
            # Left to FastAPI's own 422 (after the body, which only a caller sends now).
            return
        request.scope[_ALLOWED] = await authorize(request, who, namespace)

    setattr(check, _GATE, gate)
    return Depends(check)


_NAMESPACE = re.compile(DNS_LABEL)


async def _authenticate(request: Request) -> None:
    await caller(request)


setattr(caller, _GATE, _authenticate)


class GatedRoute(JsonBodyRoute):
    """A route whose gate (:func:`allowed`, or the bearer scheme alone) is passed before
    its body is read: a caller without a valid token gets a 401, one without the right
    a 403, whatever the body (malformed, deep, large) and before any byte of it is read."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        gates: list[Callable[[Request], Awaitable[None]]] = [
            gate
            for dependency in self.dependant.dependencies
            if (gate := getattr(dependency.call, _GATE, None)) is not None
        ]
        if self.body_field is None or not gates:
            return handler

        async def gated(request: Request) -> Response:
            for gate in gates:
                await gate(request)
            return await handler(request)

        return gated
