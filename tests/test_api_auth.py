"""Authentication (TokenReview) and authorization as the caller (RBAC via impersonation)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fixtures_api import ApiServer, example_job, grant, sa_token
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from chronos import http
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster


@pytest.fixture
def other_namespace(k8s: Client) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    k8s.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    k8s.delete(Namespace, name)


def test_no_token_or_a_bad_token_is_401(api_server: ApiServer, namespace: str) -> None:
    for token in (None, "not-a-token"):
        with api_server.client(token, namespace) as anonymous:
            for method, path in (
                ("GET", "/api/jobs"),
                ("POST", "/api/jobs"),
                ("GET", "/api/jobs/x"),
            ):
                r = anonymous.request(method, path, json=example_job())
                assert r.status_code == 401, r.text
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
                assert "token" in r.json()["detail"]
            r = anonymous.post("/api/schedule/preview", json={"cron_expression": "@daily"})
            assert r.status_code == 401
    with http.Client(base_url=api_server.url) as public:
        assert public.get("/healthz").status_code == 200
        assert public.get("/readyz").status_code == 200
        assert "chronos_api_requests_total" in public.get("/metrics").text
        assert "/api/jobs" in public.get("/openapi.json").json()["paths"]
        assert "swagger" in public.get("/docs").text.lower()
        assert "swagger" in public.get("/api/docs").text.lower()


def test_access_in_namespace_a_is_403_in_namespace_b(
    api_server: ApiServer, api: http.Client, k8s: Client, namespace: str, other_namespace: str
) -> None:
    # A job in B, made by an admin: the editor of A must not see or touch it.
    k8s.create(
        ChronosJobResource(
            metadata=ObjectMeta(name="secret-job", namespace=other_namespace),
            spec={
                "task": {"type": "pipeline_start", "pipelineId": "p"},
                "schedule": {"cron": "@daily"},
            },
        )
    )
    assert api.post("/api/jobs", json=example_job()).status_code == 201
    b = {"namespace": other_namespace}
    for method, path, body in (
        ("GET", "/api/jobs", None),
        ("GET", "/api/jobs/secret-job", None),
        ("GET", "/api/jobs/secret-job/history", None),
        ("POST", "/api/jobs", example_job()),
        ("PUT", "/api/jobs/secret-job", {"description": "mine"}),
        ("PATCH", "/api/jobs/secret-job/status", {"enabled": False}),
        ("POST", "/api/jobs/secret-job/run", None),
        ("DELETE", "/api/jobs/secret-job", None),
    ):
        r = api.request(method, path, params=b, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert "alice" in r.json()["detail"], r.text
    stored = k8s.get(ChronosJobResource, "secret-job", namespace=other_namespace)
    assert "description" not in stored["spec"]
    assert stored["spec"]["enabled"] is True
    assert len(list(k8s.list(ChronosJobResource, namespace=other_namespace))) == 1


def test_read_only_caller_can_read_but_not_write(
    api_server: ApiServer, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = api.post("/api/jobs", json=example_job()).json()["id"]
    grant(k8s, namespace, "bob", ("get", "list"), role="viewer")
    with api_server.client(sa_token(k8s, namespace, "bob"), namespace) as bob:
        assert bob.get("/api/jobs").json()["total"] == 1
        assert bob.get(f"/api/jobs/{job_id}").status_code == 200
        r = bob.put(f"/api/jobs/{job_id}", json={"description": "x"})
        assert r.status_code == 403, r.text
        assert "bob" in r.json()["detail"]
        assert bob.delete(f"/api/jobs/{job_id}").status_code == 403
        assert bob.post(f"/api/jobs/{job_id}/run").status_code == 403
    assert api.get(f"/api/jobs/{job_id}").json()["description"] is None


def test_editor_rights_in_a_second_namespace(
    api_server: ApiServer, k8s: Client, namespace: str, other_namespace: str, editor_token: str
) -> None:
    # Granting alice (of namespace A) rights in B lets her in there too: RBAC decides.
    grant(k8s, other_namespace, "alice", account_namespace=namespace)
    with api_server.client(editor_token, other_namespace) as alice_in_b:
        r = alice_in_b.post("/api/jobs", json=example_job())
        assert r.status_code == 201, r.text
        assert alice_in_b.get("/api/jobs").json()["total"] == 1
