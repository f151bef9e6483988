"""The pure helpers of bench/busy_minute.py (the benchmark itself runs on demand only)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from support import load_bench

bm = load_bench("busy_minute")


def test_next_slot_is_the_first_whole_minute_after_the_lead() -> None:
    now = datetime(2030, 5, 6, 7, 8, 9, 500000, tzinfo=UTC)
    assert bm.next_slot(now, 60) == datetime(2030, 5, 6, 7, 10, tzinfo=UTC)
    # A lead ending exactly on a minute is that minute; one microsecond later, the next.
    exact = datetime(2030, 5, 6, 7, 8, 0, tzinfo=UTC)
    assert bm.next_slot(exact, 120) == datetime(2030, 5, 6, 7, 10, tzinfo=UTC)
    assert bm.next_slot(exact + timedelta(microseconds=1), 120) == datetime(
        2030, 5, 6, 7, 11, tzinfo=UTC
    )
    # Across midnight at the end of a year, and from another zone's clock.
    late = datetime(2030, 12, 31, 23, 59, 30, tzinfo=UTC)
    assert bm.next_slot(late, 45) == datetime(2031, 1, 1, 0, 1, tzinfo=UTC)
    rome = datetime(2030, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert bm.next_slot(rome, 60) == datetime(2030, 5, 6, 7, 10, tzinfo=UTC)


def test_slot_cron_names_the_slot_in_utc() -> None:
    slot = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
    assert bm.slot_cron(slot) == "4 3 2 1 *"
    plus_one = datetime(2030, 1, 2, 4, 4, tzinfo=timezone(timedelta(hours=1)))
    assert bm.slot_cron(plus_one) == "4 3 2 1 *"


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert bm.percentile(values, 50) == 50
    assert bm.percentile(values, 99) == 99
    assert bm.percentile(values, 100) == 100
    assert bm.percentile([3.0, 1.0, 2.0], 50) == 2
    assert bm.percentile([7.0], 99) == 7
    with pytest.raises(ValueError, match="no values"):
        bm.percentile([], 50)


def test_summarize() -> None:
    s = bm.summarize([float(v) for v in range(200, 0, -1)])  # 200..1, unsorted
    assert (s.n, s.p50, s.p99, s.max) == (200, 100, 198, 200)
    assert bm.summarize([]) is None


def test_first_by_pipeline_keeps_each_pipelines_earliest_request_since() -> None:
    requests = [
        {"path": "/pipelines/job-000/commands/sync/stop", "received": 105.0},
        {"path": "/pipelines/job-001", "received": 103.0},
        {"path": "/pipelines/job-000", "received": 102.0},  # logged later, arrived earlier
        {"path": "/pipelines/job-002", "received": 99.0},  # before the slot: another phase's
        {"path": "/authentication/login", "received": 101.0},  # names no pipeline
        {"path": "/pipelines", "received": 101.5},
        {"path": "/pipelines/job-001/entities", "received": 104.0},
    ]
    first = bm.first_by_pipeline(requests, since=100.0)
    assert first == {"job-000": 102.0, "job-001": 103.0}


def test_pipeline_of_reads_the_decoded_segment_after_pipelines() -> None:
    assert bm.pipeline_of("/pipelines/job-007/commands/sync/stop") == "job-007"
    assert bm.pipeline_of("/pipelines/a%2Fb") == "a/b"
    assert bm.pipeline_of("/pipelines") is None
    assert bm.pipeline_of("/authentication/login") is None


def test_each_job_stops_a_seeded_pipeline_of_its_own() -> None:
    names = bm.job_names(3)
    assert names == ["job-000", "job-001", "job-002"]
    assert [p["id"] for p in bm.seed_pipelines(names)] == names
    assert [bm.task(n)["pipelineId"] for n in names] == names


def test_peak_in_window_counts_the_busiest_interval() -> None:
    assert bm.peak_in_window([], 1.0) == 0
    assert bm.peak_in_window([5.0], 1.0) == 1
    times = [0.0, 0.5, 1.0, 1.6, 1.7, 1.8, 5.0]
    assert bm.peak_in_window(times, 1.0) == 4  # 1.0, 1.6, 1.7, 1.8 (both ends count)
    assert bm.peak_in_window(list(reversed(times)), 1.0) == 4
    assert bm.peak_in_window(times, 10.0) == 7
    assert bm.peak_in_window(times, 0.05) == 1


def test_jitter_delay_follows_the_shared_contract() -> None:
    # /work/ISSUE19.md: int(sha256("<ns>/<name>/<slot unix seconds>")) % (jitterSeconds + 1)
    digest = hashlib.sha256(b"team/nightly/1893456000").hexdigest()
    assert bm.jitter_delay("team", "nightly", 1893456000, 300) == int(digest, 16) % 301
    delays = [bm.jitter_delay("ns", f"job-{i:03d}", 1893456000, 60) for i in range(200)]
    assert all(0 <= d <= 60 for d in delays)
    assert len(set(delays)) > 30  # spread, not one value
    assert bm.jitter_delay("ns", "job-000", 1893456000, 0) == 0


def test_pod_stages_read_the_objects_timestamps() -> None:
    job = {"metadata": {"creationTimestamp": "2030-01-02T03:04:05Z"}}
    pod = {
        "metadata": {"creationTimestamp": "2030-01-02T03:04:06Z"},
        "status": {
            "podIP": "10.88.0.9",
            "conditions": [
                {
                    "type": "Initialized",
                    "status": "True",
                    "lastTransitionTime": "2030-01-02T03:04:07Z",
                },
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastTransitionTime": "2030-01-02T03:04:08Z",
                },
            ],
            "containerStatuses": [
                {"state": {"terminated": {"startedAt": "2030-01-02T03:04:10Z", "exitCode": 0}}}
            ],
        },
    }
    base = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    s = bm.pod_stages(job, pod)
    assert (s.job_created, s.pod_created, s.scheduled, s.started) == (
        base,
        base + 1,
        base + 3,
        base + 5,
    )
    assert s.ip == "10.88.0.9"
    pending = bm.pod_stages(job, {"metadata": pod["metadata"], "status": {}})
    assert (pending.scheduled, pending.started, pending.ip) == (None, None, None)
    assert bm.pod_stages(job, None).pod_created is None


def test_cpu_delta_counts_new_processes_from_zero() -> None:
    assert bm.cpu_delta({"a": 1.0, "gone": 5.0}, {"a": 3.5, "new": 2.0}) == {"a": 2.5, "new": 2.0}


def test_early_runners_are_those_that_did_not_wait_their_delay() -> None:
    first = {"a": 3.0, "b": 12.5, "c": 40.0}
    assert bm.early_runners(first, {"a": 0, "b": 10, "c": 45}) == ["c"]
    assert bm.early_runners(first, {}) == []
