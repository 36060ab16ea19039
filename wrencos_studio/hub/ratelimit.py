"""Per-connection rate limits: token buckets, and a sliding window for registering."""

from __future__ import annotations

import time
from collections import deque

__all__ = ["TokenBucket", "WindowLimit"]


class TokenBucket:
    """``rate`` tokens a second, holding at most ``burst``.

    With rate 5 and burst 10: 5/s sustained and a burst of 10 always pass; of 40
    sent within one second at most 10 + 5 = 15 pass, under the contract's 20.
    """

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last = time.monotonic()

    def take(self, now: float | None = None) -> bool:
        """Spend one token if there is one."""
        if now is None:
            now = time.monotonic()
        tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False


class WindowLimit:
    """At most ``burst`` events in any ``burst / rate`` seconds (a sliding window).

    Stricter than a token bucket of the same figures: with rate 0.5 and burst 5, the
    first 5 within 10 s pass and every further one in those 10 s is refused, as the
    contract's register rule says (Trust rules, rule 2).
    """

    __slots__ = ("_times", "burst", "window")

    def __init__(self, rate: float, burst: int) -> None:
        self.burst = burst
        self.window = burst / rate
        self._times: deque[float] = deque()

    def take(self, now: float | None = None) -> bool:
        """Count one event if the window has room for it."""
        if now is None:
            now = time.monotonic()
        times = self._times
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) >= self.burst:
            return False
        times.append(now)
        return True
