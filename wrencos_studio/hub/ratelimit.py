"""Per-connection token buckets."""

from __future__ import annotations

import time

__all__ = ["TokenBucket"]


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
