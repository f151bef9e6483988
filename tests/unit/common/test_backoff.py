"""Backoff and the work-queue rate limiter, with an injected clock and random source."""

from __future__ import annotations

from chronos.backoff import Backoff, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_to_its_cap_with_jitter_and_resets_after_a_quiet_spell() -> None:
    clock = Clock()
    low = Backoff(clock=clock, rand=lambda: 0.0)
    assert [round(low.next(), 2) for _ in range(8)] == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30, 30]
    high = Backoff(clock=clock, rand=lambda: 1.0)
    assert [high.next() for _ in range(2)] == [1.6, 3.2]  # jitter stretches up to twice
    clock.now += 119
    assert high.next() == 6.4  # failures 119 s apart still count as one outage
    clock.now += 120
    assert high.next() == 1.6  # two quiet minutes: from the start again
    high.reset()
    assert high.next() == 1.6


def test_each_item_backs_off_on_its_own_and_forget_starts_it_over() -> None:
    limiter = RateLimiter(base=1.0, cap=8.0, jitter=0.5, clock=Clock(), rand=lambda: 0.0)
    assert [limiter.when("a") for _ in range(5)] == [1, 2, 4, 8, 8]
    assert limiter.when("b") == 1
    assert limiter.failures("a") == 5
    limiter.forget("a")
    assert (limiter.failures("a"), limiter.when("a")) == (0, 1)
    jittered = RateLimiter(base=1.0, jitter=0.5, clock=Clock(), rand=lambda: 1.0)
    assert jittered.when("a") == 1.5


def test_the_overall_bucket_spaces_a_burst_of_failures() -> None:
    clock = Clock()
    limiter = RateLimiter(base=0.001, rate=10, burst=3, clock=clock, rand=lambda: 0.0)
    delays = [limiter.when(f"k{i}") for i in range(6)]
    assert delays[:3] == [0.001] * 3  # within the burst: each item's own delay
    assert [round(d, 3) for d in delays[3:]] == [0.1, 0.2, 0.3]  # then 10 per second
    clock.now += 10  # the bucket refills
    assert limiter.when("late") == 0.001
