"""The operator's peak CPU and memory per run, pure: a PodMetrics listing's use per run
(pods summed, other pods and malformed figures left out), the highest figures kept
across samples, a record amended only when the peaks add something, and runs forgotten
once recorded, without a sample, or after waiting too long for their record. The
sampling of a real pod: tests/realnode/test_run_peaks.py."""

from __future__ import annotations

from typing import Any, cast

from lightkube import AsyncClient

from chronos.models.jobstatus import RunRecord
from chronos.operator import peaks as p
from chronos.operator.cache import Change, WatchCache
from chronos.operator.context import OperatorContext
from chronos.operator.settings import OperatorSettings
from chronos.usage import parse_quantity


def metrics(run: str | None, *usage: tuple[str, str]) -> dict[str, Any]:
    labels = {p.JOB_NAME_LABEL: run} if run else {}
    return {
        "metadata": {"name": f"{run}-pod", "labels": labels},
        "containers": [
            {"name": f"c{i}", "usage": {"cpu": c, "memory": m}} for i, (c, m) in enumerate(usage)
        ],
    }


def test_a_listing_gives_each_wanted_runs_use_with_its_pods_and_containers_summed() -> None:
    items = [
        metrics("r1", ("12345678n", "10Mi"), ("5m", "2Mi")),
        metrics("r1", ("1m", "1Mi")),  # a retry's second pod, at the same time
        metrics("r2", ("250m", "64Mi")),
        metrics("other", ("1", "1Gi")),  # not a run being sampled
        metrics(None, ("1", "1Gi")),
        metrics("r3", ("lots", "1Mi")),  # malformed: no figures rather than an error
        {"metadata": {"labels": {p.JOB_NAME_LABEL: "r4"}}, "containers": []},
    ]
    got = p.sample(items, ["r1", "r2", "r3", "r4"])
    assert got == {
        "r1": p.Peak(18.346, 13 << 20),
        "r2": p.Peak(250.0, 64 << 20),
    }
    assert parse_quantity("12345678n") * 1000 == parse_quantity("12.345678")


def test_the_highest_figures_of_all_samples_are_kept_each_on_its_own() -> None:
    peaks = p.Peaks()
    peaks.running("ns", "r1", ("ns", "job"), 0.0)
    peaks.add("ns", {"r1": p.Peak(10.0, 50), "stranger": p.Peak(99.0, 99)})
    peaks.add("ns", {"r1": p.Peak(30.0, 20)})
    peaks.add("ns", {"r1": p.Peak(5.0, 40)})
    assert peaks.runs[("ns", "r1")].peak == p.Peak(30.0, 50)
    assert ("ns", "stranger") not in peaks.runs


def test_ended_runs_are_handed_over_by_job_and_the_unsampled_or_stale_forgotten() -> None:
    peaks = p.Peaks()
    for run, at in (("sampled", 100.0), ("unsampled", 100.0), ("stale", 0.0), ("live", 100.0)):
        peaks.running("ns", run, ("ns", "job"), at)
    peaks.add("ns", {"sampled": p.Peak(1.0, 1), "stale": p.Peak(2.0, 2), "live": p.Peak(3.0, 3)})
    ended = peaks.ended({("ns", "live")}, 100.0 + p.RECORD_WAIT_SECONDS - 1)
    assert ended == {("ns", "job"): [("sampled", p.Peak(1.0, 1))]}
    assert set(peaks.runs) == {("ns", "sampled"), ("ns", "live")}
    peaks.recorded("ns", "sampled")
    assert set(peaks.runs) == {("ns", "live")}


def test_a_record_is_amended_only_when_the_peaks_add_something() -> None:
    record = RunRecord.model_validate(
        {"runId": "r1", "trigger": "schedule", "result": "succeeded", "logTail": "kept"}
    )
    first = p.amended(record, p.Peak(12.5, 1 << 20))
    assert first is not None
    assert (first.peak_cpu_millicores, first.peak_memory_bytes) == (12.5, 1 << 20)
    assert first.log_tail == "kept"  # the rest of the record as it was
    assert p.amended(first, p.Peak(12.5, 1 << 20)) is None
    assert p.amended(first, p.Peak(1.0, 1)) is None  # lower: the record keeps its peaks
    higher = p.amended(first, p.Peak(1.0, 2 << 20))
    assert higher is not None
    assert (higher.peak_cpu_millicores, higher.peak_memory_bytes) == (12.5, 2 << 20)
    wire = higher.model_dump(by_alias=True, exclude_none=True)
    assert wire["peakCpuMillicores"] == 12.5
    assert wire["peakMemoryBytes"] == 2 << 20


def test_the_runs_sampled_are_the_cached_jobs_not_finished_by_namespace() -> None:
    cache = WatchCache()
    for owner, name, finished in (
        ("a", "a-1", False),
        ("a", "a-2", True),
        ("b", "b-1", False),
    ):
        cache.job_event(
            "ns", owner, Change.UPSERTED, {"metadata": {"name": name}}, finished=finished
        )
    cache.job_event("other", "c", Change.UPSERTED, {"metadata": {"name": "c-1"}})
    cache.job_event("ns", "b", Change.DELETED, {"metadata": {"name": "b-1"}})
    ctx = OperatorContext(client=cast(AsyncClient, None), settings=OperatorSettings(), cache=cache)
    assert p.active_runs(ctx) == {"ns": {"a-1": ("ns", "a")}, "other": {"c-1": ("other", "c")}}
