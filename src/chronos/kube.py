"""The one Kubernetes API client of the project (lightkube), and the ChronosJob resource.

Every component talks to the API server through here; docs/architecture.md explains
why lightkube (fast import, typed models, server-side apply, sync and async clients).
"""

from __future__ import annotations

from pathlib import Path

from lightkube import AsyncClient, Client, KubeConfig
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
