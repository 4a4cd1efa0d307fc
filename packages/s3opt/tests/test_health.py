"""The circuit breaker's state machine and the endpoint's EWMAs, with a fake clock."""

from __future__ import annotations

import pytest

from s3opt.config import S3Config
from s3opt.errors import (
    AccessDeniedError,
    EndpointUnavailableError,
    ThrottledError,
    TransientError,
)
from s3opt.health import BreakerState, CircuitBreaker, EndpointHealth, Ewma


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _state(breaker: CircuitBreaker) -> BreakerState:
    """The state, read through a call so mypy does not narrow it between transitions."""
    return breaker.state


def _breaker(clock: FakeClock, threshold: int = 3, cooldown: float = 10.0) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=threshold, cooldown=cooldown, clock=clock)


def test_ewma() -> None:
    average = Ewma(0.5)
    assert average.value is None
    assert average.update(10.0) == 10.0
    assert average.update(20.0) == 15.0
    assert average.update(15.0) == 15.0
    with pytest.raises(ValueError, match="alpha"):
        Ewma(0.0)


def test_opens_after_n_consecutive_failures() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    for _ in range(2):
        assert breaker.try_acquire()
        breaker.record_failure()
    assert _state(breaker) is BreakerState.CLOSED
    breaker.record_success()  # resets the count
    for _ in range(2):
        breaker.record_failure()
    assert _state(breaker) is BreakerState.CLOSED
    breaker.record_failure()
    assert _state(breaker) is BreakerState.OPEN
    assert not breaker.try_acquire()
    assert breaker.retry_after() == 10.0


def test_half_open_lets_one_probe_and_closes_on_success() -> None:
    clock = FakeClock()
    breaker = _breaker(clock, threshold=1)
    breaker.record_failure()
    clock.now = 9.9
    assert not breaker.try_acquire()
    assert breaker.retry_after() == pytest.approx(0.1)
    clock.now = 10.0
    assert _state(breaker) is BreakerState.HALF_OPEN
    assert breaker.try_acquire()  # the probe
    assert not breaker.try_acquire()  # others still fail fast
    breaker.record_success()
    assert _state(breaker) is BreakerState.CLOSED
    assert breaker.try_acquire()
    assert breaker.try_acquire()


def test_failed_probe_opens_again_for_a_full_cooldown() -> None:
    clock = FakeClock()
    breaker = _breaker(clock, threshold=2, cooldown=5.0)
    breaker.record_failure()
    breaker.record_failure()
    clock.now = 5.0
    assert breaker.try_acquire()
    breaker.record_failure()  # one failure in half-open is enough
    assert _state(breaker) is BreakerState.OPEN
    assert breaker.retry_after() == 5.0
    clock.now = 9.9
    assert not breaker.try_acquire()
    clock.now = 10.0
    assert breaker.try_acquire()


def test_abandoned_probe_frees_the_half_open_slot() -> None:
    clock = FakeClock()
    breaker = _breaker(clock, threshold=1, cooldown=1.0)
    breaker.record_failure()
    clock.now = 1.0
    assert breaker.try_acquire()
    breaker.release()  # the probe was cancelled: no verdict
    assert breaker.try_acquire()


def test_invalid_settings() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError, match="cooldown"):
        CircuitBreaker(cooldown=0)


def test_endpoint_health_counts_only_endpoint_failures() -> None:
    clock = FakeClock()
    health = EndpointHealth("http://s3.example:9000", failure_threshold=2, clock=clock)
    health.on_failure(TransientError("put_object s3://b/k: server error: 500"))
    health.on_failure(ThrottledError("put_object s3://b/k: throttled"))  # resets: S3 answered
    health.on_failure(TransientError("put_object s3://b/k: server error: 500"))
    health.on_failure(AccessDeniedError("put_object s3://b/k: access denied"))
    health.on_failure(TransientError("put_object s3://b/k: server error: 500"))
    assert _state(health.breaker) is BreakerState.CLOSED
    assert health.error_rate.value == 1.0
    health.on_success(0.05)
    assert health.latency.value == 0.05
    assert health.error_rate.value is not None
    assert health.error_rate.value < 1.0


def test_endpoint_health_message_when_open() -> None:
    clock = FakeClock()
    health = EndpointHealth("http://s3.example:9000", failure_threshold=2, cooldown=30, clock=clock)
    for _ in range(2):
        health.before_attempt()
        health.on_failure(TransientError("head_object s3://b/k: cannot connect: refused"))
    clock.now = 12.0
    with pytest.raises(EndpointUnavailableError) as info:
        health.before_attempt(bucket="b", key="k")
    message = str(info.value)
    assert message == (
        "endpoint http://s3.example:9000 is unavailable: "
        "cannot connect: refused; circuit breaker open, no request goes to it for 18.0s"
    )
    assert (info.value.bucket, info.value.key) == ("b", "k")
    assert "breaker=open" in repr(health)


def test_for_config_uses_the_breaker_settings() -> None:
    config = S3Config(endpoint_url="http://minio:9000", circuit_failures=2, circuit_cooldown=7.0)
    clock = FakeClock()
    health = EndpointHealth.for_config(config, clock=clock)
    assert health.endpoint == "http://minio:9000"
    for _ in range(2):
        health.on_failure(TransientError("x s3://b/k: server error: 500"))
    assert _state(health.breaker) is BreakerState.OPEN
    assert health.breaker.retry_after() == 7.0
