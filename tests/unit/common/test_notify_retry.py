"""When a failed delivery is tried again (chronos.notify.retry): full jitter under an
exponential ceiling, Retry-After honoured and bounded, which statuses are retried."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronos.notify.retry import CAP, RETRY_AFTER_CAP, next_delay, retry_after_seconds, retryable

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 1.0), (2, 2.0), (5, 16.0), (9, 256.0), (10, CAP), (1000, CAP)]
)
def test_the_ceiling_doubles_up_to_the_cap(attempt: int, ceiling: float) -> None:
    # rng at its top: the ceiling itself (well, just under it).
    top = next_delay(attempt, retry_after=None, rng=lambda: 1.0)
    assert top == ceiling
    assert next_delay(attempt, retry_after=None, rng=lambda: 0.0) == 0.0


@given(st.integers(1, 10_000), st.integers(0, 2**32))
def test_full_jitter_stays_in_range(attempt: int, seed: int) -> None:
    delay = next_delay(attempt, retry_after=None, rng=random.Random(seed))
    assert 0.0 <= delay <= min(CAP, 2.0 ** min(attempt - 1, 20))


def test_jitter_spreads_delays() -> None:
    rng = random.Random(7)
    delays = {round(next_delay(6, retry_after=None, rng=rng), 3) for _ in range(50)}
    assert len(delays) > 40


@given(st.integers(1, 50), st.floats(0, 10 * RETRY_AFTER_CAP), st.floats(0, 1, exclude_max=True))
def test_retry_after_is_a_lower_bound_capped_at_an_hour(
    attempt: int, asked: float, draw: float
) -> None:
    delay = next_delay(attempt, retry_after=asked, rng=lambda: draw)
    assert delay >= min(asked, RETRY_AFTER_CAP)
    assert delay <= max(CAP, RETRY_AFTER_CAP)


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        next_delay(0, retry_after=None, rng=random.random)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (format_datetime(NOW + timedelta(seconds=45), usegmt=True), 45.0),
        (format_datetime(NOW - timedelta(seconds=45), usegmt=True), 0.0),
        ("999999", RETRY_AFTER_CAP),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_header(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (500, True),
        (502, True),
        (503, True),
        (599, True),
        (408, True),
        (429, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (422, False),
        (301, False),
        (200, False),
    ],
)
def test_retryable(status: int, expected: bool) -> None:
    assert retryable(status) is expected
