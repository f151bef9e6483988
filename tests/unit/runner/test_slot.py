"""The slot a run serves and its jitter (chronos.runner.slot), without a cluster."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chronos.models.chronosjob import RunTrigger
from chronos.runner.slot import jitter_delay, slot_of, slot_time, wait_seconds

SLOT = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_the_slot_comes_from_the_annotation_else_from_the_controllers_job_name() -> None:
    minutes = int(SLOT.timestamp()) // 60
    assert slot_of(None, f"nightly-{minutes}", RunTrigger.SCHEDULE) == SLOT
    # The annotation wins (an operator-made Job, a backfill whose name holds no minutes).
    other = SLOT + timedelta(hours=1)
    assert slot_of(other, f"nightly-{minutes}", RunTrigger.SCHEDULE) == other
    assert slot_of(other, "nightly-bf-0123456789abcdef", RunTrigger("backfill")) == other
    # Run-now serves no slot, whatever its name looks like.
    assert slot_of(None, "nightly-now-1234567890123456", RunTrigger.RUN_NOW) is None
    assert slot_of(None, f"nightly-{minutes}", RunTrigger.RUN_NOW) is None
    # A name without the minute suffix (a local run, a pod name) has no slot.
    assert slot_of(None, "local-20260329T013000Z", RunTrigger.SCHEDULE) is None


def test_the_jitter_is_the_documented_hash_per_job_and_slot() -> None:
    expected = (
        int(hashlib.sha256(f"team/sync/{int(SLOT.timestamp())}".encode()).hexdigest(), 16) % 301
    )
    assert jitter_delay("team", "sync", SLOT, 300) == expected
    assert jitter_delay("team", "sync", SLOT, 0) == 0
    # Spread across jobs: 200 jobs on one slot do not share a handful of delays.
    delays = {jitter_delay("team", f"job-{i}", SLOT, 300) for i in range(200)}
    assert len(delays) > 100


@given(
    st.text(min_size=1, max_size=20),
    st.integers(min_value=0, max_value=3600),
    st.integers(min_value=0, max_value=10**9),
)
def test_the_jitter_stays_within_its_bound(name: str, bound: int, minute: int) -> None:
    slot = datetime.fromtimestamp(minute * 60, UTC)
    assert 0 <= jitter_delay("ns", name, slot, bound) <= bound


def test_the_wait_ends_at_slot_plus_delay_and_never_takes_more_than_half_the_timeout() -> None:
    # On time: the whole delay.
    assert wait_seconds(slot=SLOT, delay=40, now=SLOT, elapsed=0, timeout=600) == 40
    # A pod that started 15 s late waits the rest.
    late = SLOT + timedelta(seconds=15)
    assert wait_seconds(slot=SLOT, delay=40, now=late, elapsed=1, timeout=600) == 25
    # Started after its due time: no wait at all.
    assert wait_seconds(slot=SLOT, delay=10, now=late, elapsed=0, timeout=600) == 0
    # Timeout 60 s: at most 30 s of it, less what the runner already spent.
    assert wait_seconds(slot=SLOT, delay=3000, now=SLOT, elapsed=2, timeout=60) == 28
    assert wait_seconds(slot=SLOT, delay=3000, now=SLOT, elapsed=40, timeout=60) == 0


def test_the_wall_time_and_offset_are_the_jobs_zone_at_the_slot() -> None:
    # 2026-03-29 01:30 UTC is 03:30 CEST (Berlin moved to summer time at 01:00 UTC).
    berlin = slot_time(SLOT, "Europe/Berlin")
    assert (berlin.wall, berlin.offset) == ("2026-03-29T03:30:00", "+02:00")
    before = slot_time(SLOT - timedelta(hours=1), "Europe/Berlin")
    assert (before.wall, before.offset) == ("2026-03-29T01:30:00", "+01:00")
    kolkata = slot_time(SLOT, "Asia/Kolkata")
    assert (kolkata.wall, kolkata.offset) == ("2026-03-29T07:00:00", "+05:30")
    utc = slot_time(SLOT, None)
    assert (utc.wall, utc.offset, utc.instant) == ("2026-03-29T01:30:00", "+00:00", SLOT)
