"""Authentication and authorization with the caller's own token (SelfSubjectReview,
SelfSubjectAccessReview, writes forwarded with it): the facade's own token can only
list and watch ChronosJobs."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import grant
from fixtures_api import ApiServer, ServedApp, example_job, sa_token, token_kubeconfig
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from chronos import http, kube
from chronos.api.auth import NoCallerError, acting_as, caller_client
from chronos.api.settings import ApiSettings
from chronos.devcluster.cluster import Cluster, free_port
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster

SPEC = {"task": {"type": "pipeline_start", "pipelineId": "p"}, "schedule": {"cron": "@daily"}}


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
            # Who asks is settled before what they ask: invalid parameters are a 401 too.
            for path in ("/api/jobs?namespace=Not_A_Label", "/api/jobs?skip=-1", "/api/jobs/x"):
                r = anonymous.request("PUT" if path.endswith("/x") else "GET", path, json=[])
                assert r.status_code == 401, (path, r.text)
    with http.Client(base_url=api_server.url) as public:
        assert public.get("/healthz").status_code == 200
        assert public.get("/readyz").status_code == 200
        # Metrics are on their own port, not the one users reach (test_api_bounds).
        assert public.get("/metrics").status_code == 404
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
            spec=SPEC,
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


# --------------------------------------------------------- the facade's own token


def facade_kubectl(cluster: Cluster, kubeconfig: Path, *args: str) -> tuple[int, str]:
    """kubectl as the facade's ServiceAccount (its kubeconfig, nothing else)."""
    cmd = [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout + result.stderr


def test_the_facade_token_alone_can_neither_write_nor_impersonate(
    api_server: ApiServer, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """What a stolen facade token is worth: listing and watching ChronosJobs."""
    kubeconfig = token_kubeconfig(cluster, api_server.facade_token, tmp_path / "facade")
    own = kube.client(kubeconfig)
    assert list(own.list(ChronosJobResource, namespace=namespace)) == []
    job = ChronosJobResource(metadata=ObjectMeta(name="by-facade", namespace=namespace), spec=SPEC)
    with pytest.raises(ApiError) as denied:
        own.create(job)
    assert denied.value.status.code == 403
    # Impersonating system:masters (or anyone) is refused before anything else happens.
    for who in (
        ["--as=admin", "--as-group=system:masters"],
        [f"--as=system:serviceaccount:{namespace}:alice"],
    ):
        code, out = facade_kubectl(cluster, kubeconfig, *who, "get", "namespaces")
        assert code != 0, out
        assert "cannot impersonate" in out, out
    for verb, resource in (
        ("impersonate", "users"),
        ("impersonate", "groups"),
        ("impersonate", "serviceaccounts"),
        ("create", "tokenreviews.authentication.k8s.io"),
        ("create", "subjectaccessreviews.authorization.k8s.io"),
        ("create", "chronosjobs.chronos.gluesync.io"),
        ("patch", "chronosjobs.chronos.gluesync.io"),
        ("delete", "chronosjobs.chronos.gluesync.io"),
    ):
        code, out = facade_kubectl(cluster, kubeconfig, "auth", "can-i", verb, resource, "-A")
        assert out.strip().splitlines()[0] == "no", (verb, resource, out)


def test_writes_carry_the_callers_token(
    api_server: ApiServer, api: http.Client, k8s: Client, namespace: str
) -> None:
    # The facade may not create ChronosJobs (above); alice may: so this create went out
    # with alice's token, and so do her update, run-now and delete.
    r = api.post("/api/jobs", json=example_job())
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    assert api.put(f"/api/jobs/{job_id}", json={"description": "d"}).status_code == 200
    assert api.post(f"/api/jobs/{job_id}/run").status_code == 200
    assert k8s.get(ChronosJobResource, job_id, namespace=namespace)["spec"]["description"] == "d"
    assert api.delete(f"/api/jobs/{job_id}").status_code == 204


def test_the_caller_client_sends_only_the_callers_token_and_fails_closed(
    api_server: ApiServer, namespace: str, editor_token: str
) -> None:
    kubeconfig = api_server.settings.api_kubeconfig
    assert kubeconfig is not None

    async def calls() -> None:
        client = caller_client(kubeconfig)
        try:
            with pytest.raises(NoCallerError):  # no caller: no request at all
                await client.get(ChronosJobResource, "x", namespace=namespace)
            with acting_as("not-a-token"), pytest.raises(ApiError) as bad:
                await client.get(ChronosJobResource, "x", namespace=namespace)
            assert bad.value.status.code == 401  # not the facade's identity, not anonymous
            job = ChronosJobResource(
                metadata=ObjectMeta(name="by-alice", namespace=namespace), spec=SPEC
            )
            with acting_as(editor_token):
                await client.create(job)
                await client.delete(ChronosJobResource, "by-alice", namespace=namespace)
        finally:
            await client.aclose()

    asyncio.run(calls())


def test_auth_disabled_acts_with_the_facades_own_credentials(
    cluster: Cluster, k8s: Client, namespace: str
) -> None:
    """Development mode: no token needed, every call made with the facade's kubeconfig
    (here the admin's, which may create ChronosJobs)."""
    settings = ApiSettings(
        api_port=free_port(), api_kubeconfig=cluster.kubeconfig, api_auth_disabled=True
    )
    with ServedApp(settings) as served, http.Client(base_url=served.url) as anonymous:
        r = anonymous.post("/api/jobs", params={"namespace": namespace}, json=example_job())
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        assert k8s.get(ChronosJobResource, job_id, namespace=namespace).metadata is not None
        r = anonymous.delete(f"/api/jobs/{job_id}", params={"namespace": namespace})
        assert r.status_code == 204, r.text
