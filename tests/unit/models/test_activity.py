"""The activity ledger's pure logic (chronos.models.activity): the diff of two versions of
a ChronosJob into entries, who is named and how, and the ledger's bounds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from chronos import contract as c
from chronos.models import activity as a
from chronos.models.activity import Entry, Filters, Kind, Source

NOW = datetime(2026, 3, 29, 0, 59, 30, tzinfo=UTC)


def job(
    spec: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    managers: list[dict[str, Any]] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "team-a", "name": "nightly"}
    if annotations:
        meta["annotations"] = annotations
    if managers:
        meta["managedFields"] = managers
    obj: dict[str, Any] = {
        "metadata": meta,
        "spec": spec
        or {
            "task": {"type": "pipeline_start", "pipelineId": "p1"},
            "schedule": {"cron": "0 3 * * *"},
        },
    }
    if status:
        obj["status"] = status
    return obj


def test_a_new_job_is_created_by_whoever_the_annotation_names() -> None:
    (entry,) = a.diff(None, job(annotations={c.CHANGED_BY_ANNOTATION: "alice"}), NOW)
    assert (entry.kind, entry.who, entry.source, entry.job) == (
        Kind.CREATED,
        "alice",
        Source.ADMISSION,
        "nightly",
    )


def test_without_the_annotation_the_change_is_unattributed_with_the_newest_manager() -> None:
    managers = [
        {
            "manager": "kubectl-client-side-apply",
            "operation": "Update",
            "time": "2026-03-01T00:00:00Z",
        },
        {"manager": "kubectl-edit", "operation": "Update", "time": "2026-03-02T00:00:00Z"},
        # the runner's status writes are not a change of the job
        {"manager": "chronos-runner", "subresource": "status", "time": "2026-03-03T00:00:00Z"},
    ]
    old = job()
    new = job(spec={**old["spec"], "timeZone": "Europe/Rome"}, managers=managers)
    (entry,) = a.diff(old, new, NOW)
    assert entry.kind is Kind.CHANGED
    assert entry.fields == ("spec.timeZone",)
    assert (entry.who, entry.source, entry.manager) == (None, Source.UNATTRIBUTED, "kubectl-edit")


def test_changed_fields_are_names_only_down_to_two_levels() -> None:
    old = job(spec={"task": {"type": "entity_start", "entityIds": ["e1"], "pipelineId": "p"}})
    new = job(
        spec={
            "task": {"type": "entity_start", "entityIds": ["e2"], "pipelineId": "p"},
            "coreHub": {"credentialsSecretRef": {"name": "s3cr3t-value"}},
        }
    )
    (entry,) = a.diff(old, new, NOW)
    assert entry.fields == ("spec.coreHub.credentialsSecretRef", "spec.task.entityIds")
    assert "s3cr3t" not in entry.line()
    assert "e2" not in entry.line()


def test_enable_and_disable_are_their_own_kinds() -> None:
    old = job()
    off = job(spec={**old["spec"], "enabled": False})
    assert [e.kind for e in a.diff(old, off, NOW)] == [Kind.DISABLED]
    assert [e.kind for e in a.diff(off, old, NOW)] == [Kind.ENABLED]
    both = job(spec={**old["spec"], "enabled": False, "timeZone": "UTC"})
    assert [(e.kind, e.fields) for e in a.diff(old, both, NOW)] == [
        (Kind.DISABLED, ()),
        (Kind.CHANGED, ("spec.timeZone",)),
    ]


def test_run_now_and_backfill_requests_each_make_one_entry() -> None:
    old = job(annotations={c.RUN_NOW_PENDING_ANNOTATION: '{"t1":"2026-03-29T00:00:00Z"}'})
    backfill = [{"id": "b1", "from": "2026-03-28T00:00:00Z", "to": "2026-03-28T06:00:00Z"}]
    new = job(
        annotations={
            c.RUN_NOW_PENDING_ANNOTATION: json.dumps(
                {"t1": "2026-03-29T00:00:00Z", "t2": "2026-03-29T00:59:00Z"}, separators=(",", ":")
            ),
            c.BACKFILL_ANNOTATION: json.dumps(backfill),
            c.CHANGED_BY_ANNOTATION: "bob",
        }
    )
    entries = a.diff(old, new, NOW)
    assert [(e.kind, e.detail, e.who) for e in entries] == [
        (Kind.RUN_NOW, "t2", "bob"),
        (Kind.BACKFILL, "b1: 2026-03-28T00:00:00Z → 2026-03-28T06:00:00Z", "bob"),
    ]
    # A hand-set run-now (kubectl annotate) counts too; the operator serving one does not.
    hand = job(annotations={c.RUN_NOW_ANNOTATION: "by-hand"})
    assert [e.kind for e in a.diff(job(), hand, NOW)] == [Kind.RUN_NOW]
    served = job(annotations={c.RUN_NOW_DONE_ANNOTATION: '{"t1":"2026-03-29T00:00:00Z"}'})
    assert a.diff(old, served, NOW) == []


def test_status_writes_and_clearing_the_annotation_record_nothing() -> None:
    stamped = job(annotations={c.CHANGED_BY_ANNOTATION: "alice"})
    assert a.diff(stamped, job(status={"cron": "0 3 * * *"}), NOW) == []


def test_the_first_listing_records_nothing() -> None:
    stamped = job(annotations={c.CHANGED_BY_ANNOTATION: "carol"}, status={"cron": "x"})
    assert a.diff(None, stamped, NOW, listing=True) == []


def test_a_stale_attribution_names_nobody() -> None:
    """An older write's stamp still on the job: another user's change (which admission
    lets leave it as it was) is not credited to it."""
    stamp = {c.CHANGED_BY_ANNOTATION: "alice", c.CHANGED_AT_ANNOTATION: "2026-03-29T00:00:00.1Z"}
    old = job(annotations=stamp)
    new = job(spec={**old["spec"], "timeZone": "UTC"}, annotations=stamp)
    used = a.stamp(old["metadata"])
    assert used == ("alice", "2026-03-29T00:00:00.1Z")
    assert not a.fresh(new["metadata"], used)
    (entry,) = a.diff(old, new, NOW, attributed=a.fresh(new["metadata"], used))
    assert (entry.who, entry.source) == (None, Source.UNATTRIBUTED)
    # A new stamp (the same user again, a moment later) is fresh.
    again = job(annotations={**stamp, c.CHANGED_AT_ANNOTATION: "2026-03-29T00:00:00.2Z"})
    assert a.fresh(again["metadata"], used)
    assert not a.fresh(job()["metadata"], used)  # no stamp at all


def test_deletes_aborts_and_leader_changes() -> None:
    gone = a.deleted(job(annotations={c.CHANGED_BY_ANNOTATION: "dave"}), NOW)
    assert (gone.kind, gone.who, gone.job) == (Kind.DELETED, "dave", "nightly")
    batch = {
        "metadata": {
            "namespace": "team-a",
            "name": "nightly-29012345",
            "annotations": {c.CHRONOSJOB_ANNOTATION: "nightly", c.CHANGED_BY_ANNOTATION: "erin"},
        }
    }
    abort = a.aborted(batch, NOW)
    assert (abort.kind, abort.job, abort.detail, abort.who) == (
        Kind.ABORT,
        "nightly",
        "nightly-29012345",
        "erin",
    )
    lead = a.leader("chronos", "pod-a-1", "pod-b-7", NOW)
    assert (lead.kind, lead.who, lead.detail, lead.source) == (
        Kind.LEADER,
        "pod-b-7",
        "pod-a-1 → pod-b-7",
        Source.OPERATOR,
    )


def _entry(minutes_ago: float, **more: Any) -> Entry:
    base: dict[str, Any] = {
        "time": NOW - timedelta(minutes=minutes_ago),
        "kind": Kind.CHANGED,
        "namespace": "team-a",
        "job": "nightly",
        "source": Source.UNATTRIBUTED,
    }
    return Entry(**{**base, **more})


def test_the_ledger_round_trips_and_skips_lines_it_cannot_read() -> None:
    text = a.append(None, [_entry(2), _entry(1, kind=Kind.RUN_NOW, who="bob")], NOW)
    text += "not json\n" + json.dumps({"kind": "changed"}) + "\n"
    parsed = a.parse_ledger(text)
    assert [(e.kind, e.who) for e in parsed] == [(Kind.CHANGED, None), (Kind.RUN_NOW, "bob")]


def test_the_ledger_is_bounded_by_count_age_and_bytes() -> None:
    many = [_entry(i / 100) for i in range(a.MAX_ENTRIES + 50)]
    assert len(a.parse_ledger(a.append(None, many, NOW))) == a.MAX_ENTRIES
    old = _entry((a.MAX_AGE + timedelta(minutes=1)).total_seconds() / 60)
    assert a.parse_ledger(a.append(None, [old, _entry(1)], NOW)) == [_entry(1)]
    big = [_entry(i / 100, detail="x" * a.MAX_DETAIL, who="u" * a.MAX_NAME) for i in range(900)]
    text = a.append(None, big, NOW)
    assert len(text.encode()) <= a.MAX_BYTES
    assert a.parse_ledger(text)[-1] == big[0]  # the newest kept


def test_appending_keeps_time_order() -> None:
    text = a.append(None, [_entry(1)], NOW)
    text = a.append(text, [_entry(5, job="earlier")], NOW)
    assert [e.job for e in a.parse_ledger(text)] == ["earlier", "nightly"]


def test_the_page_filters_and_pages_newest_first() -> None:
    entries = [
        _entry(3, who="alice"),
        _entry(2, kind=Kind.RUN_NOW, who="bob"),
        _entry(1, kind=Kind.RUN_NOW, who="bob", job="other"),
        _entry(0, manager="kubectl-edit"),
    ]
    shown, total = a.page(entries, Filters(kind=Kind.RUN_NOW), skip=0, limit=1)
    assert (total, [e.job for e in shown]) == (2, ["other"])
    assert a.page(entries, Filters(user="bob", job="nightly"), skip=0, limit=9)[1] == 1
    assert a.page(entries, Filters(user="kubectl-edit"), skip=0, limit=9)[1] == 1
    assert a.page(entries, Filters(namespace="elsewhere"), skip=0, limit=9) == ([], 0)
