"""Authorization comes first: a caller without the right gets the same answer, byte for
byte, whether the job exists or not (no ETag, no 412, no 422 about the stored spec,
no "already requested")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from builders import grant
from fixtures_api import ApiServer, example_job, sa_token
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from chronos import http
from chronos.api.cache import plain
from chronos.contract import RUN_NOW_ANNOTATION
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster

MISSING = "no-such-job"
CURRENT_KEY = "key-1"

# (what, method, path below /api/jobs/{id}, JSON body, headers); "{etag}" is the
# existing job's current ETag, which a prober might have guessed or learnt.
REQUESTS: list[tuple[str, str, str, Any, dict[str, str]]] = [
    ("get", "GET", "", None, {}),
    ("get if-none-match", "GET", "", None, {"If-None-Match": "{etag}"}),
    ("history", "GET", "/history", None, {}),
    ("put", "PUT", "", {"description": "mine"}, {}),
    ("put invalid for the stored spec", "PUT", "", {"task_type": "group_start"}, {}),
    ("put out of range", "PUT", "", {"schedule": {"hour": 25, "minute": 0}}, {}),
    ("put wrong type", "PUT", "", {"schedule": {"hour": "8"}}, {}),
    ("put wrong if-match", "PUT", "", {"description": "x"}, {"If-Match": '"1"'}),
    ("put current if-match", "PUT", "", {"description": "x"}, {"If-Match": "{etag}"}),
    ("delete wrong if-match", "DELETE", "", None, {"If-Match": '"1"'}),
    ("delete", "DELETE", "", None, {}),
    ("patch status", "PATCH", "/status", {"enabled": False}, {}),
    ("patch status wrong if-match", "PATCH", "/status", {"enabled": False}, {"If-Match": '"1"'}),
    ("run now, current key", "POST", "/run", None, {"Idempotency-Key": CURRENT_KEY}),
    ("run now, new key", "POST", "/run", None, {"Idempotency-Key": "key-2"}),
    ("run now, no key", "POST", "/run", None, {}),
    ("run now, bad key", "POST", "/run", None, {"Idempotency-Key": "no spaces"}),
    (
        "backfill",
        "POST",
        "/backfill",
        {"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"},
        {},
    ),
    ("backfill, bad range", "POST", "/backfill", {"from": "x", "to": "2020-01-02T00:00:00Z"}, {}),
    ("backfill, bad body", "POST", "/backfill", {"since": 1}, {"Idempotency-Key": CURRENT_KEY}),
]


@pytest.fixture
def elsewhere(k8s: Client) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    k8s.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    k8s.delete(Namespace, name)


def _send(
    client: http.Client, job_id: str, case: tuple[str, str, str, Any, dict[str, str]], tag: str
) -> http.Response:
    _, method, path, body, headers = case
    headers = {k: v.replace("{etag}", tag) for k, v in headers.items()}
    return client.request(method, f"/api/jobs/{job_id}{path}", json=body, headers=headers)


def _headers(response: http.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() != "date"}


@pytest.mark.parametrize("who", ["no rights at all", "rights in another namespace"])
def test_a_forbidden_caller_cannot_tell_whether_a_job_exists(
    who: str,
    api_server: ApiServer,
    api: http.Client,
    k8s: Client,
    namespace: str,
    elsewhere: str,
) -> None:
    created = api.post("/api/jobs", json=example_job())
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    k8s.patch(
        ChronosJobResource,
        job_id,
        {"metadata": {"annotations": {RUN_NOW_ANNOTATION: CURRENT_KEY}}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    before = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))
    tag = f'"{before["metadata"]["resourceVersion"]}"'
    # The requests do tell the two apart for a caller with the rights: the test can fail.
    assert api.get(f"/api/jobs/{job_id}").status_code == 200
    assert api.get(f"/api/jobs/{MISSING}").status_code == 404

    if who == "no rights at all":
        token = sa_token(k8s, namespace, "mallory")
    else:
        grant(k8s, elsewhere, "mallory")
        token = sa_token(k8s, elsewhere, "mallory")
    with api_server.client(token, namespace) as mallory:
        for case in REQUESTS:
            existing = _send(mallory, job_id, case, tag)
            missing = _send(mallory, MISSING, case, tag)
            assert existing.status_code == 403, (case[0], existing.text)
            assert existing.content == missing.content, case[0]
            assert _headers(existing) == _headers(missing), case[0]
            assert "etag" not in existing.headers, case[0]
            assert "mallory" in existing.json()["detail"], case[0]

    after = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))
    assert after["spec"] == before["spec"]
    assert after["metadata"].get("annotations", {}).get(RUN_NOW_ANNOTATION) == CURRENT_KEY


def test_a_reader_cannot_probe_writes(
    api_server: ApiServer, api: http.Client, k8s: Client, namespace: str
) -> None:
    """get/list but no patch or delete: writes are refused the same way for both."""
    job_id = api.post("/api/jobs", json=example_job()).json()["id"]
    grant(k8s, namespace, "reader", ("get", "list"), role="reader")
    with api_server.client(sa_token(k8s, namespace, "reader"), namespace) as reader:
        assert reader.get(f"/api/jobs/{job_id}").status_code == 200
        assert reader.get(f"/api/jobs/{MISSING}").status_code == 404
        for case in REQUESTS:
            if case[1] == "GET":
                continue
            existing = _send(reader, job_id, case, '"1"')
            missing = _send(reader, MISSING, case, '"1"')
            assert existing.status_code == 403, (case[0], existing.text)
            assert existing.content == missing.content, case[0]
