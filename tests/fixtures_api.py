"""Fixtures for the REST facade: the app served by uvicorn with auth ON, as a
ServiceAccount holding exactly the RBAC docs/api.md documents, and callers with
ServiceAccount tokens from the TokenRequest API.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from builders import grant, service_account
from lightkube import Client
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.core_v1 import Namespace, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import (
    ClusterRole,
    ClusterRoleBinding,
)
from support import wait_for

from chronos import http
from chronos.api.app import create_app
from chronos.api.settings import ApiSettings
from chronos.devcluster.cluster import free_port
from chronos.devcluster.system import Target

#: The facade's own RBAC, exactly as docs/api.md documents it: the shared cache only.
FACADE_RULES = [
    PolicyRule(
        apiGroups=["chronos.gluesync.io"], resources=["chronosjobs"], verbs=["list", "watch"]
    ),
]


def sa_token(k8s: Client, namespace: str, name: str) -> str:
    k8s.create(service_account(name, namespace))
    request = ServiceAccount.Token(
        metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=[], expirationSeconds=3600)
    )
    result = k8s.create(request, name=name, namespace=namespace)
    assert result.status is not None
    return str(result.status.token)


def token_kubeconfig(cluster: Target, token: str, path: Path) -> Path:
    # JSON (the bare plane) or YAML (kind's): YAML reads both.
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": "facade", "user": {"token": token}}],
        "contexts": [
            {
                "name": "facade",
                "context": {"cluster": admin["clusters"][0]["name"], "user": "facade"},
            }
        ],
        "current-context": "facade",
    }
    path.write_text(json.dumps(config))
    return path


@dataclass
class ApiServer:
    url: str
    settings: ApiSettings
    #: The facade's own ServiceAccount token (TokenRequest), as in its kubeconfig.
    facade_token: str
    #: The namespace of the facade's ServiceAccount (``chronos-api``).
    home: str

    def client(self, token: str | None, namespace: str | None = None) -> http.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        params = {"namespace": namespace} if namespace else {}
        return http.Client(base_url=self.url, headers=headers, params=params, timeout=30)


class ServedApp:
    """``create_app(settings)`` served by uvicorn on a loopback port, in a thread."""

    def __init__(self, settings: ApiSettings) -> None:
        if "api_metrics_port" not in settings.model_fields_set:
            # Never the default port: test sessions run side by side.
            settings = settings.model_copy(update={"api_metrics_port": free_port()})
        self.settings = settings
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=settings.api_port,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="chronos-api", daemon=True)
        self.url = f"http://127.0.0.1:{settings.api_port}"

    def __enter__(self) -> ServedApp:
        self.thread.start()

        def ready() -> bool:
            try:
                return http.Client().get(f"{self.url}/readyz").status_code == 200
            except http.TransportError:
                return False

        wait_for(ready, 30, "the API to be ready")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="session")
def api_server(
    cluster: Target, k8s: Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    yield from serve_api(cluster, k8s, tmp_path_factory)


def serve_api(
    cluster: Target, k8s: Client, tmp_path_factory: pytest.TempPathFactory, **overrides: Any
) -> Iterator[ApiServer]:
    """The REST facade in this process, as its own ServiceAccount of ``cluster``
    (``overrides``: settings other than the suite's)."""
    suffix = uuid.uuid4().hex[:8]
    home = f"chronos-api-{suffix}"
    role = f"chronos-api-facade-{suffix}"
    k8s.create(Namespace(metadata=ObjectMeta(name=home)))
    k8s.create(ClusterRole(metadata=ObjectMeta(name=role), rules=FACADE_RULES))
    k8s.create(
        ClusterRoleBinding(
            metadata=ObjectMeta(name=role),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
            subjects=[Subject(kind="ServiceAccount", name="chronos-api", namespace=home)],
        )
    )
    try:
        token = sa_token(k8s, home, "chronos-api")
        kubeconfig = token_kubeconfig(
            cluster, token, tmp_path_factory.mktemp("api") / "facade.kubeconfig"
        )
        settings = ApiSettings(
            api_port=free_port(),
            api_metrics_port=free_port(),
            api_kubeconfig=kubeconfig,
            api_auth_disabled=False,
            **{"api_access_cache_seconds": 2.0, **overrides},
        )
        with ServedApp(settings) as served:
            yield ApiServer(served.url, settings, token, home)
    finally:
        k8s.delete(ClusterRoleBinding, role)
        k8s.delete(ClusterRole, role)
        k8s.delete(Namespace, home)


@pytest.fixture
def editor_token(k8s: Client, namespace: str) -> str:
    """A token of a ServiceAccount allowed everything on chronosjobs in ``namespace``."""
    grant(k8s, namespace, "alice")
    return sa_token(k8s, namespace, "alice")


@pytest.fixture
def api(api_server: ApiServer, editor_token: str, namespace: str) -> Iterator[http.Client]:
    """An HTTP client of the facade, as the editor, with ?namespace= set."""
    with api_server.client(editor_token, namespace) as client:
        yield client


def example_job(**overrides: Any) -> dict[str, Any]:
    """The example of the published Chronos README, verbatim (plus overrides)."""
    body: dict[str, Any] = {
        "name": "Monday-Wednesday-Friday Job",
        "task_type": "entity_start",
        "schedule": {"days_of_week": ["monday", "wednesday", "friday"], "hour": 8, "minute": 30},
        "pipeline_id": "pipeline-123",
        "entity_id": "entity-456",
    }
    body.update(overrides)
    return body


def quiet_schedule(now: datetime) -> dict[str, Any]:
    """A friendly schedule whose next run is about three days after ``now``: for a test
    an operator watches, where a scheduled run (the example's 08:30 on Mondays,
    Wednesdays and Fridays, met by a run at that hour) would change the answer."""
    later = now.astimezone(UTC) + timedelta(days=3)
    return {"days_of_week": [later.strftime("%A").lower()], "hour": later.hour, "minute": 0}


def quiet_cron(now: datetime) -> str:
    """The cron of :func:`quiet_schedule` (UTC, the facade's default zone)."""
    later = now.astimezone(UTC) + timedelta(days=3)
    return f"0 {later.hour} * * {later.isoweekday() % 7}"
