"""One user cannot starve the others (issue 17, finding 5), on the served facade and
the real control plane: live streams are bounded per identity and in total (429 with
Retry-After beyond), and a Kubernetes call that finds no free connection is a 503 with
Retry-After, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from builders import may_read_pod_logs
from fakekubelet import ScriptedKubelet, running_pod, scripted_node
from fixtures_api import ApiServer, serve_api
from fixtures_ui import create_job, signed_in
from lightkube import Client
from lightkube.resources.core_v1 import Pod
from support import set_status, wait_for

from chronos import http
from chronos.devcluster.cluster import Cluster

pytestmark = pytest.mark.cluster

STREAMS = 200
#: The whole replica's bound: 200 of one user and 10 more.
TOTAL = STREAMS + 10


@pytest.fixture
def namespace(unwatched_namespace: str) -> str:
    """The log test writes a running run into a job's status by hand (fixtures_ui)."""
    return unwatched_namespace


@pytest.fixture(scope="module")
def crowded(
    cluster: Cluster, k8s: Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A facade that lets one user hold STREAMS streams and everyone TOTAL."""
    yield from serve_api(
        cluster,
        k8s,
        tmp_path_factory,
        api_max_streams_per_user=STREAMS,
        api_max_streams=TOTAL,
    )


@pytest.fixture(scope="module")
def cramped(
    cluster: Cluster, k8s: Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A facade with one connection for short Kubernetes calls, waited for 1 ms, and
    no cached verdicts: concurrent requests must find it busy."""
    yield from serve_api(
        cluster,
        k8s,
        tmp_path_factory,
        api_kube_connections=1,
        api_kube_pool_wait_seconds=0.001,
        api_token_cache_seconds=0.0,
        api_access_cache_seconds=0.0,
    )


def _cookie_client(server: ApiServer, token: str) -> http.AsyncClient:
    """An async client signed in to the dashboard, with room for every stream."""
    with signed_in(server, token) as signed:
        cookies = dict(signed.cookies)
    return http.AsyncClient(
        base_url=server.url,
        cookies=cookies,
        timeout=30,
        limits=http.Limits(max_connections=TOTAL + 50),
    )


async def _open(client: http.AsyncClient, stack: AsyncExitStack, count: int) -> list[http.Response]:
    """``count`` /ui/events streams opened at once and left open; their answers."""

    async def one() -> http.Response:
        response = await stack.enter_async_context(client.stream("GET", "/ui/events"))
        if response.status_code == 200:
            # The first event: the stream is live. The reader is kept: a reader dropped
            # and collected closes its stream.
            reader = response.aiter_bytes()
            stack.push_async_callback(reader.aclose)
            await anext(reader)
        else:
            await response.aread()
        return response

    return list(await asyncio.gather(*(one() for _ in range(count))))


def test_streams_of_one_user_leave_others_working_and_extra_streams_get_429(
    crowded: ApiServer, editor_token: str, viewer_token: str, namespace: str
) -> None:
    async def scenario() -> None:
        hog = _cookie_client(crowded, editor_token)
        other = _cookie_client(crowded, viewer_token)
        async with hog, other, AsyncExitStack() as held:
            opened = await _open(hog, held, STREAMS)
            assert [r.status_code for r in opened] == [200] * STREAMS

            # The 201st of the same user: refused before it streams, as an HTML page.
            extra = await _open(hog, held, 1)
            assert extra[0].status_code == 429
            assert int(extra[0].headers["Retry-After"]) > 0
            assert extra[0].headers["content-type"].startswith("text/html")
            assert f"has {STREAMS} live streams open" in extra[0].text

            # Everyone else still works: REST, sign-in, pages and streams of their own.
            with crowded.client(viewer_token, namespace) as rest:
                assert rest.get("/api/jobs").status_code == 200
            with signed_in(crowded, viewer_token) as again:
                assert again.get("/ui/jobs").status_code == 200
            theirs = await _open(other, held, TOTAL - STREAMS)
            assert [r.status_code for r in theirs] == [200] * (TOTAL - STREAMS)

            # Over the replica's total: refused for any user, REST still answers.
            over = await _open(other, held, 1)
            assert over[0].status_code == 429
            assert f"{TOTAL} live streams open" in over[0].text
            with crowded.client(viewer_token, namespace) as rest:
                assert rest.get("/api/jobs").status_code == 200

    asyncio.run(scenario())

    # The streams closed with their clients: their places are free again.
    with signed_in(crowded, editor_token) as client:

        def admitted() -> bool:
            with client.stream("GET", "/ui/events") as response:
                return response.status_code == 200

        wait_for(admitted, 20, "a closed stream's place to be given back")


def test_no_free_connection_to_the_api_server_is_a_503_with_retry_after(
    cramped: ApiServer, editor_token: str, namespace: str
) -> None:
    async def burst(count: int) -> list[http.Response]:
        headers = {"Authorization": f"Bearer {editor_token}"}
        async with http.AsyncClient(
            base_url=cramped.url,
            headers=headers,
            params={"namespace": namespace},
            timeout=60,
            limits=http.Limits(max_connections=count),
        ) as client:
            return list(await asyncio.gather(*(client.get("/api/jobs") for _ in range(count))))

    answers = asyncio.run(burst(100))
    statuses = {r.status_code for r in answers}
    assert statuses <= {200, 503}, [r.text for r in answers if r.status_code not in (200, 503)]
    busy = [r for r in answers if r.status_code == 503]
    assert busy, "100 concurrent calls on one connection, waited for 1 ms: none was refused"
    for answer in busy:
        assert int(answer.headers["Retry-After"]) > 0
        assert "busy" in answer.json()["detail"]


# ------------------------------------------------------------ followed pod logs


@pytest.fixture
def kubelet(k8s: Client, tmp_path: Path) -> Iterator[tuple[str, ScriptedKubelet]]:
    """A Node whose kubelet answers every follow with one line and then holds the
    stream open (as a quiet running container does) until the test ends."""
    with scripted_node(k8s, tmp_path) as found:
        yield found


def test_followed_logs_of_one_user_hold_no_connection_the_others_need(
    crowded: ApiServer,
    api: http.Client,
    k8s: Client,
    namespace: str,
    editor_token: str,
    viewer_token: str,
    kubelet: tuple[str, ScriptedKubelet],
) -> None:
    """200 followed pod logs of one user, each holding a connection to the API server
    for as long as it lasts, leave another user's REST calls and sign-in answering at
    once (they used to share one pool of 100 connections: a 500 after 10 s)."""
    node, fake = kubelet
    job_id = create_job(api, name="quiet runner")
    run = f"{job_id}-manual-1"
    set_status(k8s, namespace, job_id, {"activeRuns": [run]})
    pod = running_pod(k8s, namespace, node, run, "2026-01-01T00:00:00Z")
    fake.write(pod, ("2026-01-01T00:00:00.000000000Z", "started"))
    may_read_pod_logs(k8s, namespace, "alice")
    url = f"/ui/jobs/{namespace}/{job_id}/runs/{run}/log/events"

    async def scenario() -> None:
        hog = _cookie_client(crowded, editor_token)
        async with hog, AsyncExitStack() as held:

            async def follow() -> str:
                response = await held.enter_async_context(hog.stream("GET", url))
                if response.status_code != 200:
                    return str(response.status_code)
                reader = response.aiter_bytes()  # kept open, as in _open
                held.push_async_callback(reader.aclose)
                async for chunk in reader:
                    if b"event: line" in chunk:
                        return "live"  # the pod's line came through: the follow is live
                    if b"event: unavailable" in chunk:
                        return chunk.decode()
                return "ended"

            outcomes = await asyncio.gather(*(follow() for _ in range(STREAMS)))
            assert outcomes == ["live"] * STREAMS, sorted(set(outcomes))

            wait_for(lambda: fake.following == STREAMS, 10, "every follow to reach the kubelet")

            with crowded.client(viewer_token, namespace) as rest:
                assert rest.get("/api/jobs").status_code == 200
                assert rest.get(f"/api/jobs/{job_id}").status_code == 200
            with signed_in(crowded, viewer_token) as other:
                assert other.get("/ui/jobs").status_code == 200
            over = await held.enter_async_context(hog.stream("GET", url))
            assert over.status_code == 429
            assert int(over.headers["Retry-After"]) > 0

    try:
        asyncio.run(scenario())
    finally:
        k8s.delete(Pod, pod, namespace=namespace, grace_period=0)
