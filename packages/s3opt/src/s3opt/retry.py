"""Full-jitter exponential backoff under an attempt limit and an overall deadline.

The schedule is AWS's "Exponential Backoff And Jitter" (Marc Brooker, AWS
Architecture Blog, 2015), the *Full Jitter* variant::

    sleep = uniform(0, min(max_delay, base_delay * 2**retry))     retry = 0, 1, 2, ...

Full jitter spreads the retries of many clients that failed together (a
throttled burst of part uploads) over the whole window, which is what lets
a throttled bucket recover. Pure logic: the clock and the random source are
injected, so tests run it without real time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Final

from s3opt.config import RetryConfig

__all__ = ["RetryBudget", "RetryPolicy", "backoff_cap"]

_MAX_EXPONENT: Final = 62
"""Beyond this the cap is max_delay anyway; stops 2**n from overflowing a float."""


def backoff_cap(retry: int, *, base_delay: float, max_delay: float) -> float:
    """The bound of the ``retry``-th backoff (from 0): ``min(max_delay, base * 2**retry)``."""
    if retry < 0:
        raise ValueError(f"retry must be >= 0, got {retry}")
    return min(max_delay, base_delay * 2.0 ** min(retry, _MAX_EXPONENT))


class RetryBudget:
    """The retry state of one request: attempts made, time left, the next backoff.

    Made by :meth:`RetryPolicy.begin` when the request starts. After each
    failed attempt call :meth:`next_delay`: it returns the seconds to sleep
    before the next attempt, or ``None`` when the request must give up (no
    attempts left, or the sleep would end past the deadline).
    """

    __slots__ = ("_clock", "_config", "_deadline_at", "_failures", "_rng", "_started")

    def __init__(
        self, config: RetryConfig, *, clock: Callable[[], float], rng: random.Random
    ) -> None:
        self._config = config
        self._clock = clock
        self._rng = rng
        self._started = clock()
        self._deadline_at = self._started + config.deadline
        self._failures = 0

    @property
    def attempts(self) -> int:
        """Attempts that failed so far (the one in progress is not counted)."""
        return self._failures

    @property
    def elapsed(self) -> float:
        """Seconds since the request started."""
        return self._clock() - self._started

    def remaining(self) -> float:
        """Seconds until the deadline (never negative)."""
        return max(0.0, self._deadline_at - self._clock())

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self._clock() >= self._deadline_at

    def next_delay(self) -> float | None:
        """Record a failed attempt; the backoff before the next one, or None to give up."""
        retry = self._failures
        self._failures += 1
        if self._failures >= self._config.max_attempts:
            return None
        cap = backoff_cap(
            retry, base_delay=self._config.base_delay, max_delay=self._config.max_delay
        )
        delay = self._rng.uniform(0.0, cap)
        if self._clock() + delay >= self._deadline_at:
            return None
        return delay


class RetryPolicy:
    """Makes a :class:`RetryBudget` per request from a :class:`RetryConfig`."""

    __slots__ = ("_clock", "_rng", "config")

    def __init__(
        self,
        config: RetryConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()

    def begin(self) -> RetryBudget:
        """A fresh budget for a request starting now."""
        return RetryBudget(self.config, clock=self._clock, rng=self._rng)
