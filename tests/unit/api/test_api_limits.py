"""Fast tests of the facade's bounds: the body limit as pure ASGI, the metric labels,
sign-out records and the session's issue time (the served versions: test_api_bounds)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from typing import Any

from lightkube import AsyncClient

from chronos.api.limits import BodyLimit, method_label, route_label, status_label
from chronos.api.session import SessionCodec
from chronos.api.signouts import SignOuts, parse_times, user_key

LIMIT = 64 * 1024


def run(
    app: Any, headers: list[tuple[bytes, bytes]], chunks: Iterator[bytes]
) -> tuple[list[dict[str, Any]], int]:
    """Serve one request through ``BodyLimit(app)``: the messages sent, and how many
    body chunks were taken from ``chunks``."""
    sent: list[dict[str, Any]] = []
    taken = 0

    async def receive() -> dict[str, Any]:
        nonlocal taken
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        taken += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers}
    asyncio.run(BodyLimit(app, LIMIT)(scope, receive, send))
    return sent, taken


async def reads_everything(scope: Any, receive: Any, send: Any) -> None:
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def reads_nothing(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 401, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def endless() -> Iterator[bytes]:
    block = b"x" * 4096
    while True:
        yield block


def test_a_declared_length_over_the_limit_is_refused_before_the_app_runs() -> None:
    called = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal called
        called = True

    sent, taken = run(app, [(b"content-length", str(10 * 2**30).encode())], endless())
    assert not called
    assert taken == 0
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert b"larger than 65536 bytes" in sent[1]["body"]


def test_a_chunked_body_is_cut_off_just_past_the_limit() -> None:
    sent, taken = run(reads_everything, [(b"transfer-encoding", b"chunked")], endless())
    assert sent[0]["status"] == 413
    assert taken == LIMIT // 4096 + 1  # not one chunk more than needed to know


def test_a_body_within_the_limit_reaches_the_app() -> None:
    chunks = iter([b"x" * 4096] * (LIMIT // 4096))
    sent, _ = run(reads_everything, [(b"content-length", str(LIMIT).encode())], chunks)
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == str(LIMIT).encode()
    assert (b"connection", b"close") not in sent[0]["headers"]


def test_an_answer_before_the_body_is_read_closes_the_connection() -> None:
    sent, taken = run(reads_nothing, [(b"content-length", b"1000")], endless())
    assert taken == 0
    assert sent[0]["status"] == 401
    assert (b"connection", b"close") in sent[0]["headers"]
    bodiless, _ = run(reads_nothing, [], iter([]))
    assert (b"connection", b"close") not in bodiless[0]["headers"]


def test_metric_labels_come_from_fixed_sets() -> None:
    assert method_label("GET") == "GET"
    assert method_label("get") == "other"
    assert method_label("X" * 1000) == "other"

    class Route:
        path = "/api/jobs/{job_id}"

    assert route_label({"route": Route(), "path": "/api/jobs/abc"}) == "/api/jobs/{job_id}"
    assert route_label({"path": "/anything/at/all"}) == "unmatched"
    assert [status_label(s) for s in (200, 304, 401, 413, 503, 99, 600)] == [
        "2xx",
        "3xx",
        "4xx",
        "4xx",
        "5xx",
        "other",
        "other",
    ]


def _local_sign_outs(lifetime: float = 3600) -> SignOuts:
    # No ConfigMap: the client is never used (and never connects).
    return SignOuts(AsyncClient.__new__(AsyncClient), None, lifetime)


def test_a_sign_out_ends_the_users_earlier_sessions_only() -> None:
    outs = _local_sign_outs()
    assert not outs.ended("alice", 100.0)
    asyncio.run(outs.sign_out("alice", 200.0))
    assert outs.ended("alice", 100.0)
    assert outs.ended("alice", 200.0)
    assert not outs.ended("alice", 200.5)  # signed in again afterwards
    assert not outs.ended("bob", 100.0)


def test_sign_out_records_are_bounded_by_the_session_lifetime() -> None:
    outs = _local_sign_outs(lifetime=60)
    for n in range(100):
        asyncio.run(outs.sign_out(f"user-{n}", 1000.0 + n))
    asyncio.run(outs.sign_out("late", 1000.0 + 100 + 61))
    # Only users who signed out within the last 60 s are remembered.
    assert len(outs._times) <= 2
    assert outs.ended("late", 1100.0)


def test_sign_out_records_from_the_config_map() -> None:
    key = user_key("system:serviceaccount:team-a:alice")
    assert len(key) == 40
    assert key.isalnum()
    assert parse_times({key: "12.5", "junk": "not-a-time"}) == {key: 12.5}
    assert parse_times(None) == {}


def test_a_session_knows_when_it_was_issued() -> None:
    codec = SessionCodec(b"k" * 32, 3600)
    session = codec.open(codec.seal("token", 1000.25), 1001.0)
    assert session is not None
    assert session.issued == 1000.25
    assert session.expires == 1000 + 3600
