"""The one Kubernetes API client of the project (lightkube), and the ChronosJob resource.

Every component talks to the API server through here; docs/architecture.md explains
why lightkube (fast import, typed models, server-side apply, sync and async clients).
"""

from __future__ import annotations

from pathlib import Path

from lightkube import AsyncClient, Client, KubeConfig
from lightkube.config.models import User
from lightkube.generic_resource import create_namespaced_resource

from chronos.models.chronosjob import GROUP, KIND, PLURAL, VERSION

FIELD_MANAGER = "chronos"

ChronosJobResource = create_namespaced_resource(GROUP, VERSION, KIND, PLURAL)


def _config(kubeconfig: Path | None) -> KubeConfig | None:
    return KubeConfig.from_file(kubeconfig) if kubeconfig else None


def client(kubeconfig: Path | None = None, field_manager: str = FIELD_MANAGER) -> Client:
    """A client from ``kubeconfig``, or else from $KUBECONFIG / the in-cluster account."""
    return Client(config=_config(kubeconfig), field_manager=field_manager)


def async_client(kubeconfig: Path | None = None, field_manager: str = FIELD_MANAGER) -> AsyncClient:
    return AsyncClient(config=_config(kubeconfig), field_manager=field_manager)


def credential_free_async_client(
    kubeconfig: Path | None = None, field_manager: str = FIELD_MANAGER
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
    return AsyncClient(config=bare, field_manager=field_manager)
