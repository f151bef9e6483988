"""The operator's activity observer (chronos.operator.activity) without I/O: which events
are diffed at all, what is queued, the queue's bound and the annotation's clear."""

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


def test_the_clear_is_guarded_by_the_newest_version_seen() -> None:
    observer = _observer()
    stamped = _job("5", 1, **{c.CHANGED_BY_ANNOTATION: "bob"})
    observer.job_event(stamped, lambda: None)
    assert observer._clear[("ns", "j")][:2] == ("bob", "5")
    # bob stamps again (before a delete): same fingerprint, newer version: guarded anew.
    observer.job_event(_job("6", 1, **{c.CHANGED_BY_ANNOTATION: "bob"}), lambda: stamped)
    assert observer._clear[("ns", "j")][:2] == ("bob", "6")
    # Removed by someone: nothing left to clear.
    observer.job_event(_job("7", 1), lambda: stamped)
    assert ("ns", "j") not in observer._clear


def test_the_queue_is_bounded_dropping_the_oldest(monkeypatch: Any) -> None:
    monkeypatch.setattr(act, "MAX_QUEUED", 3)
    observer = _observer()
    for i in range(5):
        observer.job_deleted({"metadata": {"namespace": "ns", "name": f"j{i}"}})
    assert [e.job for q in observer._queued.values() for e in q] == ["j2", "j3", "j4"]
    assert observer._dropped == 2
