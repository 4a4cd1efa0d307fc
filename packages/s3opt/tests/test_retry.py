"""Full-jitter backoff with a fake clock and scripted random numbers: no real time passes."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3opt.config import RetryConfig
from s3opt.retry import RetryPolicy, backoff_cap


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedRandom(random.Random):
    """uniform(a, b) returns ``a + fraction * (b - a)`` and records the bounds it was given."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction
        self.bounds: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return a + self.fraction * (b - a)


def test_cap_doubles_then_saturates() -> None:
    caps = [backoff_cap(n, base_delay=0.1, max_delay=1.0) for n in range(6)]
    assert caps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert backoff_cap(10_000, base_delay=0.1, max_delay=20.0) == 20.0  # no overflow
    with pytest.raises(ValueError, match="retry"):
        backoff_cap(-1, base_delay=0.1, max_delay=1.0)


def test_delay_is_uniform_between_zero_and_the_cap() -> None:
    rng = ScriptedRandom(1.0)
    config = RetryConfig(max_attempts=6, base_delay=0.5, max_delay=3.0, deadline=1000.0)
    budget = RetryPolicy(config, clock=FakeClock(), rng=rng).begin()
    delays = [budget.next_delay() for _ in range(5)]
    assert rng.bounds == [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0), (0.0, 3.0), (0.0, 3.0)]
    assert delays == pytest.approx([0.5, 1.0, 2.0, 3.0, 3.0])


def test_gives_up_after_max_attempts() -> None:
    config = RetryConfig(max_attempts=3, base_delay=0.1, max_delay=1.0, deadline=1000.0)
    budget = RetryPolicy(config, clock=FakeClock(), rng=ScriptedRandom(0.5)).begin()
    assert budget.next_delay() is not None  # attempt 1 failed -> retry
    assert budget.next_delay() is not None  # attempt 2 failed -> retry
    assert budget.next_delay() is None  # attempt 3 failed -> give up
    assert budget.attempts == 3


def test_single_attempt_never_retries() -> None:
    config = RetryConfig(max_attempts=1, base_delay=0.1, max_delay=1.0, deadline=1000.0)
    budget = RetryPolicy(config, clock=FakeClock(), rng=ScriptedRandom(0.5)).begin()
    assert budget.next_delay() is None


def test_deadline_stops_retries_that_would_end_past_it() -> None:
    clock = FakeClock()
    config = RetryConfig(max_attempts=100, base_delay=1.0, max_delay=8.0, deadline=10.0)
    budget = RetryPolicy(config, clock=clock, rng=ScriptedRandom(1.0)).begin()
    assert budget.remaining() == 10.0
    assert budget.next_delay() == 1.0
    clock.now += 1.0
    assert budget.next_delay() == 2.0
    clock.now += 2.0
    assert budget.next_delay() == 4.0  # ends at 7.0, before the deadline at 10.0
    clock.now += 4.0
    assert budget.next_delay() is None  # 7.0 + 8.0 would pass the deadline
    assert budget.remaining() == pytest.approx(3.0)
    clock.now += 5.0
    assert budget.expired()
    assert budget.remaining() == 0.0


def test_elapsed_follows_the_clock() -> None:
    clock = FakeClock()
    budget = RetryPolicy(RetryConfig(), clock=clock).begin()
    clock.now += 2.5
    assert budget.elapsed == pytest.approx(2.5)


@given(
    seed=st.integers(0, 2**32),
    base=st.floats(0.001, 5.0),
    factor=st.floats(1.0, 100.0),
    retries=st.integers(1, 40),
)
def test_every_delay_is_within_full_jitter_bounds(
    seed: int, base: float, factor: float, retries: int
) -> None:
    config = RetryConfig(
        max_attempts=retries + 1, base_delay=base, max_delay=base * factor, deadline=1e12
    )
    budget = RetryPolicy(config, clock=FakeClock(), rng=random.Random(seed)).begin()
    for n in range(retries):
        delay = budget.next_delay()
        assert delay is not None
        assert 0.0 <= delay <= min(base * factor, base * 2**n)
    assert budget.next_delay() is None


def test_jitter_spreads_delays() -> None:
    config = RetryConfig(max_attempts=2, base_delay=1.0, max_delay=1.0, deadline=1000.0)
    policy = RetryPolicy(config, clock=FakeClock(), rng=random.Random(7))
    delays = [policy.begin().next_delay() for _ in range(200)]
    values = [d for d in delays if d is not None]
    assert len(values) == 200
    assert min(values) < 0.1
    assert max(values) > 0.9
