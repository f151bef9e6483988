"""One user cannot starve the others (issue 17, finding 5), on the served facade and
the real control plane: live streams are bounded per identity and in total (429 with
Retry-After beyond), and a Kubernetes call that finds no free connection is a 503 with
Retry-After, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest
from fixtures_api import ApiServer, serve_api
from fixtures_ui import signed_in
from lightkube import Client
from support import wait_for

from chronos import http
from chronos.devcluster.cluster import Cluster

pytestmark = pytest.mark.cluster

STREAMS = 200
#: The whole replica's bound: 200 of one user and 10 more.
TOTAL = STREAMS + 10


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
            await anext(response.aiter_bytes())  # the first event: the stream is live
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
