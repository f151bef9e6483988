"""The one Kubernetes API client of the project (lightkube), and the ChronosJob resource.

Every component talks to the API server through here; docs/architecture.md explains
why lightkube (fast import, typed models, server-side apply, sync and async clients).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lightkube import ApiError, AsyncClient, Client, KubeConfig
from lightkube.config.client_adapter import verify_cluster
from lightkube.config.kubeconfig import SingleConfig
from lightkube.config.models import User
from lightkube.core.exceptions import ConfigError
from lightkube.generic_resource import create_namespaced_resource

from chronos import http
from chronos.models import calendar, channels
from chronos.models.chronosjob import GROUP, KIND, PLURAL, VERSION

FIELD_MANAGER = "chronos"

ChronosJobResource = create_namespaced_resource(GROUP, VERSION, KIND, PLURAL)
ChronosCalendarResource = create_namespaced_resource(GROUP, VERSION, calendar.KIND, calendar.PLURAL)
ChronosChannelResource = create_namespaced_resource(GROUP, VERSION, channels.KIND, channels.PLURAL)
#: metrics.k8s.io/v1beta1 ``pods`` (kind PodMetrics), served by metrics-server: read by
#: the facade (the overview's "Running now", as the caller) and the operator (each
#: run's peaks). One definition: lightkube refuses a second of another signature.
PodMetrics = create_namespaced_resource(
    "metrics.k8s.io", "v1beta1", "PodMetrics", "pods", verbs=["get", "list"]
)

#: The API server's answers that callers handle rather than raise.
UNAUTHORIZED = 401
FORBIDDEN = 403
NOT_FOUND = 404
CONFLICT = 409

T = TypeVar("T")


def answered(exc: BaseException, *codes: int) -> bool:
    """Whether ``exc`` is the API server answering one of ``codes``."""
    return isinstance(exc, ApiError) and exc.status.code in codes


async def or_none(call: Awaitable[T], *codes: int) -> T | None:
    """``call``'s answer, or None when the API server answers one of ``codes`` (by
    default 404: get-or-none; ``CONFLICT`` for a guarded write that lost a race and is
    to be computed again). Anything else is raised."""
    try:
        return await call
    except ApiError as exc:
        if answered(exc, *(codes or (NOT_FOUND,))):
            return None
        raise


def _config(kubeconfig: Path | None) -> KubeConfig | None:
    return KubeConfig.from_file(kubeconfig) if kubeconfig else None


def client(kubeconfig: Path | None = None, field_manager: str = FIELD_MANAGER) -> Client:
    """A client from ``kubeconfig``, or else from $KUBECONFIG / the in-cluster account."""
    return Client(config=_config(kubeconfig), field_manager=field_manager)


#: Where kubectl looks for a kubeconfig when neither a flag nor $KUBECONFIG names one.
DEFAULT_KUBECONFIG = Path("~/.kube/config")


def user_config(kubeconfig: Path | None = None, context: str | None = None) -> SingleConfig:
    """A person's kubeconfig as kubectl reads it: ``kubeconfig`` (a flag), else the first
    file of $KUBECONFIG, else ~/.kube/config, else the in-cluster account; ``context``
    (None: the current one). lightkube's own order (in-cluster first) suits a pod, not a
    person. Raises lightkube's ``ConfigError`` for a missing file or unknown context."""
    named = kubeconfig or next(
        (Path(p) for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p), None
    )
    default = DEFAULT_KUBECONFIG.expanduser()
    if named is None and not default.exists():
        source = KubeConfig.from_service_account()
    else:
        source = KubeConfig.from_file(named or default)
    chosen = source.get(context_name=context)
    if chosen is None:  # a kubeconfig without contexts
        raise ConfigError("the kubeconfig has no context to use")
    return chosen


def user_client(config: SingleConfig, field_manager: str = FIELD_MANAGER) -> Client:
    """A client acting with the person's own credentials of ``config`` (``user_config``)."""
    return Client(config=config, field_manager=field_manager)


#: Every request's connect/read/write timeout (lightkube's default).
REQUEST_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Pool:
    """An async client's connection pool: at most ``connections`` open to the API
    server at once, a request waiting at most ``wait_seconds`` for one (then
    ``http.PoolTimeout``)."""

    connections: int
    wait_seconds: float


def _pooled(config: SingleConfig, pool: Pool | None) -> dict[str, Any]:
    """AsyncClient arguments for ``pool`` (none: lightkube's and httpx's defaults).

    lightkube takes no pool limits, only a transport; the transport then needs the
    cluster's TLS settings (CA, client certificate) that lightkube would have given it.
    """
    if pool is None:
        return {}
    assert config.user is not None  # lightkube's own client needs one as well
    transport = http.AsyncHTTPTransport(
        verify=verify_cluster(config.cluster, config.user, config.abs_file),
        limits=http.Limits(
            max_connections=pool.connections,
            max_keepalive_connections=min(pool.connections, 20),
        ),
    )
    timeout = http.Timeout(REQUEST_TIMEOUT_SECONDS, pool=pool.wait_seconds)
    return {"transport": transport, "timeout": timeout}


def async_client(
    kubeconfig: Path | None = None, field_manager: str = FIELD_MANAGER, pool: Pool | None = None
) -> AsyncClient:
    if pool is None:
        return AsyncClient(config=_config(kubeconfig), field_manager=field_manager)
    source = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
    chosen = source.get()
    assert chosen is not None
    return AsyncClient(config=chosen, field_manager=field_manager, **_pooled(chosen, pool))


def credential_free_async_client(
    kubeconfig: Path | None = None, field_manager: str = FIELD_MANAGER, pool: Pool | None = None
) -> AsyncClient:
    """A client for the API server of ``kubeconfig`` (its URL, CA and TLS settings) that
    holds none of its credentials: no token, no client certificate, no exec plugin.

    Whoever uses it must put credentials on each request (the REST facade forwards its
    caller's own bearer token); without them the API server sees an anonymous request.
    """
    source = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
    chosen = source.get()
    assert chosen is not None
    bare = KubeConfig.from_one(
        cluster=chosen.cluster, user=User(), namespace=chosen.context.namespace, fname=chosen.fname
    )
    single = bare.get()
    assert single is not None
    return AsyncClient(config=single, field_manager=field_manager, **_pooled(single, pool))
