"""Token buckets that keep a client under a server's requests-per-minute and tokens-per-minute limits.

Hosted APIs enforce their per-minute limits over much shorter windows, so a client that fires a whole
minute's budget at once collects 429s. A bucket refills continuously at ``rate / 60`` per second and
holds at most ``burst`` seconds' worth, which spreads requests evenly. A request larger than the whole
bucket (a long prompt under a small token limit) is let through once the bucket is full and leaves it
in debt, so it waits its fair share instead of deadlocking.

Token counts are only known after the response, so callers take an estimate up front
(``acquire(tokens=estimate)``) and correct it afterwards (``settle(estimate, actual)``).

The clock and the sleep function are parameters, so tests run minutes of pacing in microseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """``rate_per_minute`` units per minute, at most ``burst`` seconds of them saved up."""

    def __init__(
        self, rate_per_minute: float, burst: float = 1.0, clock: Callable[[], float] = time.monotonic
    ):
        if rate_per_minute <= 0:
            raise ValueError(f"rate_per_minute must be > 0, got {rate_per_minute}")
        if burst <= 0:
            raise ValueError(f"burst must be > 0 seconds, got {burst}")
        self.rate = rate_per_minute / 60.0  # units per second
        # At least one unit, so a 30-requests-per-minute bucket can still hold one request.
        self.capacity = max(1.0, self.rate * burst)
        self.clock = clock
        self.level = self.capacity  # start full: the first requests go at once
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_time(self, amount: float) -> float:
        """Seconds until ``amount`` may be taken (0 if now). Oversized amounts need a full bucket."""
        self._refill()
        needed = min(amount, self.capacity)
        if self.level >= needed:
            return 0.0
        return (needed - self.level) / self.rate

    def take(self, amount: float) -> None:
        """Take ``amount`` (the level may go negative: debt is paid back by waiting)."""
        self._refill()
        self.level -= amount

    def give(self, amount: float) -> None:
        """Return ``amount`` (an over-estimate); the level never exceeds the capacity."""
        self._refill()
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Requests and tokens per minute for one client; ``None`` means no limit of that kind.

    Waiters are served first come, first served (one lock), so no request starves. ``pause(seconds)``
    holds everyone back after a 429, because a rate limit is shared by the whole account, not by the
    one request that happened to see it.
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.requests = TokenBucket(requests_per_minute, burst, clock) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute, burst, clock) if tokens_per_minute else None
        self.clock = clock
        self.sleep = sleep
        self.paused_until = float("-inf")
        self.waited = 0.0  # total seconds spent waiting, for stats
        self._locks: dict[int, asyncio.Lock] = {}

    def _lock(self) -> asyncio.Lock:
        # asyncio locks belong to one event loop; sync callers get a fresh loop per generate() call.
        loop_id = id(asyncio.get_running_loop())
        if loop_id not in self._locks:
            self._locks = {loop_id: asyncio.Lock()}
        return self._locks[loop_id]

    def wait_time(self, tokens: float) -> float:
        waits = [self.paused_until - self.clock()]
        if self.requests is not None:
            waits.append(self.requests.wait_time(1))
        if self.tokens is not None:
            waits.append(self.tokens.wait_time(tokens))
        return max(0.0, *waits)

    async def acquire(self, tokens: float = 0.0) -> float:
        """Wait until one request of about ``tokens`` tokens may be sent; returns seconds waited."""
        waited = 0.0
        async with self._lock():
            # After sleeping the computed delay, float rounding can leave ~1e-17 s "to go": not a wait.
            while (delay := self.wait_time(tokens)) > 1e-9:
                await self.sleep(delay)
                waited += delay
            if self.requests is not None:
                self.requests.take(1)
            if self.tokens is not None:
                self.tokens.take(tokens)
        self.waited += waited
        return waited

    def settle(self, estimated: float, actual: float) -> None:
        """Correct an up-front token estimate once the response reports the real count."""
        if self.tokens is None:
            return
        if actual > estimated:
            self.tokens.take(actual - estimated)
        else:
            self.tokens.give(estimated - actual)

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now (e.g. a 429's Retry-After)."""
        self.paused_until = max(self.paused_until, self.clock() + seconds)
