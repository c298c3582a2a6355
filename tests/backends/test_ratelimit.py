"""Token buckets under a fake clock: minutes of pacing checked in microseconds, to the exact second."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wizardmath.backends.ratelimit import RateLimiter, TokenBucket


class FakeClock:
    """``clock()`` reads the time; ``await sleep(s)`` advances it (and records the sleeps)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(clock: FakeClock, **kwargs) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **kwargs)


def acquire_times(lim: RateLimiter, clock: FakeClock, tokens: list[float]) -> list[float]:
    """The fake time at which each acquisition (in order) was granted."""

    async def run() -> list[float]:
        times = []
        for amount in tokens:
            await lim.acquire(amount)
            times.append(round(clock.now, 6))
        return times

    return asyncio.run(run())


def test_requests_per_minute_paces_evenly_after_a_one_second_burst():
    clock = FakeClock()
    # 600/min = 10/s; a 1 s burst holds 10, so 10 go at once and then one every 0.1 s.
    times = acquire_times(limiter(clock, requests_per_minute=600), clock, [0] * 15)
    assert times[:10] == [0.0] * 10
    assert times[10:] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_slow_rate_still_holds_one_request():
    clock = FakeClock()
    times = acquire_times(limiter(clock, requests_per_minute=30), clock, [0] * 3)
    assert times == pytest.approx([0.0, 2.0, 4.0])  # one every 2 s, the first at once


def test_long_run_rate_matches_the_limit():
    clock = FakeClock()
    times = acquire_times(limiter(clock, requests_per_minute=120), clock, [0] * 1000)
    # 2/s with a 2-request burst: 998 more requests take 499 s.
    assert times[-1] == pytest.approx(499.0)
    assert 1000 / (times[-1] / 60) == pytest.approx(120, rel=0.005)


def test_tokens_per_minute_waits_for_the_tokens_needed():
    clock = FakeClock()
    # 6000 tokens/min = 100/s, bucket of 100.
    times = acquire_times(limiter(clock, tokens_per_minute=6000), clock, [50, 50, 50, 50])
    assert times == pytest.approx([0.0, 0.0, 0.5, 1.0])


def test_request_larger_than_the_bucket_goes_when_full_and_leaves_a_debt():
    clock = FakeClock()
    # 600 tokens/min = 10/s, bucket of 10; a 100-token request cannot ever "fit".
    times = acquire_times(limiter(clock, tokens_per_minute=600), clock, [100, 1])
    assert times[0] == 0.0  # not deadlocked
    assert times[1] == pytest.approx(9.1)  # debt of 90 plus the 1 needed, at 10/s


def test_both_limits_apply_and_the_stricter_one_wins():
    clock = FakeClock()
    lim = limiter(clock, requests_per_minute=6000, tokens_per_minute=600)  # 100 req/s but 10 tok/s
    times = acquire_times(lim, clock, [10, 10, 10])
    assert times == pytest.approx([0.0, 1.0, 2.0])
    assert lim.waited == pytest.approx(2.0)


def test_settle_refunds_an_overestimate_and_charges_an_underestimate():
    clock = FakeClock()
    lim = limiter(clock, tokens_per_minute=6000)  # bucket 100, 100/s
    asyncio.run(lim.acquire(100))
    lim.settle(estimated=100, actual=20)  # 80 back
    assert lim.tokens.level == pytest.approx(80)
    lim.settle(estimated=10, actual=60)  # 50 more taken
    assert lim.tokens.level == pytest.approx(30)
    lim.settle(estimated=0, actual=0)
    lim.tokens.give(1000)  # never above capacity
    assert lim.tokens.level == pytest.approx(100)


def test_pause_holds_every_request_back():
    clock = FakeClock()
    lim = limiter(clock)  # no limits at all, only the pause
    lim.pause(5.0)
    lim.pause(1.0)  # a shorter pause never shortens a longer one
    assert acquire_times(lim, clock, [0, 0]) == pytest.approx([5.0, 5.0])


def test_no_limits_never_waits():
    clock = FakeClock()
    lim = limiter(clock)
    assert acquire_times(lim, clock, [1e9] * 100) == [0.0] * 100
    assert clock.sleeps == []
    lim.settle(10, 20)  # no token bucket: a no-op


def test_concurrent_waiters_are_served_in_arrival_order():
    clock = FakeClock()
    lim = limiter(clock, requests_per_minute=60)  # one per second
    order: list[tuple[int, float]] = []

    async def one(i: int) -> None:
        await lim.acquire()
        order.append((i, clock.now))

    async def run() -> None:
        await asyncio.gather(*(one(i) for i in range(5)))

    asyncio.run(run())
    assert [i for i, _ in order] == [0, 1, 2, 3, 4]
    assert [t for _, t in order] == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])


def test_limiter_state_carries_across_event_loops():
    """Sync callers get a new event loop per call; the budget used in one must count in the next."""
    clock = FakeClock()
    lim = limiter(clock, requests_per_minute=60)
    assert acquire_times(lim, clock, [0]) == [0.0]
    assert acquire_times(lim, clock, [0]) == pytest.approx([1.0])


@pytest.mark.parametrize(("rate", "burst"), [(0, 1.0), (-5, 1.0), (60, 0.0)])
def test_bucket_rejects_nonsense(rate, burst):
    with pytest.raises(ValueError, match="must be > 0"):
        TokenBucket(rate, burst)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=6, max_value=6000),
    burst=st.floats(min_value=0.1, max_value=5),
    amounts=st.lists(st.floats(min_value=0, max_value=50), min_size=1, max_size=40),
)
def test_never_more_than_the_burst_plus_the_rate_in_any_window(rate, burst, amounts):
    """Whatever the request sizes, the units granted in [t0, t1] never exceed the bucket plus the
    refill over the window (plus the one oversized request a full bucket may let through)."""
    clock = FakeClock()
    lim = limiter(clock, tokens_per_minute=rate)
    lim.tokens.capacity = max(1.0, rate / 60 * burst)
    lim.tokens.level = lim.tokens.capacity
    times = acquire_times(lim, clock, amounts)
    capacity, per_second = lim.tokens.capacity, rate / 60
    for i in range(len(times)):
        for j in range(i, len(times)):
            granted = sum(amounts[i : j + 1])
            allowance = capacity + per_second * (times[j] - times[i]) + max(amounts[i : j + 1])
            assert granted <= allowance + 1e-6
    assert times == sorted(times)
