"""What one anonymous client controls is bounded (issue 17: findings 3, 4, 7, 11).

Against the facade served for real (``python -m chronos.api`` as its own process, as the
facade's least-privilege ServiceAccount of the test control plane): request bodies of
ten times the pod's memory limit, malformed bodies before authentication, random
methods and paths against the metrics, what the probes and the public port disclose,
and a session cookie replayed after its user signed out, on two replicas.
"""

from __future__ import annotations

import os
import random
import re
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fixtures_api import ApiServer, example_job
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.core_v1 import ConfigMap, Namespace
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from support import ROOT, wait_for

from chronos import http
from chronos.devcluster.cluster import free_port

pytestmark = pytest.mark.cluster

MiB = 1 << 20


def pod_memory_limit() -> int:
    """The API pod's memory limit in the chart's default values, in bytes."""
    values = yaml.safe_load((ROOT / "charts" / "chronos" / "values.yaml").read_text())
    limit = values["api"]["resources"]["limits"]["memory"]
    assert limit.endswith("Mi"), limit
    return int(limit[:-2]) * MiB


def _get(url: str, timeout: float = 10) -> http.Response:
    with http.Client(timeout=timeout) as client:
        return client.get(url)


@dataclass
class Facade:
    proc: subprocess.Popen[bytes]
    url: str
    metrics_url: str

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) of the process, in KiB."""
        out = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0])
        return out


@contextmanager
def facade(api_server: ApiServer, log: Path, **settings: str) -> Iterator[Facade]:
    """``python -m chronos.api`` as the facade's ServiceAccount, until the block ends."""
    port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    env.update(
        CHRONOS_API_HOST="127.0.0.1",
        CHRONOS_API_PORT=str(port),
        CHRONOS_API_METRICS_PORT=str(metrics_port),
        CHRONOS_API_KUBECONFIG=str(api_server.settings.api_kubeconfig),
        CHRONOS_API_ACCESS_CACHE_SECONDS="2",
        **settings,
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chronos.api"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    served = Facade(proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}")

    def ready() -> bool:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            return _get(f"{served.url}/readyz", timeout=5).status_code == 200
        except http.TransportError:
            return False

    try:
        wait_for(ready, 60, "the facade process to be ready")
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ----------------------------------------------------------------- F3: bodies


@dataclass
class Sent:
    status: int | None
    seconds: float
    produced: int
    error: str = ""


def stream(url: str, total: int, *, declared: bool, **headers: str) -> Sent:
    """POST a body of ``total`` bytes made by a generator (one 1 MiB block, never the
    whole), with its Content-Length or chunked."""
    block = b"{" * MiB
    produced = 0

    def body() -> Iterator[bytes]:
        nonlocal produced
        for _ in range(total // MiB):
            produced += MiB
            yield block

    if declared:
        headers["content-length"] = str(total // MiB * MiB)
    started = time.monotonic()
    try:
        with http.Client(timeout=60) as client:
            answer = client.post(url, content=body(), headers=headers)
        return Sent(answer.status_code, time.monotonic() - started, produced)
    except http.TransportError as exc:
        return Sent(None, time.monotonic() - started, produced, repr(exc))


def test_a_body_of_ten_times_the_pod_memory_is_refused_unread(
    api_server: ApiServer, editor_token: str, namespace: str, tmp_path: Path
) -> None:
    total = 10 * pod_memory_limit()  # 2.5 GiB with the chart's 256Mi
    editor = {"authorization": f"Bearer {editor_token}"}
    json_type = {"content-type": "application/json"}
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    cases = [
        # (path, headers, answer with Content-Length, answer chunked)
        (f"/api/jobs?namespace={namespace}", json_type, 413, 401),  # anonymous: who first
        (f"/api/jobs?namespace={namespace}", {**json_type, **editor}, 413, 413),
        ("/api/schedule/preview", json_type, 413, 401),
        ("/ui/login", form_type, 413, 413),  # the sign-in form is bounded, anonymous too
    ]
    with facade(api_server, tmp_path / "facade.log") as served:
        before = served.status()
        for path, headers, with_length, chunked in cases:
            for declared, expected in ((True, with_length), (False, chunked)):
                sent = stream(served.url + path, total, declared=declared, **headers)
                print(f"{path} declared={declared}: {sent} (server {served.status()})")
                assert sent.status == expected, (path, declared, sent)
                assert sent.seconds < 20, (path, declared, sent)
                # The server stopped the upload: far less than the pod's memory left here.
                assert sent.produced < 64 * MiB, (path, declared, sent)
                assert served.proc.poll() is None
        after = served.status()
        print(f"facade memory before {before}, after {after} (KiB)")
        # Its peak memory grew by less than a quarter of the pod's limit.
        assert (after["VmHWM"] - before["VmHWM"]) * 1024 < pod_memory_limit() // 4
        # Still up, and serving a normal request.
        assert _get(f"{served.url}/readyz", timeout=5).status_code == 200
        with http.Client(base_url=served.url, headers=editor, timeout=30) as client:
            assert client.get("/api/jobs", params={"namespace": namespace}).status_code == 200
            # A body under the limit is read as before.
            made = client.post("/api/jobs", params={"namespace": namespace}, json=example_job())
            assert made.status_code == 201, made.text


def test_who_and_what_rights_are_settled_before_the_body_is_read(
    api_server: ApiServer, editor_token: str, namespace: str, k8s: Client
) -> None:
    """Malformed JSON: a 401 for a caller without a valid token, a 403 for one without
    the right in the namespace, a 422 only for a caller who may do the write."""
    other = f"t-{uuid.uuid4().hex[:8]}"
    k8s.create(Namespace(metadata=ObjectMeta(name=other)))
    malformed = b'{"name": "x", '
    writes = [
        ("POST", "/api/jobs"),
        ("PUT", "/api/jobs/some-job"),
        ("PATCH", "/api/jobs/some-job/status"),
    ]
    headers = {"content-type": "application/json"}
    try:
        for token in (None, "not-a-token"):
            with api_server.client(token, namespace) as anonymous:
                for method, path in [*writes, ("POST", "/api/schedule/preview")]:
                    r = anonymous.request(method, path, content=malformed, headers=headers)
                    assert r.status_code == 401, (method, path, r.text)
        with api_server.client(editor_token, other) as outsider:
            for method, path in writes:
                r = outsider.request(method, path, content=malformed, headers=headers)
                assert r.status_code == 403, (method, path, r.text)
        with api_server.client(editor_token, namespace) as editor:
            r = editor.post("/api/jobs", content=malformed, headers=headers)
            assert r.status_code == 422, r.text
            assert r.json()["errors"][0]["field"] == "body"
    finally:
        k8s.delete(Namespace, other)


# ----------------------------------------------------------------- F4: labels


def _series(metrics_url: str) -> list[str]:
    text = _get(f"{metrics_url}/metrics", timeout=10).text
    return [line for line in text.splitlines() if line.startswith("chronos_api_request")]


def _random_requests(url: str, count: int, seed: int) -> None:
    rng = random.Random(seed)
    letters = string.ascii_letters + string.digits

    def token(n: int) -> str:
        return "".join(rng.choice(letters) for _ in range(n))

    with http.Client(base_url=url, timeout=30) as client:
        for _ in range(count):
            method = rng.choice(["GET", "POST", "DELETE", "OPTIONS", token(8), token(3).upper()])
            path = rng.choice(["/", "/api/jobs/", "/ui/", "/api/", "/ui/jobs/x/"]) + token(12)
            client.request(method, path)


def test_random_methods_and_paths_add_no_metric_series(api_server: ApiServer) -> None:
    metrics_url = f"http://127.0.0.1:{api_server.settings.api_metrics_port}"
    # Each kind of request once, then count: from there on nothing may add a series.
    _random_requests(api_server.url, 300, seed=1)
    before = _series(metrics_url)
    started = time.monotonic()
    _random_requests(api_server.url, 10_000, seed=2)
    print(f"10,000 requests in {time.monotonic() - started:.1f} s; {len(before)} series lines")
    after = _series(metrics_url)
    assert len(after) == len(before), sorted(set(after) - set(before))[:20]
    labels = {m.group(1) for line in after if (m := re.search(r'method="([^"]*)"', line))}
    assert labels <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}


# -------------------------------------------------------- F11: what anyone reads


def test_probes_say_nothing_and_metrics_are_on_their_own_port(api_server: ApiServer) -> None:
    with http.Client(base_url=api_server.url, timeout=10) as anonymous:
        ready = anonymous.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready"}  # no job count, nothing of the cluster
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        assert anonymous.get("/metrics").status_code == 404
    scraped = _get(f"http://127.0.0.1:{api_server.settings.api_metrics_port}/metrics", timeout=10)
    assert scraped.status_code == 200
    assert "chronos_api_cached_jobs " in scraped.text
    assert "chronos_api_requests_total{" in scraped.text


# ------------------------------------------------------------ F7: sign-out


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page) or re.search(
        r'name="csrf-token" content="([^"]+)"', page
    )
    assert found, page[:2000]
    return found.group(1)


def test_a_cookie_replayed_after_sign_out_is_refused_by_every_replica(
    api_server: ApiServer, k8s: Client, editor_token: str, tmp_path: Path
) -> None:
    home = api_server.home
    name = f"sign-outs-{uuid.uuid4().hex[:6]}"
    k8s.create(ConfigMap(metadata=ObjectMeta(name=name, namespace=home)))
    # The rights the chart gives the facade: this one ConfigMap, no create.
    k8s.create(
        Role(
            metadata=ObjectMeta(name=name, namespace=home),
            rules=[
                PolicyRule(
                    apiGroups=[""],
                    resources=["configmaps"],
                    resourceNames=[name],
                    verbs=["get", "list", "watch", "patch"],
                )
            ],
        )
    )
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name=name, namespace=home),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name=name),
            subjects=[Subject(kind="ServiceAccount", name="chronos-api", namespace=home)],
        )
    )
    shared = {
        "CHRONOS_API_SESSION_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
        "CHRONOS_API_SIGN_OUT_CONFIG_MAP": f"{home}/{name}",
        "CHRONOS_API_COOKIE_SECURE": "always",
    }
    with (
        facade(api_server, tmp_path / "a.log", **shared) as a,
        facade(api_server, tmp_path / "b.log", **shared) as b,
        http.Client(base_url=a.url, timeout=30) as on_a,
        http.Client(base_url=b.url, timeout=30) as on_b,
    ):
        signed_in = on_a.post("/ui/login", data={"token": editor_token})
        assert signed_in.status_code == 303, signed_in.text
        set_cookie = signed_in.headers["set-cookie"]
        # Secure although this request came over plain HTTP (a TLS-terminating proxy).
        assert "Secure" in set_cookie, set_cookie
        cookie = {"cookie": f"chronos_session={signed_in.cookies['chronos_session']}"}

        def page(client: http.Client) -> http.Response:
            return client.get("/ui/", headers=cookie)

        assert page(on_b).status_code == 200  # one key: any replica opens the session
        overview = page(on_a)
        assert overview.status_code == 200
        out = on_a.post("/ui/logout", data={"csrf": _csrf(overview.text)}, headers=cookie)
        assert out.status_code == 303, out.text
        assert out.headers["location"].endswith("done=signed-out")
        # The copy kept after sign-out is refused, here at once and on the other replica
        # as soon as it has seen the record (its watch), even though the token is valid.
        refused = page(on_a)
        assert refused.status_code == 303
        assert "/ui/login" in refused.headers["location"]
        wait_for(lambda: page(on_b).status_code == 303, 10, "replica B to refuse the cookie")
        assert k8s.get(ConfigMap, name, namespace=home).data  # the shared record
        # Signing in again works (a new session, issued after the sign-out), on both.
        again = on_b.post("/ui/login", data={"token": editor_token})
        assert again.status_code == 303
        fresh = {"cookie": f"chronos_session={again.cookies['chronos_session']}"}
        assert on_a.get("/ui/", headers=fresh).status_code == 200
        assert on_b.get("/ui/", headers=fresh).status_code == 200
        # A sign-out ends dashboard sessions, not the Kubernetes token itself.
        bearer = {"authorization": f"Bearer {editor_token}"}
        preview = on_b.post(
            "/api/schedule/preview", headers=bearer, json={"cron_expression": "@daily"}
        )
        assert preview.status_code == 200, preview.text
