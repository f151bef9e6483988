"""The operator's watch cache keeps slim records, and a job in sync needs no status write."""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime
from typing import Any, cast

from chronos import contract as c
from chronos.models.chronosjob import ChronosJobSpec
from chronos.models.resolve import resolve_schedule
from chronos.models.wire import ChronosJobDict, SpecDict, StatusDict
from chronos.operator import status as st
from chronos.operator.cache import LAST_APPLIED, Change, CronJobRecord, WatchCache, digest
from chronos.operator.cronjob import build_cronjob
from chronos.operator.settings import OperatorSettings

NOW = datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC)
SPEC: dict[str, Any] = {
    "task": {"type": "pipeline_start", "pipelineId": "p1"},
    "schedule": {"cron": "0 3 * * *"},
    "timeZone": "Europe/Rome",
}


def managed_fields() -> list[dict[str, Any]]:
    """What the API server adds to every object: one entry per writer, large."""
    return [
        {"manager": f"m{i}", "operation": "Update", "fieldsV1": {f"f:{k}": {} for k in "ab" * 50}}
        for i in range(3)
    ]


def cronjob(name: str = "job-1") -> dict[str, Any]:
    spec = ChronosJobSpec.model_validate(SPEC)
    settings = OperatorSettings(corehub_url="https://hub:1717", corehub_credentials_secret="hub")
    manifest = build_cronjob(
        name=name,
        namespace="ns",
        uid="u-1",
        spec=spec,
        schedule=resolve_schedule(spec, settings.default_time_zone),
        settings=settings,
    )
    manifest["metadata"]["managedFields"] = managed_fields()
    manifest["metadata"]["resourceVersion"] = "42"
    return manifest


def chronosjob(name: str = "job-1", generation: int = 1) -> ChronosJobDict:
    return {
        "apiVersion": "chronos.gluesync.com/v1alpha1",
        "kind": "ChronosJob",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "generation": generation,
            "annotations": {LAST_APPLIED: '{"spec": "…"}', "keep": "me"},
            "managedFields": managed_fields(),
        },
        "spec": cast(SpecDict, SPEC),
        "status": {"observedGeneration": 1, "history": [{"runId": "r1"}]},
    }


def test_the_cache_drops_managed_fields_and_last_applied_and_keeps_the_rest() -> None:
    cache = WatchCache()
    cache.chronosjob_event(Change.UPSERTED, chronosjob())
    cr = cache.chronosjob("ns", "job-1")
    assert cr is not None
    assert "managedFields" not in cr["metadata"]
    assert cr["metadata"]["annotations"] == {"keep": "me"}
    assert cr["spec"] == SPEC
    assert (cr.get("status") or {}).get("history") == [{"runId": "r1"}]


def desired_manifest() -> dict[str, Any]:
    desired = cronjob()
    del desired["metadata"]["managedFields"], desired["metadata"]["resourceVersion"]
    return desired


def test_a_cronjob_is_kept_as_the_verdict_on_the_manifest_it_was_checked_against() -> None:
    cache = WatchCache()
    desired = desired_manifest()
    cache.cronjob_event(Change.UPSERTED, cronjob(), digest(desired))
    record = cache.cronjob("ns", "job-1")
    assert record is not None
    assert record.holds(desired)
    assert (record.schedule, record.time_zone, record.suspend) == (
        "0 3 * * *",
        "Europe/Rome",
        False,
    )
    # Another desired manifest (a spec or settings change) is not known to be held.
    changed = desired_manifest()
    changed["spec"]["schedule"] = "0 4 * * *"
    assert not record.holds(changed)
    # A CronJob not checked (its ChronosJob unknown, or drifted) holds nothing.
    cache.cronjob_event(Change.UPSERTED, cronjob())
    unknown = cache.cronjob("ns", "job-1")
    assert unknown is not None
    assert not unknown.holds(desired)
    cache.cronjob_event(Change.DELETED, cronjob())
    assert cache.cronjob("ns", "job-1") is None


def test_a_cached_object_costs_a_fraction_of_the_parsed_one() -> None:
    cache = WatchCache()
    whole = chronosjob()
    cache.chronosjob_event(Change.UPSERTED, whole)
    stored = cache._chronosjobs[("ns", "job-1")]

    def deep_size(obj: Any) -> int:
        if isinstance(obj, dict):
            return sys.getsizeof(obj) + sum(deep_size(k) + deep_size(v) for k, v in obj.items())
        if isinstance(obj, list):
            return sys.getsizeof(obj) + sum(deep_size(v) for v in obj)
        return sys.getsizeof(obj)

    assert sys.getsizeof(stored) * 4 < deep_size(whole)


def test_deleted_objects_leave_the_cache() -> None:
    cache = WatchCache()
    for name in ("a", "b", "c"):
        cache.chronosjob_event(Change.UPSERTED, chronosjob(name))
    cache.job_event("ns", "b", Change.UPSERTED, {"metadata": {"name": "b-1"}, "status": {}})
    cache.job_event("ns", "b", Change.DELETED, {"metadata": {"name": "b-1"}})
    cache.job_event("ns", "zz", Change.DELETED, {"metadata": {"name": "zz-1"}})
    assert cache.jobs_of("ns", "b") == []
    assert ("ns", "zz") not in cache._jobs
    cache.chronosjob_event(Change.DELETED, chronosjob("c"))
    assert cache.chronosjob_keys(None) == {("ns", "a"), ("ns", "b")}
    assert cache.count() == 2


def test_generations_decide_what_needs_a_reconcile() -> None:
    cache = WatchCache()
    cr = chronosjob(generation=3)
    assert cache.needs_reconcile(cr)
    cache.mark_reconciled(cr)
    assert not cache.needs_reconcile(cr)
    assert cache.needs_reconcile(chronosjob(generation=4))


def test_a_status_already_in_sync_needs_no_write() -> None:
    spec = ChronosJobSpec.model_validate(SPEC)
    schedule = resolve_schedule(spec, "UTC")
    fields = st.reconciled({}, generation=2, schedule=schedule, cronjob="cj", enabled=True, now=NOW)
    assert st.changes({}, fields) == fields
    # What the API server holds after that patch (conditions in another order).
    stored = st.status_body(fields)
    status = cast(
        StatusDict, {**stored, "conditions": list(reversed(stored["conditions"])), "history": []}
    )
    again = st.reconciled(
        status, generation=2, schedule=schedule, cronjob="cj", enabled=True, now=NOW
    )
    assert st.changes(status, again) is None
    moved = st.reconciled(
        status, generation=3, schedule=schedule, cronjob="cj", enabled=True, now=NOW
    )
    changed = st.changes(status, moved)
    assert changed is not None
    assert changed.model_fields_set == {"observed_generation", "conditions"}


def test_a_drifted_cronjob_forces_a_reconcile_at_the_same_generation() -> None:
    cache = WatchCache()
    cr = chronosjob()
    cache.mark_reconciled(cr)
    assert not cache.needs_reconcile(cr)
    cache.force_reconcile(cr["metadata"]["namespace"], cr["metadata"]["name"])
    assert cache.needs_reconcile(cr)
    cache.begin_reconcile(cr)
    # The drift is seen while that reconcile runs (it may have read the CronJob before):
    cache.force_reconcile(cr["metadata"]["namespace"], cr["metadata"]["name"])
    cache.mark_reconciled(cr)
    assert cache.needs_reconcile(cr)
    cache.begin_reconcile(cr)
    cache.mark_reconciled(cr)
    assert not cache.needs_reconcile(cr)


def _job(name: str, *, done: bool) -> dict[str, Any]:
    conditions = [{"type": "Complete", "status": "True"}] if done else []
    return {"metadata": {"name": name, "namespace": "team"}, "status": {"conditions": conditions}}


def test_a_finished_job_is_checked_against_the_history_once() -> None:
    cache = WatchCache()
    cache.job_event("team", "nightly", Change.UPSERTED, _job("run-1", done=False))
    assert cache.unreported("team", "nightly") == []
    cache.job_event("team", "nightly", Change.UPSERTED, _job("run-1", done=True), finished=True)
    # A later event of the same finished Job (a relist, a label change) is not news.
    cache.job_event("team", "nightly", Change.UPSERTED, _job("run-1", done=True), finished=True)
    assert [j["metadata"]["name"] for j in cache.unreported("team", "nightly")] == ["run-1"]
    assert cache.unreported("team", "nightly") == []
    cache.job_event("team", "nightly", Change.UPSERTED, _job("run-1", done=True), finished=True)
    assert cache.unreported("team", "nightly") == []
    # Cached finished Jobs still decode as they came.
    assert cache.jobs_of("team", "nightly") == [_job("run-1", done=True)]
    cache.job_event("team", "nightly", Change.DELETED, _job("run-1", done=True))
    assert cache.jobs_of("team", "nightly") == []


def test_a_cronjob_record_reports_a_new_firing_but_not_the_operators_own_reset() -> None:
    def cronjob(last: str | None, reset: str | None) -> dict[str, Any]:
        annotations = {c.CHRONOSJOB_ANNOTATION: "nightly"}
        if reset:
            annotations[c.SCHEDULE_RESET_ANNOTATION] = reset
        return {
            "metadata": {"name": "cj", "namespace": "team", "annotations": annotations},
            "spec": {"schedule": "0 3 * * *"},
            "status": {"lastScheduleTime": last} if last else {},
        }

    fired = CronJobRecord.of(cronjob("2026-11-29T03:00:00Z", None), None)
    assert fired.owner == "nightly"
    assert fired.fired_since({}) == "2026-11-29T03:00:00Z"
    assert fired.fired_since({"lastScheduleTime": "2026-11-29T03:00:00Z"}) is None
    reset = CronJobRecord.of(cronjob("2026-11-29T03:00:00Z", "2026-11-29T03:00:00Z"), None)
    assert reset.fired_since({}) is None
    assert CronJobRecord.of(cronjob(None, None), None).fired_since({}) is None


def test_finished_jobs_whose_recording_failed_are_checked_again() -> None:
    cache = WatchCache()
    cache.job_event("team", "nightly", Change.UPSERTED, _job("run-1", done=True), finished=True)
    taken = cache.unreported("team", "nightly")
    assert [j["metadata"]["name"] for j in taken] == ["run-1"]
    cache.flag_unreported("team", "nightly", ["run-1"])
    assert [j["metadata"]["name"] for j in cache.unreported("team", "nightly")] == ["run-1"]


def test_a_failed_repair_is_needed_again_though_its_generation_was_reconciled() -> None:
    """The repair of a deleted CronJob fails (admission refused it): the retry must
    reconcile again, though this generation was reconciled before the CronJob went."""
    cache = WatchCache()
    cr = chronosjob()
    ns, name = cr["metadata"]["namespace"], cr["metadata"]["name"]
    with cache.reconciling(cr):
        pass
    assert not cache.needs_reconcile(cr)
    cache.force_reconcile(ns, name)  # the CronJob was deleted
    with contextlib.suppress(RuntimeError), cache.reconciling(cr):
        raise RuntimeError("403 from admission")
    assert cache.needs_reconcile(cr)
    with cache.reconciling(cr):
        pass
    assert not cache.needs_reconcile(cr)


def test_housekeeping_sees_a_missing_or_unverified_cronjob() -> None:
    cache = WatchCache()
    obj, manifest = cronjob(), desired_manifest()
    assert not cache.cronjob_holds("ns", "job-1", manifest)  # missing
    cache.cronjob_event(Change.UPSERTED, obj, None)
    assert not cache.cronjob_holds("ns", "job-1", manifest)  # seen, not verified
    cache.cronjob_event(Change.UPSERTED, obj, digest(manifest))
    assert cache.cronjob_holds("ns", "job-1", manifest)
    assert not cache.cronjob_holds("ns", "job-1", {**manifest, "spec": {}})  # spec changed


def test_a_cronjob_that_cannot_be_applied_turns_ready_false_with_the_reason() -> None:
    status: StatusDict = {
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Reconciled", "message": "ok"},
        ]
    }
    for missing, reason in ((True, st.CRONJOB_MISSING), (False, st.CRONJOB_OUT_OF_SYNC)):
        patch = st.unapplied(
            status,
            generation=2,
            cronjob="cj",
            missing=missing,
            error="API server answered 403 Forbidden",
            now=NOW,
        )
        (ready,) = [c for c in patch.conditions or [] if c.type == st.READY]
        assert (ready.status, ready.reason) == ("False", reason)
        assert "403 Forbidden" in ready.message
