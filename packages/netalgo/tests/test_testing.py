"""Tests of netalgo.testing: the virtual-time event loop and the controller conformance check."""

from __future__ import annotations

import asyncio
import math
import random
import time

import pytest

from netalgo import testing
from netalgo.bbr import BBR
from netalgo.cubic import Cubic
from netalgo.limiter import fixed
from netalgo.protocols import AckSample, LossEvent
from netalgo.reno import NewReno

# -- virtual time ------------------------------------------------------------------------------


def test_sleep_jumps_virtual_time_without_real_sleeping() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600.0)
        return start, loop.time()

    wall = time.perf_counter()
    start, end = testing.run(main())
    assert start == 0.0
    assert end == 3600.0
    assert time.perf_counter() - wall < 1.0


def test_timers_fire_in_order_at_their_virtual_deadlines() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        log: list[tuple[str, float]] = []

        async def sleeper(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            log.append((name, loop.time()))

        await asyncio.gather(sleeper("c", 3.0), sleeper("a", 1.0), sleeper("b", 2.5))
        return log

    assert testing.run(main()) == [("a", 1.0), ("b", 2.5), ("c", 3.0)]


def test_asyncio_timeout_expires_at_the_virtual_deadline() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2.0):
                await asyncio.sleep(10.0)
        return loop.time()

    assert testing.run(main()) == 2.0


def test_run_starts_at_the_clock_start_and_returns_the_result() -> None:
    clock = testing.VirtualClock(start=100.0)

    async def main() -> float:
        await asyncio.sleep(0.5)
        return asyncio.get_running_loop().time()

    assert testing.run(main(), clock=clock) == 100.5
    assert clock.time() == 100.5


def test_threads_still_complete_under_virtual_time() -> None:
    async def main() -> tuple[int, float]:
        loop = asyncio.get_running_loop()

        def work() -> int:
            time.sleep(0.01)
            return 42

        value = await asyncio.to_thread(work)
        return value, loop.time()

    # No timer was pending, so the loop waited for the thread in real time and
    # virtual time did not move.
    assert testing.run(main()) == (42, 0.0)


def test_manual_jump_makes_due_timers_fire() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, testing.VirtualTimeLoop)
        fired: list[float] = []
        loop.call_later(5.0, lambda: fired.append(loop.time()))
        loop.clock.jump(7.0)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return fired[0]

    assert testing.run(main()) == 7.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"start": math.nan}, "start"),
        ({"start": math.inf}, "start"),
        ({"autojump_threshold": -1.0}, "autojump_threshold"),
    ],
)
def test_virtual_clock_rejects_bad_input(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        testing.VirtualClock(**kwargs)


def test_jump_rejects_going_backwards() -> None:
    clock = testing.VirtualClock()
    with pytest.raises(ValueError, match="seconds"):
        clock.jump(-1.0)
    with pytest.raises(ValueError, match="seconds"):
        clock.jump(math.nan)
    assert clock.time() == 0.0


# -- check_controller --------------------------------------------------------------------------


class Recorder:
    """Wraps a controller and checks that the trace itself is well formed."""

    def __init__(self, inner: NewReno) -> None:
        self.inner = inner
        self.in_flight = 0
        self.last_now = -math.inf
        self.timeouts = 0
        self.losses = 0
        self.app_limited = 0
        self.ambiguous = 0
        self.stretch = 0

    @property
    def cwnd(self) -> int:
        return self.inner.cwnd

    @property
    def pacing_rate(self) -> float | None:
        return self.inner.pacing_rate

    @property
    def state(self) -> str:
        return self.inner.state

    def _tick(self, now: float) -> None:
        assert now >= self.last_now
        self.last_now = now

    def on_sent(self, now: float, sent_bytes: int, bytes_in_flight: int) -> None:
        self._tick(now)
        self.in_flight += sent_bytes
        assert bytes_in_flight == self.in_flight
        self.inner.on_sent(now, sent_bytes, bytes_in_flight)

    def on_ack(self, sample: AckSample) -> None:
        self._tick(sample.now)
        self.in_flight -= sample.acked_bytes
        assert sample.bytes_in_flight == self.in_flight
        assert sample.rate is not None
        self.app_limited += sample.rate.is_app_limited
        self.ambiguous += sample.rtt is None
        self.stretch += sample.acked_bytes > 1460
        self.inner.on_ack(sample)

    def on_loss(self, event: LossEvent) -> None:
        self._tick(event.now)
        self.in_flight -= event.lost_bytes
        assert event.bytes_in_flight == self.in_flight
        assert event.packet is not None
        assert event.packet.sent_time == event.sent_time
        self.losses += 1
        self.timeouts += event.is_timeout
        self.inner.on_loss(event)


def test_trace_is_well_formed_and_covers_every_scenario() -> None:
    rec = Recorder(NewReno())
    states = testing.check_controller(rec)
    # The trace drives NewReno through loss recovery (RFC 6582) and back.
    assert states[:3] == ("SlowStart", "Recovery", "CongestionAvoidance")
    assert rec.losses > rec.timeouts > 0  # detected losses and retransmission timeouts
    assert rec.app_limited > 0
    assert rec.ambiguous > 0
    assert rec.stretch > 0


@pytest.mark.parametrize("factory", [NewReno, Cubic, lambda: fixed(4)])
def test_library_controllers_pass(factory: object) -> None:
    assert callable(factory)
    states = testing.check_controller(factory())
    assert states
    assert all(isinstance(s, str) and s for s in states)


def test_bbr_passes() -> None:
    states = testing.check_controller(BBR(rng=random.Random(1)))
    assert "Startup" in "".join(states)


class Broken(NewReno):
    """NewReno with one Protocol violation switched on after the first loss."""

    def __init__(self, fault: str) -> None:
        super().__init__()
        self.fault = fault
        self.lost = False

    @property
    def cwnd(self) -> int:
        if self.lost and self.fault == "zero_cwnd":
            return 0
        if self.lost and self.fault == "float_cwnd":
            return 1460.0  # type: ignore[return-value]
        return super().cwnd

    @property
    def pacing_rate(self) -> float | None:
        return math.nan if self.lost and self.fault == "nan_pacing" else None

    @property
    def state(self) -> str:
        return "" if self.lost and self.fault == "empty_state" else super().state

    def on_loss(self, event: LossEvent) -> None:
        if self.fault == "raise_on_timeout" and event.is_timeout:
            raise RuntimeError("boom")
        super().on_loss(event)
        self.lost = True


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("zero_cwnd", "cwnd must be an int > 0, got 0"),
        ("float_cwnd", "cwnd must be an int > 0, got 1460.0"),
        ("nan_pacing", "pacing_rate must be None or a finite number > 0, got nan"),
        ("empty_state", "state must be a non-empty str"),
    ],
)
def test_violations_are_reported_with_the_call_that_caused_them(fault: str, message: str) -> None:
    with pytest.raises(AssertionError, match=message) as info:
        testing.check_controller(Broken(fault))
    assert "after on_loss at t=" in str(info.value)


def test_controller_exceptions_propagate_with_a_note() -> None:
    with pytest.raises(RuntimeError, match="boom") as info:
        testing.check_controller(Broken("raise_on_timeout"))
    assert any("raised by on_loss" in note for note in info.value.__notes__)


def test_check_controller_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="CongestionController"):
        testing.check_controller(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mss"):
        testing.check_controller(NewReno(), mss=0)
