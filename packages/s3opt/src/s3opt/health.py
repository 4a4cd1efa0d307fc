"""Per-endpoint health: latency and error-rate EWMAs, and a circuit breaker.

The breaker (Nygard, *Release It!*) stops a client from hammering an
endpoint that is down, and turns "nothing answers" into one clear error
instead of every request timing out on its own:

* **closed**: requests flow; ``failure_threshold`` consecutive failures open it.
  Only failures that say the endpoint itself is in trouble count: connect
  failures and transient errors (5xx, timeouts, resets). A throttle is an
  answer (S3 is up and asks us to slow down: the limiter's business), and so
  is a fatal 4xx; both reset the count.
* **open**: requests fail at once with :class:`EndpointUnavailableError` until
  ``cooldown`` seconds have passed.
* **half-open**: one probe request goes through; success closes the breaker,
  failure opens it again for another cool-down. Other requests keep failing
  fast while the probe is out.

The clock is injected (``time.monotonic`` by default) so tests drive it.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from s3opt.errors import EndpointUnavailableError, S3OptError, ThrottledError, TransientError

if TYPE_CHECKING:
    from s3opt.config import S3Config

__all__ = ["BreakerState", "CircuitBreaker", "EndpointHealth", "Ewma", "is_endpoint_failure"]

_logger = logging.getLogger(__name__)


def _reason(error: S3OptError) -> str:
    """What went wrong, without the ``operation s3://bucket/key: `` prefix of the message."""
    text = str(error)
    head, sep, rest = text.partition(": ")
    return rest if sep and " s3://" in head else text


def is_endpoint_failure(error: S3OptError) -> bool:
    """Whether ``error`` says the endpoint itself is in trouble (connect failure, 5xx,
    timeout, reset), as opposed to an answer (a throttle or a fatal 4xx)."""
    return isinstance(error, TransientError) and not isinstance(error, ThrottledError)


class Ewma:
    """An exponentially weighted moving average; ``None`` until the first sample."""

    __slots__ = ("_alpha", "_value")

    def __init__(self, alpha: float) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self._alpha = alpha
        self._value: float | None = None

    @property
    def value(self) -> float | None:
        return self._value

    def update(self, sample: float) -> float:
        """Fold in ``sample``; the first sample is taken as is."""
        if self._value is None:
            self._value = sample
        else:
            self._value += self._alpha * (sample - self._value)
        return self._value


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """closed -> open after N consecutive failures -> half-open after a cool-down -> ..."""

    __slots__ = (
        "_clock",
        "_consecutive",
        "_cooldown",
        "_opened_at",
        "_probe_out",
        "_state",
        "_threshold",
    )

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        if cooldown <= 0:
            raise ValueError(f"cooldown must be positive, got {cooldown}")
        self._threshold = failure_threshold
        self._cooldown = cooldown
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._probe_out = False

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker past its cool-down reads as half-open."""
        if self._state is BreakerState.OPEN and self.retry_after() <= 0:
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._cooldown - self._clock())

    def try_acquire(self) -> bool:
        """Whether a request may go now; in half-open, True once (that request is the probe)."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if self.retry_after() > 0:
                return False
            self._state = BreakerState.HALF_OPEN
            self._probe_out = False
        if self._probe_out:
            return False
        self._probe_out = True
        return True

    def record_success(self) -> None:
        """The endpoint answered: close the breaker."""
        if self._state is not BreakerState.CLOSED:
            _logger.info("circuit breaker closed: the endpoint answered again")
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._probe_out = False

    def record_failure(self) -> None:
        """The endpoint failed (connect failure, 5xx, timeout, reset)."""
        self._consecutive += 1
        if self._state is BreakerState.HALF_OPEN or (
            self._state is BreakerState.CLOSED and self._consecutive >= self._threshold
        ):
            self._open()

    def release(self) -> None:
        """A request admitted by :meth:`try_acquire` ended with no verdict (cancelled)."""
        self._probe_out = False

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._probe_out = False


class EndpointHealth:
    """One endpoint's health: EWMAs of latency and error rate, and its circuit breaker.

    :class:`s3opt._requests.Requester` calls :meth:`before_attempt` before each
    attempt and :meth:`on_success` / :meth:`on_failure` / :meth:`on_abandoned`
    after it. Share one instance among everything that talks to the same endpoint.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        failure_threshold: int = 5,
        cooldown: float = 10.0,
        alpha: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self.breaker = CircuitBreaker(
            failure_threshold=failure_threshold, cooldown=cooldown, clock=clock
        )
        self.latency = Ewma(alpha)
        """Seconds per successful attempt."""
        self.error_rate = Ewma(alpha)
        """Fraction of attempts that failed (throttles and fatal errors included)."""
        self._last_reason = "no answer"

    @classmethod
    def for_config(
        cls, config: S3Config, *, clock: Callable[[], float] = time.monotonic
    ) -> EndpointHealth:
        """The health of ``config``'s endpoint, with its breaker settings."""
        return cls(
            config.endpoint_url or "https://s3.amazonaws.com",
            failure_threshold=config.circuit_failures,
            cooldown=config.circuit_cooldown,
            clock=clock,
        )

    def before_attempt(self, *, bucket: str | None = None, key: str | None = None) -> None:
        """Raise :class:`EndpointUnavailableError` if the breaker is open; else admit."""
        if self.breaker.try_acquire():
            return
        wait = self.breaker.retry_after()
        raise EndpointUnavailableError(
            f"endpoint {self.endpoint} is unavailable: {self._last_reason}; "
            f"circuit breaker open, no request goes to it for {wait:.1f}s",
            bucket=bucket,
            key=key,
        )

    def on_success(self, latency: float) -> None:
        """An attempt got a good answer in ``latency`` seconds."""
        self.latency.update(latency)
        self.error_rate.update(0.0)
        self.breaker.record_success()

    def on_failure(self, error: S3OptError) -> None:
        """An attempt failed with the (classified) ``error``."""
        self.error_rate.update(1.0)
        if is_endpoint_failure(error):
            self._last_reason = _reason(error)
            self.breaker.record_failure()
        else:
            # Throttles and fatal answers prove the endpoint is up.
            self.breaker.record_success()

    def on_abandoned(self) -> None:
        """An attempt was cancelled before it had an outcome."""
        self.breaker.release()

    def __repr__(self) -> str:
        latency = self.latency.value
        errors = self.error_rate.value
        return (
            f"EndpointHealth({self.endpoint}, breaker={self.breaker.state.value}, "
            f"latency={'-' if latency is None else f'{latency:.3f}s'}, "
            f"error_rate={'-' if errors is None else f'{errors:.2f}'})"
        )
