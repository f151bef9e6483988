"""The facade's watch cache keeps encoded list responses until a job changes or goes stale."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from lightkube import AsyncClient

from chronos.api.cache import Entry, JobCache, decode
from chronos.models.wire import ChronosJobDict

renders: list[str] = []


def render(obj: ChronosJobDict, now: datetime) -> tuple[dict[str, Any], float]:
    renders.append(obj["metadata"]["name"])
    return {"name": obj["metadata"]["name"], "v": cast(Any, obj["spec"])["v"]}, now.timestamp() + 60


def job(name: str, rv: int, v: int = 0) -> dict[str, Any]:
    """A ChronosJob as the API server sends it; its spec only says which version it is."""
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": str(rv),
            "creationTimestamp": f"2026-01-01T00:00:0{rv % 10}Z",
        },
        "spec": {"v": v},
    }


def everything(entries: list[Entry]) -> tuple[list[Entry], int]:
    return entries, len(entries)


def first(entries: list[Entry]) -> tuple[list[Entry], int]:
    return entries[:1], len(entries)


def test_a_list_response_is_kept_until_a_job_changes_or_its_view_goes_stale() -> None:
    cache = JobCache(cast(AsyncClient, None), render)
    cache.put(decode(job("a", 1)))
    cache.put(decode(job("b", 2)))
    renders.clear()
    body = cache.page("ns", "all", everything, now=1000.0)
    assert json.loads(body) == {"items": [{"name": "a", "v": 0}, {"name": "b", "v": 0}], "total": 2}
    assert sorted(renders) == ["a", "b"]
    assert cache.page("ns", "all", everything, now=1001.0) is body  # kept, nothing rendered
    assert sorted(renders) == ["a", "b"]
    assert json.loads(cache.page("ns", "first", first, now=1001.0))["items"] == [
        {"name": "a", "v": 0}
    ]

    cache.put(decode(job("b", 3, v=7)))  # a change: every kept response of the namespace goes
    assert json.loads(cache.page("ns", "all", everything, now=1002.0))["items"][1]["v"] == 7
    cache.remove("ns", "a")
    assert json.loads(cache.page("ns", "all", everything, now=1003.0))["total"] == 1

    renders.clear()
    cache.page("ns", "all", everything, now=1002.0 + 61)  # past the view's valid_until
    assert renders == ["b"]


def test_an_older_event_does_not_drop_kept_responses_and_other_namespaces_are_apart() -> None:
    cache = JobCache(cast(AsyncClient, None), render)
    cache.put(decode(job("a", 5)))
    body = cache.page("ns", "all", everything, now=1000.0)
    cache.put(decode(job("a", 4, v=9)))  # older than what the cache holds: ignored
    assert cache.page("ns", "all", everything, now=1001.0) is body
    assert cache.page("other", "all", everything, now=1001.0) == b'{"items":[],"total":0}'


def test_a_complete_list_forgets_what_it_lacks_and_makes_the_cache_ready() -> None:
    """The informer lists again after a broken watch: a job deleted meanwhile (no event
    came) must go, kept responses with it; a job deleted through the facade stays gone."""
    cache = JobCache(cast(AsyncClient, None), render)
    assert not cache.readiness.state()[0]
    for name, rv in (("a", 1), ("b", 2), ("c", 3)):
        cache.upsert(job(name, rv))
    cache.remove("ns", "c")  # through the facade: a tombstone at version 3
    before = cache.page("ns", "all", everything)
    cache.upsert(job("c", 3))  # the LIST still had it: the tombstone holds
    cache.resync(None, {("ns", "a"), ("ns", "c")})
    assert [e.obj["metadata"]["name"] for e in cache.entries("ns")] == ["a"]
    assert cache.page("ns", "all", everything) != before
    assert cache.readiness.state()[0]
    cache.delete(job("a", 4))
    assert cache.entries("ns") == []
