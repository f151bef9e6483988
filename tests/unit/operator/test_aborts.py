"""Issue 20, feature 5: the operator's record of a run whose Job was deleted before it
ended, and the abort annotation's value (chronos.abort)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chronos import contract as c
from chronos.abort import AbortNote, note_value, parse_note
from chronos.models import activity
from chronos.models.chronosjob import RunRecord, RunResult, RunTrigger
from chronos.operator import aborts
from chronos.operator.cache import Change, WatchCache

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def job(
    name: str = "nightly-29000000", *, annotations: dict[str, str] | None = None, **status: Any
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": "u-1",
            "creationTimestamp": "2026-03-04T05:00:00Z",
            "annotations": {
                c.TRIGGER_ANNOTATION: "schedule",
                c.SCHEDULE_ANNOTATION: "nightly",
                c.SCHEDULED_TIMESTAMP_ANNOTATION: "2026-03-04T05:00:00Z",
                **(annotations or {}),
            },
        },
        "status": status,
    }


def test_the_note_round_trips_and_never_holds_more_than_a_name() -> None:
    text = note_value("alice@example.com", NOW)
    assert text == '{"by":"alice@example.com","at":"2026-03-04T05:06:07Z"}'
    assert parse_note(text) == AbortNote("alice@example.com", NOW)
    assert parse_note(note_value("x" * 1000, NOW)).by == "x" * 256  # type: ignore[union-attr]
    # kubectl annotate ...=yes: an abort by someone unnamed; no annotation: no abort.
    assert parse_note("yes") == AbortNote(None, None)
    assert parse_note('{"by": 3, "at": "soon"}') == AbortNote(None, None)
    assert parse_note(None) is None


def test_an_annotated_job_that_never_started_is_recorded_aborted_by_who_asked() -> None:
    deleted = job(annotations={c.ABORT_ANNOTATION: note_value("alice", NOW)}, active=1)
    assert aborts.deleted_unfinished(deleted)
    record = aborts.aborted_run(deleted, NOW + timedelta(seconds=9))
    assert record.result is RunResult.ABORTED
    assert (record.reason, record.reported_by) == ("Aborted", "operator")
    assert record.message == (
        "aborted by alice at 2026-03-04T05:06:07Z: its Kubernetes Job was deleted "
        "before the run ended"
    )
    assert (record.trigger, record.schedule) == (RunTrigger.SCHEDULE, "nightly")
    assert record.scheduled_time == datetime(2026, 3, 4, 5, 0, tzinfo=UTC)
    # Never started: no start, no duration; it ended when the abort was asked.
    assert (record.start_time, record.duration_seconds, record.end_time) == (None, None, NOW)
    assert aborts.event_message(deleted) == "run nightly-29000000 aborted by alice"


def test_a_plain_delete_of_a_running_job_is_aborted_too_with_its_duration() -> None:
    deleted = job(active=1, startTime="2026-03-04T05:00:01Z")
    record = aborts.aborted_run(deleted, NOW)
    assert record.result is RunResult.ABORTED
    assert record.message == "its Kubernetes Job was deleted before the run ended"
    assert record.start_time == datetime(2026, 3, 4, 5, 0, 1, tzinfo=UTC)
    assert record.duration_seconds == 366.0
    assert aborts.event_message(deleted) is None


def test_finished_jobs_and_relist_stubs_are_not_aborts() -> None:
    done = job(conditions=[{"type": "Complete", "status": "True"}])
    failed = job(conditions=[{"type": "Failed", "status": "True"}])
    assert not aborts.deleted_unfinished(done)
    assert not aborts.deleted_unfinished(failed)
    assert not aborts.deleted_unfinished({"metadata": {"namespace": "ns", "name": "x"}})


def test_the_cache_keeps_deleted_jobs_until_recorded_and_forgets_them_with_their_job() -> None:
    cache = WatchCache()
    cache.flag_aborted("ns", "nightly", [job("a"), job("b")])
    assert [j["metadata"]["name"] for j in cache.aborted("ns", "nightly")] == ["a", "b"]
    assert cache.aborted("ns", "nightly") == []
    cache.flag_aborted("ns", "nightly", [job("a")])
    cache.chronosjob_event(Change.DELETED, {"metadata": {"namespace": "ns", "name": "nightly"}})
    assert cache.aborted("ns", "nightly") == []


def test_the_runners_own_record_of_an_abort_is_amended_with_who_asked() -> None:
    runner = RunRecord(
        run_id="nightly-29000000",
        trigger=RunTrigger.SCHEDULE,
        result=RunResult.ABORTED,
        reason="Aborted",
        message="SIGTERM after 2 command(s): e1 Hold",
        reported_by="runner",
    )
    noted = job(annotations={c.ABORT_ANNOTATION: note_value("alice", NOW)})
    amended = aborts.named(runner, noted)
    assert amended is not None
    assert amended.message == "aborted by alice: SIGTERM after 2 command(s): e1 Hold"
    assert amended.model_copy(update={"message": runner.message}) == runner
    # Once is enough; nobody to name, or no abort, leaves the record alone.
    assert aborts.named(amended, noted) is None
    own_words = runner.model_copy(update={"message": "aborted (SIGTERM) after 1 command(s)"})
    assert aborts.named(own_words, noted).message == (  # type: ignore[union-attr]
        "aborted by alice (SIGTERM) after 1 command(s)"
    )
    assert aborts.named(runner, job()) is None
    assert aborts.named(runner, job(annotations={c.ABORT_ANNOTATION: "yes"})) is None
    failed = runner.model_copy(update={"result": RunResult.FAILED})
    assert aborts.named(failed, noted) is None


def _owner(uid: str = "cj-1", *, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "nightly", "namespace": "ns", "uid": uid}
    if deleting:
        meta["deletionTimestamp"] = "2026-03-04T05:06:00Z"
    return {"metadata": meta}


def test_a_run_deleted_with_its_job_is_no_abort_whatever_order_the_informers_tell_it() -> None:
    """The failed ordering (issue 22): the run's Job's DELETED event comes while the cache
    still holds its ChronosJob, unchanged. The cache cannot rule the abort out; the API
    server, read after, has the ChronosJob gone (background deletion), being deleted
    (foreground, a finalizer) or re-created under the same name: no abort."""
    unfinished = job(active=1)
    cached = _owner()
    assert activity.is_abort(unfinished, cached, "cj-1")  # from the cache alone: ask
    assert not activity.is_abort(unfinished, None, "cj-1")
    assert not activity.is_abort(unfinished, _owner(deleting=True), "cj-1")
    assert not activity.is_abort(unfinished, _owner("cj-2"), "cj-1")
    # The ChronosJob's deletion seen first: the cache says so already.
    assert not activity.is_abort(unfinished, None, None)
    assert not activity.is_abort(unfinished, _owner(deleting=True), None)


def test_a_run_deleted_while_its_job_stays_is_an_abort_and_a_noted_one_always() -> None:
    unfinished = job(active=1)
    assert activity.is_abort(unfinished, _owner(), "cj-1")
    noted = job(annotations={c.ABORT_ANNOTATION: note_value("bob", NOW)}, active=1)
    assert activity.is_abort(noted, None, "cj-1")
    assert activity.is_abort(noted, _owner(deleting=True), None)
