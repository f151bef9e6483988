"""Jenkins-style ``H`` in cron fields (chronos.schedule.hashed)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronos.schedule import ScheduleError, parse_cron
from chronos.schedule.hashed import has_hashed, resolve_hashed

FORMS = ["H", "H(10-20)", "H/15", "H(0-29)/10", "5,H(40-45)"]


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("H 2 * * *", True),
        ("0 H(1-5) * * *", True),
        ("*/5 * * * *", False),
        ("@hourly", False),
        ("0 0 * * MON", False),
    ],
)
def test_has_hashed(cron: str, expected: bool) -> None:
    assert has_hashed(cron) is expected


def test_without_h_the_expression_is_returned_unchanged() -> None:
    assert resolve_hashed("0  2 * * *", "ns/job/s0") == "0  2 * * *"


def test_the_same_seed_gives_the_same_cron_and_seeds_spread() -> None:
    first = resolve_hashed("H 2 * * *", "team-a/backup/s0")
    assert first == resolve_hashed("H 2 * * *", "team-a/backup/s0")
    minutes = {resolve_hashed("H 2 * * *", f"team-a/job-{i}/s0").split()[0] for i in range(200)}
    # 200 jobs on one schedule land on many different minutes (not all on :00).
    assert len(minutes) > 40


def test_values_are_the_documented_slices_of_sha256_of_the_seed() -> None:
    # Computed here from the documented rule (6 bytes of sha256(seed) per field, big
    # endian): a change of the hash would move every job that uses H.
    digest = hashlib.sha256(b"default/nightly/s0").digest()
    part = [int.from_bytes(digest[i * 6 : (i + 1) * 6], "big") for i in range(5)]
    expected = f"{part[0] % 60} {1 + part[1] % 3} {1 + part[2] % 28} * {part[4] % 7}"
    assert resolve_hashed("H H(1-3) H * H", "default/nightly/s0") == expected
    assert resolve_hashed("H/15 * * * *", "default/nightly/s0") == f"{part[0] % 15}-59/15 * * * *"
    assert resolve_hashed("H(0-29)/10 * * * *", "x") == (
        f"{int.from_bytes(hashlib.sha256(b'x').digest()[:6], 'big') % 10}-29/10 * * * *"
    )


@settings(max_examples=200, deadline=None)
@given(
    seed=st.text(min_size=1, max_size=60),
    minute=st.sampled_from(FORMS),
    hour=st.sampled_from(["H", "H(9-17)", "H/6", "H(0-11)/4", "3"]),
    dom=st.sampled_from(["H", "*", "H(1-15)", "H/7"]),
    month=st.sampled_from(["*", "H", "H(1-6)/3"]),
    dow=st.sampled_from(["*", "H", "H(1-5)", "1-5"]),
)
def test_every_resolution_is_a_cron_kubernetes_accepts_within_the_ranges(
    seed: str, minute: str, hour: str, dom: str, month: str, dow: str
) -> None:
    resolved = resolve_hashed(f"{minute} {hour} {dom} {month} {dow}", seed)
    assert "H" not in resolved
    parse_cron(resolved)
    fields = resolved.split()
    if minute == "H(10-20)":
        assert 10 <= int(fields[0]) <= 20
    if hour == "H(9-17)":
        assert 9 <= int(fields[1]) <= 17
    if dom == "H":
        assert 1 <= int(fields[2]) <= 28  # every month has it
    if minute == "H/15":
        start, step = fields[0].split("/")
        assert int(start.split("-")[0]) < 15
        assert step == "15"


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("H(20-10) * * * *", "needs 0 <= a <= b <= 59"),
        ("H(0-99) * * * *", "needs 0 <= a <= b <= 59"),
        ("H/0 * * * *", "at least 1"),
        ("Hx * * * *", "is not one of H, H(a-b), H/n, H(a-b)/n"),
        ("H * * *", "exactly 5 fields"),
        ("H 24 * * *", "above maximum"),
    ],
)
def test_bad_h_is_refused_naming_the_field(cron: str, reason: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        resolve_hashed(cron, "ns/name/s0")
    assert caught.value.field == "schedule.cron"
    assert reason in caught.value.reason
