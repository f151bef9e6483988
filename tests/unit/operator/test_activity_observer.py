"""The operator's activity observer (chronos.operator.activity) without I/O: which events
are diffed at all, what is queued, each stamp credited once, the queue's bound."""

from __future__ import annotations

from typing import Any

from support import local_async_client

from chronos import contract as c
from chronos.models.activity import Kind
from chronos.operator import activity as act
from chronos.operator.activity import Activity


def _job(rv: str, generation: int, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "ns",
            "name": "j",
            "resourceVersion": rv,
            "generation": generation,
            "annotations": annotations,
        },
        "spec": {"timeZone": f"zone-{generation}"},
    }


def _observer() -> Activity:
    observer = Activity(local_async_client("http://127.0.0.1:9"))
    observer.listing = False
    return observer


def _queued(observer: Activity) -> list[tuple[Kind, str | None]]:
    return [(e.kind, e.who) for q in observer._queued.values() for e in q]


def test_status_writes_are_not_diffed_and_changes_are_queued_once() -> None:
    observer = _observer()
    reads: list[int] = []

    def previous(obj: dict[str, Any] | None) -> Any:
        def read() -> dict[str, Any] | None:
            reads.append(1)
            return obj

        return read

    first = _job("1", 1, **{c.CHANGED_BY_ANNOTATION: "alice"})
    observer.job_event(first, previous(None))
    # The same version again (a status write: new resourceVersion, same generation).
    observer.job_event(_job("2", 1, **{c.CHANGED_BY_ANNOTATION: "alice"}), previous(first))
    assert len(reads) == 1
    observer.job_event(_job("3", 2), previous(first))
    assert _queued(observer) == [(Kind.CREATED, "alice"), (Kind.CHANGED, None)]
    assert len(reads) == 2


def test_a_stamp_is_credited_once() -> None:
    observer = _observer()
    stamp = {c.CHANGED_BY_ANNOTATION: "bob", c.CHANGED_AT_ANNOTATION: "t1"}
    first = _job("5", 1, **stamp)
    observer.job_event(first, lambda: None)
    # Another user's change leaves bob's stamp as it was: not his.
    second = _job("6", 2, **stamp)
    observer.job_event(second, lambda: first)
    # bob stamps again before deleting: the delete is his.
    third = _job("7", 2, **{**stamp, c.CHANGED_AT_ANNOTATION: "t2"})
    observer.job_event(third, lambda: second)
    observer.job_deleted(third)
    assert _queued(observer) == [
        (Kind.CREATED, "bob"),
        (Kind.CHANGED, None),
        (Kind.DELETED, "bob"),
    ]


def test_the_first_listing_takes_every_stamp_as_used() -> None:
    observer = Activity(local_async_client("http://127.0.0.1:9"))
    stamp = {c.CHANGED_BY_ANNOTATION: "bob", c.CHANGED_AT_ANNOTATION: "t1"}
    observer.job_event(_job("5", 1, **stamp), lambda: None)
    observer.listing = False
    observer.job_deleted(_job("5", 1, **stamp))
    assert _queued(observer) == [(Kind.DELETED, None)]


def test_the_queue_is_bounded_dropping_the_oldest(monkeypatch: Any) -> None:
    monkeypatch.setattr(act, "MAX_QUEUED", 3)
    observer = _observer()
    for i in range(5):
        observer.job_deleted({"metadata": {"namespace": "ns", "name": f"j{i}"}})
    assert [e.job for q in observer._queued.values() for e in q] == ["j2", "j3", "j4"]
    assert observer._dropped == 2
