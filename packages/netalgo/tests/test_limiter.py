"""Tests of netalgo.limiter: admission, pacing, signals, cancellation, and steering a simulated S3.

Everything except the last test runs on netalgo.testing's virtual-time loop,
so times are exact and no test sleeps for real.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from typing import TYPE_CHECKING, Any

import pytest

from netalgo import testing
from netalgo.bbr import BBR
from netalgo.cubic import Cubic
from netalgo.limiter import CODEL_TARGET, UNBOUNDED_CWND, Limiter, Slot, default_classify, fixed
from netalgo.protocols import AckSample, CongestionController, LossEvent
from netalgo.reno import NewReno

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine


def run(main: Coroutine[Any, Any, Any]) -> Any:
    return testing.run(main)


def now() -> float:
    return asyncio.get_running_loop().time()


class Scripted:
    """A controller whose window and pacing rate the test sets by hand; it records every call."""

    def __init__(self, cwnd: int = 10_000, pacing_rate: float | None = None) -> None:
        self.window = cwnd
        self.rate = pacing_rate
        self.sent: list[tuple[float, int, int]] = []
        self.acks: list[AckSample] = []
        self.losses: list[LossEvent] = []

    @property
    def cwnd(self) -> int:
        return self.window

    @property
    def pacing_rate(self) -> float | None:
        return self.rate

    @property
    def state(self) -> str:
        return "scripted"

    def on_sent(self, now: float, sent_bytes: int, bytes_in_flight: int) -> None:
        self.sent.append((now, sent_bytes, bytes_in_flight))

    def on_ack(self, sample: AckSample) -> None:
        self.acks.append(sample)

    def on_loss(self, event: LossEvent) -> None:
        self.losses.append(event)


class SlowDownError(Exception):
    """The simulated endpoint's 503 SlowDownError."""


def classify_s3(exc: BaseException) -> bool:
    return isinstance(exc, SlowDownError) or default_classify(exc)


# -- (4) bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("nbytes", [0, -1, math.nan, math.inf, 1.5, True])
def test_slot_rejects_bad_sizes(nbytes: Any) -> None:
    limiter = Limiter(Scripted())
    with pytest.raises(ValueError, match="nbytes"):
        limiter.slot(nbytes)


@pytest.mark.parametrize("n", [0, -3, 2.0, True])
def test_fixed_rejects_bad_counts(n: Any) -> None:
    with pytest.raises(ValueError, match="n must be an integer > 0"):
        fixed(n)


def test_limiter_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_ops"):
        Limiter(Scripted(), max_ops=0)
    with pytest.raises(ValueError, match="min_rtt_window"):
        Limiter(Scripted(), min_rtt_window=math.nan)
    with pytest.raises(TypeError, match="CongestionController"):
        Limiter(object())  # type: ignore[arg-type]
    for bad in (0.0, -0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match="queue_target"):
            Limiter(Scripted(), queue_target=bad)


def test_clock_going_backwards_is_rejected() -> None:
    times = iter([5.0, 4.0])

    async def main() -> None:
        limiter = Limiter(Scripted(), clock=lambda: next(times))
        with pytest.raises(ValueError, match="now went backwards"):
            async with limiter.slot(100):
                pass

    run(main())


def test_a_slot_is_entered_once() -> None:
    async def main() -> None:
        limiter = Limiter(Scripted())
        slot = limiter.slot(100)
        async with slot:
            pass
        with pytest.raises(RuntimeError, match="once"):
            async with slot:
                pass

    run(main())


# -- fixed(n) ----------------------------------------------------------------------------------


def test_fixed_satisfies_the_protocol_and_caps_operations() -> None:
    controller = fixed(3)
    assert isinstance(controller, CongestionController)
    assert controller.cwnd == UNBOUNDED_CWND
    assert controller.pacing_rate is None
    assert controller.state == "fixed"
    assert Limiter(controller).max_ops == 3
    assert Limiter(controller, max_ops=2).max_ops == 2  # the smaller cap wins
    assert Limiter(Scripted()).max_ops is None

    async def main() -> list[int]:
        limiter = Limiter(controller)
        seen: list[int] = []

        async def op(size: int) -> None:
            async with limiter.slot(size):
                seen.append(limiter.ops_in_flight)
                await asyncio.sleep(1.0)

        # Sizes from one byte to 1 GiB: the count, not the bytes, is the limit.
        await asyncio.gather(*(op(1 << (3 * i)) for i in range(11)))
        return seen

    seen = run(main())
    assert max(seen) == 3
    assert seen[:3] == [1, 2, 3]


# -- (3) window, single-op rule, pacing, FIFO --------------------------------------------------


def test_admission_respects_the_window_except_for_a_single_operation() -> None:
    sizes = [3000, 9000, 25_000, 1000, 4000, 6000, 2000, 12_000, 500, 7000]

    async def main() -> Scripted:
        controller = Scripted(cwnd=10_000)
        limiter = Limiter(controller)

        async def op(i: int, size: int) -> None:
            async with limiter.slot(size):
                await asyncio.sleep(0.1 + 0.03 * (i % 4))
                controller.window = 8000 + 1000 * (i % 5)  # the window moves as acks arrive

        await asyncio.gather(*(op(i, s) for i, s in enumerate(sizes * 3)))
        assert limiter.bytes_in_flight == 0
        assert limiter.ops_in_flight == 0
        return controller

    controller = run(main())
    assert len(controller.sent) == 30
    windows = {8000, 9000, 10_000, 11_000, 12_000}
    for _, size, in_flight in controller.sent:
        # bytes_in_flight includes this send; above the window only when it is alone.
        assert in_flight <= max(windows) or in_flight == size
    # The 25 000-byte op exceeds every window: it ran alone.
    assert [f for _, s, f in controller.sent if s == 25_000] == [25_000] * 3


def test_waiters_are_admitted_in_fifo_order() -> None:
    async def main() -> list[str]:
        limiter = Limiter(Scripted(cwnd=10_000))
        order: list[str] = []

        async def op(name: str, size: int, start: float, hold: float) -> None:
            await asyncio.sleep(start)
            async with limiter.slot(size):
                order.append(f"{name}@{now()}")
                await asyncio.sleep(hold)

        await asyncio.gather(
            op("A", 8000, 0.0, 1.0),
            op("B", 6000, 0.1, 1.0),  # 8000 + 6000 > 10 000: waits for A
            op("C", 1000, 0.2, 1.0),  # would fit beside A, but queues behind B
        )
        return order

    assert run(main()) == ["A@0.0", "B@1.0", "C@1.0"]


def test_pacing_spaces_admissions_by_size_over_rate() -> None:
    sizes = [100_000, 250_000, 50_000, 400_000]

    async def main() -> list[float]:
        controller = Scripted(cwnd=UNBOUNDED_CWND, pacing_rate=1_000_000.0)
        limiter = Limiter(controller)

        async def op(size: int) -> None:
            async with limiter.slot(size):
                await asyncio.sleep(5.0)

        await asyncio.gather(*(op(s) for s in sizes))
        return [t for t, _, _ in controller.sent]

    # At 1e6 B/s an admission of n bytes waits n / 1e6 s after the previous one:
    # 0, 0 + 0.25, 0.25 + 0.05, 0.30 + 0.40.
    assert run(main()) == pytest.approx([0.0, 0.25, 0.30, 0.70], abs=1e-9)


def test_pacing_rate_changes_take_effect_for_the_next_admission() -> None:
    async def main() -> list[float]:
        controller = Scripted(cwnd=UNBOUNDED_CWND, pacing_rate=1000.0)
        limiter = Limiter(controller)

        async def op(size: int) -> None:
            async with limiter.slot(size):
                controller.rate = 4000.0
                await asyncio.sleep(10.0)

        await asyncio.gather(op(1000), op(1000), op(2000))
        return [t for t, _, _ in controller.sent]

    # First admission at 0 sets the rate to 4000 B/s: 1000 / 4000 = 0.25, 2000 / 4000 = 0.5.
    assert run(main()) == pytest.approx([0.0, 0.25, 0.75], abs=1e-9)


# -- signals: ack, loss, failure ---------------------------------------------------------------


def test_completion_gives_an_ack_sample_with_the_operation_duration() -> None:
    async def main() -> Scripted:
        controller = Scripted(cwnd=100_000)
        limiter = Limiter(controller)
        await asyncio.sleep(1.0)
        async with limiter.slot(4000):
            await asyncio.sleep(0.25)
        assert limiter.acks == 1
        assert limiter.min_rtt == 0.25
        return controller

    controller = run(main())
    assert controller.sent == [(1.0, 4000, 4000)]
    (ack,) = controller.acks
    assert ack.now == 1.25
    assert ack.acked_bytes == 4000
    assert ack.bytes_in_flight == 0
    assert ack.sent_time == 1.0
    assert ack.rtt == 0.25
    assert ack.rate is not None
    # draft-cheng-iccrg-delivery-rate-estimation §3.3: interval = max(send_elapsed = 0,
    # ack_elapsed = 0.25) = 0.25 s, not below min_rtt (0.25), so rate = 4000 / 0.25.
    assert ack.rate.delivery_rate == 16_000.0
    assert ack.rate.newly_acked == 4000
    # Alone, with room for another 4000 bytes and nobody waiting: app-limited (§3.4).
    assert ack.rate.is_app_limited


def test_a_saturated_window_is_not_app_limited() -> None:
    async def main() -> Scripted:
        controller = Scripted(cwnd=4000)
        limiter = Limiter(controller)

        async def op() -> None:
            async with limiter.slot(4000):
                await asyncio.sleep(0.1)

        await asyncio.gather(*(op() for _ in range(3)))
        return controller

    controller = run(main())
    assert [a.rate.is_app_limited for a in controller.acks if a.rate] == [False] * 3
    # Three 0.1 s ops back to back; each sample covers one op: 4000 B / 0.1 s.
    assert [a.rate.delivery_rate for a in controller.acks if a.rate] == pytest.approx(
        [40_000.0] * 3
    )


def test_congestion_exception_gives_a_loss_event_and_is_reraised() -> None:
    async def main() -> tuple[Scripted, Limiter]:
        controller = Scripted()
        limiter = Limiter(controller, classify=classify_s3)

        async def throttled() -> None:
            async with limiter.slot(2000):
                await asyncio.sleep(0.5)
                raise SlowDownError

        async with limiter.slot(1000):
            await asyncio.sleep(0.1)  # keep one in flight while the other fails
            with pytest.raises(SlowDownError):
                await throttled()
        return controller, limiter

    controller, limiter = run(main())
    (loss,) = controller.losses
    assert loss.now == 0.6
    assert loss.lost_bytes == 2000
    assert loss.bytes_in_flight == 1000
    assert loss.sent_time == 0.1
    assert loss.packet is not None
    assert loss.packet.size == 2000
    assert loss.packet.tx_in_flight == 3000
    assert not loss.is_timeout
    assert isinstance(loss.cause, SlowDownError)  # the failure itself, for wrappers to tell apart
    assert limiter.losses == 1
    assert limiter.acks == 1
    assert len(controller.acks) == 1
    assert limiter.estimator.lost == 2000


def test_timeouts_and_resets_are_congestion_by_default() -> None:
    async def main() -> Limiter:
        limiter = Limiter(Scripted())
        with pytest.raises(TimeoutError):
            async with limiter.slot(1000), asyncio.timeout(1.0):  # a request timeout
                await asyncio.sleep(5.0)
        with pytest.raises(ConnectionResetError):
            async with limiter.slot(1000):
                raise ConnectionResetError
        return limiter

    limiter = run(main())
    assert limiter.losses == 2
    assert limiter.bytes_in_flight == 0


def test_other_exceptions_release_without_a_signal() -> None:
    async def main() -> tuple[Scripted, Limiter]:
        controller = Scripted()
        limiter = Limiter(controller, classify=classify_s3)
        with pytest.raises(KeyError):
            async with limiter.slot(1000):
                raise KeyError("NoSuchKey")
        return controller, limiter

    controller, limiter = run(main())
    assert controller.acks == []
    assert controller.losses == []
    assert limiter.failures == 1
    assert limiter.bytes_in_flight == 0


def test_explicit_marks_override_the_exit() -> None:
    async def main() -> tuple[Scripted, Limiter]:
        controller = Scripted()
        limiter = Limiter(controller)
        slot: Slot
        async with limiter.slot(1000) as slot:
            slot.congested()  # the body saw a 503 and handled it itself
        async with limiter.slot(1000) as slot:
            slot.failed()

        async def marked_then_raised() -> None:
            async with limiter.slot(1000) as slot:
                slot.congested()
                raise KeyError("not congestion by itself, but the body said so")

        with pytest.raises(KeyError):
            await marked_then_raised()
        return controller, limiter

    controller, limiter = run(main())
    assert (limiter.acks, limiter.losses, limiter.failures) == (0, 2, 1)
    assert len(controller.losses) == 2
    assert controller.acks == []


# -- standing-queue marks (RFC 8289's rule, RFC 3168's CE) -------------------------------------


def test_marks_start_after_a_full_interval_above_target_and_stop_below_it() -> None:
    """One operation at a time, with durations chosen by hand; target 10% of min 1.0 s.

    RFC 8289 section 5.5: the first completion at or above target (queue delay
    >= 0.1 s) starts an interval of one minimum duration (1.0 s); completions
    at or after its end are marked while they stay above target; one below
    target ends the state, and the next one above starts a new interval.
    """
    durations = [1.0, 1.2, 1.05, 1.3, 1.15, 1.15, 0.9, 1.2, 1.2, 1.2]

    async def main() -> tuple[Scripted, Limiter]:
        controller = Scripted()
        limiter = Limiter(controller, queue_target=0.1)
        for d in durations:
            async with limiter.slot(100):
                await asyncio.sleep(d)
        return controller, limiter

    controller, limiter = run(main())
    # Ends: 1.0 (min 1.0), 2.2 (+0.2: interval to 3.2), 3.25 (+0.05 < 0.1: reset),
    # 4.55 (+0.3: interval to 5.55), 5.7 (>= 5.55: mark), 6.85 (+0.15: mark),
    # 7.75 (0.9 is a new min: queue 0, reset), 8.95 (+0.3 over 0.9: interval to 9.85),
    # 10.15 (mark), 11.35 (mark).
    assert [a.ce_marked for a in controller.acks] == [
        False, False, False, False, True, True, False, False, True, True,
    ]  # fmt: skip
    assert limiter.marks == 4
    assert limiter.queue_target == 0.1


def test_no_marks_without_a_queue_target() -> None:
    async def main() -> Scripted:
        controller = Scripted()
        limiter = Limiter(controller)
        for d in (1.0, 3.0, 3.0, 3.0):
            async with limiter.slot(100):
                await asyncio.sleep(d)
        assert limiter.marks == 0
        assert limiter.queue_target is None
        return controller

    assert not any(a.ce_marked for a in run(main()).acks)


# -- cancellation ------------------------------------------------------------------------------


def test_cancelling_a_waiter_releases_its_place() -> None:
    async def main() -> list[str]:
        limiter = Limiter(Scripted(cwnd=1000))
        order: list[str] = []

        async def op(name: str) -> None:
            async with limiter.slot(1000):
                order.append(name)
                await asyncio.sleep(1.0)

        first = asyncio.create_task(op("first"))
        waiting = asyncio.create_task(op("cancelled"))
        last = asyncio.create_task(op("last"))
        await asyncio.sleep(0.5)
        assert limiter.waiting == 2
        waiting.cancel()
        await asyncio.gather(first, last, return_exceptions=True)
        assert waiting.cancelled()
        assert limiter.waiting == 0
        assert limiter.bytes_in_flight == 0
        assert now() == 2.0
        return order

    assert run(main()) == ["first", "last"]


def test_cancelling_an_operation_in_flight_releases_its_bytes() -> None:
    async def main() -> tuple[Scripted, Limiter]:
        controller = Scripted(cwnd=1000)
        limiter = Limiter(controller)

        async def op() -> None:
            async with limiter.slot(1000):
                await asyncio.sleep(10.0)

        task = asyncio.create_task(op())
        await asyncio.sleep(1.0)
        assert limiter.bytes_in_flight == 1000
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert limiter.bytes_in_flight == 0
        assert limiter.ops_in_flight == 0
        return controller, limiter

    controller, limiter = run(main())
    assert limiter.cancellations == 1
    assert controller.acks == []
    assert controller.losses == []


def test_outer_timeouts_release_waiting_and_running_slots() -> None:
    async def main() -> Limiter:
        limiter = Limiter(Scripted(cwnd=1000))

        async def hold() -> None:
            async with limiter.slot(1000):
                await asyncio.sleep(3.0)

        async def bounded(hold: float) -> None:
            async with asyncio.timeout(1.0), limiter.slot(1000):
                await asyncio.sleep(hold)

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0)
        with pytest.raises(TimeoutError):
            await bounded(0.0)  # expires while waiting for the window
        assert limiter.waiting == 0
        assert now() == 1.0
        await holder
        with pytest.raises(TimeoutError):
            await bounded(2.0)  # expires while running: a cancellation
        assert limiter.bytes_in_flight == 0
        return limiter

    limiter = run(main())
    assert limiter.cancellations == 1
    assert limiter.losses == 0
    assert limiter.acks == 1


def test_cancelled_between_admission_and_resumption() -> None:
    async def main() -> Limiter:
        limiter = Limiter(Scripted(cwnd=1000))
        ran: list[str] = []

        async def second() -> None:
            async with limiter.slot(1000):
                ran.append("second")

        async with limiter.slot(1000):
            task = asyncio.create_task(second())
            await asyncio.sleep(1.0)
            assert limiter.waiting == 1
        # Leaving the slot admitted `second` (its bytes are counted)...
        assert limiter.bytes_in_flight == 1000
        task.cancel()  # ...and it is cancelled before it could run.
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ran == []
        assert limiter.bytes_in_flight == 0
        assert limiter.ops_in_flight == 0
        return limiter

    limiter = run(main())
    assert limiter.cancellations == 1


# -- the simulated S3 endpoint -----------------------------------------------------------------


class _Transfer:
    __slots__ = ("done", "remaining")

    def __init__(self, remaining: float, done: asyncio.Future[None]) -> None:
        self.remaining = remaining
        self.done = done


class FakeS3:
    """An endpoint on virtual time whose service time rises with concurrency beyond a knee.

    A request waits ``latency``, then transfers its bytes at
    ``min(per_request_rate, aggregate_rate / transfers)`` (processor sharing).
    Below the knee each request takes ``latency + size / per_request_rate``;
    above it the aggregate rate is the cap and more concurrency only adds
    delay. A request arriving while ``reject_above`` are active is answered
    with 503 SlowDownError after ``latency``.
    """

    def __init__(
        self,
        *,
        latency: float,
        per_request_rate: float,
        aggregate_rate: float,
        reject_above: int,
    ) -> None:
        self.latency = latency
        self.per_request_rate = per_request_rate
        self.aggregate_rate = aggregate_rate
        self.reject_above = reject_above
        self.active = 0
        self.rejected = 0
        self.served = 0
        self._transfers: list[_Transfer] = []
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def knee(self, size: int) -> float:
        """Concurrency at which the aggregate rate saturates: rate x service time / size."""
        return self.aggregate_rate * (self.latency + size / self.per_request_rate) / size

    async def request(self, size: int) -> None:
        if self.active >= self.reject_above:
            self.rejected += 1
            await asyncio.sleep(self.latency)
            raise SlowDownError
        self.active += 1
        try:
            await asyncio.sleep(self.latency)
            await self._transfer(size)
            self.served += 1
        finally:
            self.active -= 1

    def _rate(self) -> float:
        return min(self.per_request_rate, self.aggregate_rate / len(self._transfers))

    def _advance(self) -> None:
        t = now()
        if self._transfers and t > self._last:
            done = self._rate() * (t - self._last)
            for tr in self._transfers:
                tr.remaining -= done
        self._last = t

    def _reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for tr in [tr for tr in self._transfers if tr.remaining <= 1e-3]:
            self._transfers.remove(tr)
            if not tr.done.done():
                tr.done.set_result(None)
        if self._transfers:
            soonest = min(tr.remaining for tr in self._transfers)
            self._timer = asyncio.get_running_loop().call_later(
                soonest / self._rate(), self._on_timer
            )

    def _on_timer(self) -> None:
        self._timer = None
        self._advance()
        self._reschedule()

    async def _transfer(self, size: int) -> None:
        self._advance()
        tr = _Transfer(float(size), asyncio.get_running_loop().create_future())
        self._transfers.append(tr)
        self._reschedule()
        try:
            await tr.done
        finally:
            if tr in self._transfers:  # cancelled mid-transfer
                self._advance()
                self._transfers.remove(tr)
                self._reschedule()


PART = 1 << 20  # 1 MiB operations; the controllers count one "segment" per part


def make_s3(reject_above: int = 24) -> FakeS3:
    # knee = 80 MiB/s x (0.05 s + 1 MiB / 10 MiB/s) / 1 MiB = 80 x 0.15 = 12 operations;
    # by default the endpoint rejects above twice that.
    return FakeS3(
        latency=0.05,
        per_request_rate=10.0 * PART,
        aggregate_rate=80.0 * PART,
        reject_above=reject_above,
    )


class Run:
    """What one S3 run measured."""

    def __init__(self) -> None:
        self.concurrency: list[int] = []  # ops_in_flight sampled every 10 ms
        self.runs: dict[int, int] = {}
        self.attempts = 0
        self.rejected = 0
        self.max_over_window = 0
        self.failures = 0
        self.cancellations = 0
        self.marks = 0


async def drive_s3(
    controller: CongestionController,
    *,
    operations: int,
    workers: int = 64,
    cancel_every: int = 0,
    fail_every: int = 0,
    reject_above: int = 24,
    queue_target: float | None = None,
) -> Run:
    """``operations`` parts with distinct ids through ``workers`` tasks, each retried until done.

    ``cancel_every``: every k-th id's first attempt is cancelled mid-flight by a
    timeout around the slot (the caller retries). ``fail_every``: every k-th
    id's first attempt fails with a non-congestion error (the caller retries).
    """
    s3 = make_s3(reject_above)
    limiter = Limiter(controller, classify=classify_s3, queue_target=queue_target)
    result = Run()
    pending = list(range(operations - 1, -1, -1))
    attempts: dict[int, int] = {}

    async def body(op_id: int) -> None:
        attempt = attempts[op_id] = attempts.get(op_id, 0) + 1
        if fail_every and op_id % fail_every == 0 and attempt == 1:
            await asyncio.sleep(0.01)
            raise KeyError(op_id)
        await s3.request(PART)
        result.runs[op_id] = result.runs.get(op_id, 0) + 1

    async def worker() -> None:
        while pending:
            op_id = pending.pop()
            while True:
                result.attempts += 1
                limit = 0.08 if cancel_every and op_id % cancel_every == 0 else None
                try:
                    async with asyncio.timeout(limit if attempts.get(op_id) is None else None):
                        async with limiter.slot(PART):
                            if limiter.ops_in_flight > 1:
                                result.max_over_window = max(
                                    result.max_over_window,
                                    limiter.bytes_in_flight - limiter.cwnd,
                                )
                            await body(op_id)
                except (SlowDownError, KeyError, TimeoutError):
                    continue
                break

    async def sampler() -> None:
        while True:
            result.concurrency.append(limiter.ops_in_flight)
            await asyncio.sleep(0.01)

    sampling = asyncio.create_task(sampler())
    await asyncio.gather(*(worker() for _ in range(workers)))
    sampling.cancel()
    assert limiter.bytes_in_flight == 0
    assert limiter.ops_in_flight == 0
    assert limiter.waiting == 0
    result.rejected = s3.rejected
    result.failures = limiter.failures
    result.cancellations = limiter.cancellations
    result.marks = limiter.marks
    # Every 503 became exactly one loss event, unless a timeout cancelled it first.
    if cancel_every:
        assert limiter.losses <= s3.rejected
    else:
        assert limiter.losses == s3.rejected
    return result


def second_half_mean(samples: list[int]) -> float:
    half = samples[len(samples) // 2 :]
    return sum(half) / len(half)


KNEE = make_s3().knee(PART)


def test_the_knee_is_what_the_model_says() -> None:
    assert pytest.approx(12.0) == KNEE


@pytest.mark.parametrize("n", [4, 8, 20])
def test_fixed_sits_exactly_at_n(n: int) -> None:
    result = run(drive_s3(fixed(n), operations=600))
    assert max(result.concurrency) == n
    # While work remains every worker is busy: all samples but the draining tail are n.
    body = result.concurrency[1 : len(result.concurrency) * 3 // 4]  # [0] is before the start
    assert set(body) == {n}
    assert result.rejected == 0


def check_every_operation_ran_once(result: Run, operations: int) -> None:
    assert sorted(result.runs) == list(range(operations))
    assert set(result.runs.values()) == {1}
    # No admission beyond the first pushed flight past cwnd.
    assert result.max_over_window <= 0


OPERATIONS = 2400  # ~30 s of virtual time at 80 parts/s


@pytest.mark.parametrize("reject_above", [24, 48])
def test_cubic_without_marks_is_held_between_beta_and_the_rejection_limit(
    reject_above: int,
) -> None:
    """Without a delay signal CUBIC is loss-based: the 503s bound it.

    After each congestion event RFC 9438 §4.6 sets cwnd = beta_cubic (0.7) x W_max,
    and W_max is where the 503s start, so the mean sits in [0.7, 1] x limit,
    far above the knee when the limit is 4 x knee.
    """
    result = run(drive_s3(Cubic(mss=PART), operations=OPERATIONS, reject_above=reject_above))
    mean = second_half_mean(result.concurrency)
    assert 0.7 * reject_above <= mean <= reject_above, mean
    check_every_operation_ran_once(result, OPERATIONS)


@pytest.mark.parametrize("reject_above", [24, 48])
def test_cubic_with_standing_queue_marks_settles_near_the_knee(reject_above: int) -> None:
    """With the limiter's CE marks CUBIC answers the delay, not the 503s.

    Marks start where durations rise CODEL_TARGET (10%) above the minimum, at or
    below the knee, and RFC 9438 §4.6 cuts to 0.7 x that: the mean lies in the
    same [0.7, 2] x knee band as BBR's, whatever the rejection limit, and the
    only 503s are slow start's overshoot.
    """
    result = run(
        drive_s3(
            Cubic(mss=PART),
            operations=OPERATIONS,
            reject_above=reject_above,
            queue_target=CODEL_TARGET,
        )
    )
    mean = second_half_mean(result.concurrency)
    assert 0.7 * KNEE <= mean <= 2.0 * KNEE, mean
    assert mean <= KNEE, mean  # below the knee, not between it and the limit
    assert result.rejected <= 0.01 * OPERATIONS
    assert result.marks > 0
    check_every_operation_ran_once(result, OPERATIONS)


@pytest.mark.parametrize("queue_target", [None, CODEL_TARGET])
@pytest.mark.parametrize("reject_above", [24, 48])
def test_bbr_settles_near_the_knee_whatever_the_rejection_limit(
    reject_above: int, queue_target: float | None
) -> None:
    """BBR is model-based: it keeps at most cwnd_gain x BDP in flight.

    draft-ietf-ccwg-bbr sets cwnd = cwnd_gain (2) x max_bw x min_rtt, and
    max_bw x min_rtt here is the knee (80 MiB/s x 0.15 s = 12 parts), so the mean
    stays in [0.7, 2] x knee even when the endpoint would accept 4 x knee;
    the rejections are Startup's overshoot, a small fraction. The limiter's CE
    marks change nothing: draft-ietf-ccwg-bbr §3.7 specifies no ECN response.
    """
    controller = BBR(mss=PART, rng=random.Random(1))
    result = run(
        drive_s3(
            controller,
            operations=OPERATIONS,
            reject_above=reject_above,
            queue_target=queue_target,
        )
    )
    mean = second_half_mean(result.concurrency)
    assert 0.7 * KNEE <= mean <= 2.0 * KNEE, mean
    assert result.rejected <= 0.05 * OPERATIONS
    check_every_operation_ran_once(result, OPERATIONS)


@pytest.mark.parametrize(
    "factory",
    [lambda: NewReno(mss=PART), lambda: Cubic(mss=PART), lambda: fixed(30)],
    ids=["newreno", "cubic", "fixed30"],
)
def test_every_operation_runs_exactly_once(factory: Callable[[], CongestionController]) -> None:
    operations = 400
    result = run(
        drive_s3(factory(), operations=operations, workers=48, cancel_every=13, fail_every=11)
    )
    # Successes, 503s retried, non-congestion failures retried, cancellations retried:
    # each id ran to completion exactly once.
    assert sorted(result.runs) == list(range(operations))
    assert set(result.runs.values()) == {1}
    # Each 11th id failed once and each 13th was cancelled once: the extra attempts
    # are at least those (ceil(400 / 11) = 37, ceil(400 / 13) = 31) plus the 503s.
    assert result.attempts >= operations + 37 + 31 + result.rejected
    # ids 0, 11, ..., 396 (37) failed once, released with no signal; on the three that
    # are also multiples of 13 (0, 143, 286) the timeout may cancel the attempt first.
    assert 37 - 3 <= result.failures <= 37
    assert result.cancellations > 0  # some timeouts fired while the part was in flight


# -- the stock event loop ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_works_on_the_real_event_loop() -> None:
    controller = Scripted(cwnd=2000, pacing_rate=200_000.0)
    limiter = Limiter(controller)

    async def op() -> None:
        async with limiter.slot(1000):
            await asyncio.sleep(0.002)

    await asyncio.gather(*(op() for _ in range(6)))
    assert limiter.acks == 6
    assert limiter.bytes_in_flight == 0
    assert max(f for _, _, f in controller.sent) <= 2000
    times = [t for t, _, _ in controller.sent]
    # 1000 B at 200 kB/s: at least 5 ms apart (the loop may fire up to 1 ns early).
    assert all(b - a >= 0.005 - 1e-6 for a, b in itertools.pairwise(times))
    assert all(a.rtt is not None and a.rtt >= 0.002 - 1e-6 for a in controller.acks)
