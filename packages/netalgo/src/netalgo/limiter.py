"""An asyncio limiter that lets any congestion controller steer concurrent work.

Each unit of work (an S3 part upload, a ranged GET) is treated as one
"packet": admitting it is a send, its completion an acknowledgement, a
throttle (503 SlowDown), timeout or connection reset a loss. The
:class:`Limiter` owns the per-send bookkeeping exactly as a transport does
(see :mod:`netalgo.protocols`): a :class:`~netalgo.delivery.DeliveryRateEstimator`
snapshot at every admission, an :class:`~netalgo.protocols.AckSample` with the
operation's duration as its RTT and a rate sample on completion, a
:class:`~netalgo.protocols.LossEvent` on a congestion failure (with the
failure as its ``cause``).

Units: the controller's window is in bytes, so build it with ``mss`` set to a
typical operation size (``Cubic(mss=8 * 2**20)`` for 8 MiB parts): its
segment-based constants (initial window, CUBIC's ``C``, BBR's minimum window
of 4 packets) then count operations, as they count packets on a wire.

Standing-queue marks (``queue_target``): a loss-based controller (CUBIC,
NewReno) hears only the rejections, so it fills the endpoint up to its
rejection limit, well past the knee where more concurrency stops adding
throughput and only adds delay. With ``queue_target`` set, the limiter acts
as an AQM does at a bottleneck and marks completions Congestion Experienced
(``AckSample.ce_marked``, the ECN-CE of RFC 3168 section 5) when the
operations' durations show a standing queue, with CoDel's rule (RFC 8289):
the *queue delay* is an operation's duration minus the windowed minimum
duration; marking starts once every completion for a whole interval (one
minimum duration, RFC 8289 section 4.2's "on the order of" an RTT) had a queue
delay of at least ``queue_target`` times the minimum duration (section 4.3:
a target of 5-10% of the interval; :data:`CODEL_TARGET` is 10%), and stops at
the first completion below it (section 5.5's ``first_above_time``). Every
completion in that state is marked; the controller answers at most once per
window of sends (RFC 3168 section 6.1.2), as for a loss. NewReno and CUBIC
reduce on a mark; BBR does not: draft-ietf-ccwg-bbr section 3.7 specifies no
ECN response, and BBR already bounds its flight at ``cwnd_gain`` times the
BDP it measures from the same minimum duration. Marks are off by default:
compare operations of one size (a duration minimum set by a small operation
makes every large one look queued), and on a jittery service choose a target
above its normal spread of durations.

:func:`fixed` is the baseline for comparisons: a controller with an unbounded
byte window that declares ``max_ops``. The limiter honours ``max_ops`` on any
controller that has one (:class:`OperationLimited`), so it needs no special
case for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import deque
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

from netalgo._validate import Clock, positive, positive_int
from netalgo.delivery import DeliveryRateEstimator
from netalgo.filters import WindowedMinFilter
from netalgo.protocols import AckSample, CongestionController, LossEvent

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from netalgo.protocols import SentPacket

__all__ = [
    "CODEL_TARGET",
    "UNBOUNDED_CWND",
    "FixedConcurrency",
    "Limiter",
    "OperationLimited",
    "Slot",
    "default_classify",
    "fixed",
]

UNBOUNDED_CWND: Final = sys.maxsize
"""The byte window of a controller that limits operations, not bytes (:func:`fixed`)."""

CODEL_TARGET: Final = 0.1
"""A standing-queue target of 10% of the minimum duration: the upper end of RFC 8289
section 4.3's 5-10% of the interval. Window-clocked operations start in bursts and their
transfers overlap, so durations rise a little below the throughput knee; 5% there holds
CUBIC at 0.63 of the knee, 10% at 0.71 (docs/netalgo.md, the limiter section)."""

MIN_RTT_WINDOW: Final = 300.0
"""Seconds over which the limiter's minimum RTT is kept: Linux's ``tcp_min_rtt_wlen``
default, the ``min_rtt`` that tcp_rate.c hands to the delivery-rate sampler."""

_PACING_SLACK = 1e-9
"""Admit this early at most: the event loop may fire a timer up to its clock resolution early."""

# Outcomes of a slot, set by the body (explicit marks) or decided on exit.
_ACKED = 1
_CONGESTED = 2
_FAILED = 3
_CANCELLED = 4


def default_classify(exc: BaseException) -> bool:
    """Whether ``exc`` is a congestion signal: a timeout or a connection reset.

    These are the generic throttle signals of DESIGN.md; pass your own
    ``classify`` to add service-specific ones (an S3 ``503 SlowDown``).
    Cancellation is never a congestion signal.
    """
    return isinstance(exc, (TimeoutError, ConnectionResetError))


@runtime_checkable
class OperationLimited(Protocol):
    """A controller that also caps the number of operations in flight."""

    @property
    def max_ops(self) -> int:
        """The most operations the limiter may have in flight at once."""
        ...


class FixedConcurrency:
    """Exactly ``n`` operations in flight, whatever their size: the baseline controller.

    Its byte window is :data:`UNBOUNDED_CWND` and it ignores every signal, so
    in a packet simulator it is an unlimited sender; under a :class:`Limiter`
    its :attr:`max_ops` is the whole rule.
    """

    __slots__ = ("_max_ops",)

    def __init__(self, n: int) -> None:
        self._max_ops = positive_int("n", n)

    @property
    def max_ops(self) -> int:
        return self._max_ops

    @property
    def cwnd(self) -> int:
        return UNBOUNDED_CWND

    @property
    def pacing_rate(self) -> float | None:
        return None

    @property
    def state(self) -> str:
        return "fixed"

    def on_sent(self, now: float, sent_bytes: int, bytes_in_flight: int) -> None:
        """Nothing to learn from a send."""

    def on_ack(self, sample: AckSample) -> None:
        """Nothing to learn from an acknowledgement."""

    def on_loss(self, event: LossEvent) -> None:
        """Nothing to learn from a loss."""

    def __repr__(self) -> str:
        return f"fixed({self._max_ops})"


def fixed(n: int) -> FixedConcurrency:
    """A controller admitting exactly ``n`` concurrent operations (``fixed:N`` in s3opt)."""
    return FixedConcurrency(n)


class Slot:
    """One admission: ``async with limiter.slot(nbytes) as slot:``.

    On a normal exit the operation counts as acknowledged; on an exception
    the limiter's ``classify`` decides between a loss (congestion) and a
    plain failure (no signal); cancellation releases the slot with no signal.
    Inside the body, :meth:`congested` or :meth:`failed` override that
    decision, e.g. when the caller handles a 503 itself without raising.
    A slot is used once.
    """

    __slots__ = ("_entered", "_limiter", "_nbytes", "_outcome", "_packet", "_started")

    def __init__(self, limiter: Limiter, nbytes: int) -> None:
        self._limiter = limiter
        self._nbytes = nbytes
        self._outcome = 0
        self._packet: SentPacket | None = None
        self._started = 0.0
        self._entered = False

    @property
    def nbytes(self) -> int:
        return self._nbytes

    @property
    def started(self) -> float:
        """When the operation was admitted (the clock's time); 0.0 before."""
        return self._started

    def congested(self) -> None:
        """Report this operation as a congestion loss (throttled, timed out, reset)."""
        self._outcome = _CONGESTED

    def failed(self) -> None:
        """Report this operation as failed for a reason that is not congestion: no signal."""
        self._outcome = _FAILED

    async def __aenter__(self) -> Slot:
        if self._entered:
            raise RuntimeError("a Slot can be entered only once; call limiter.slot() again")
        self._entered = True
        await self._limiter._acquire(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._limiter._release(self, exc)


class _Waiter:
    __slots__ = ("future", "slot")

    def __init__(self, slot: Slot, future: asyncio.Future[None]) -> None:
        self.slot = slot
        self.future = future


class Limiter:
    """Admits async operations while the controller's window and pacing rate allow.

    * Window: an operation of ``nbytes`` is admitted when
      ``bytes_in_flight + nbytes <= controller.cwnd`` (and fewer than
      ``max_ops`` run); one operation is always admitted when none is in
      flight, whatever its size, so a part larger than the window cannot
      deadlock.
    * Pacing: when ``controller.pacing_rate`` is set, an admission of
      ``nbytes`` starts no sooner than ``nbytes / pacing_rate`` after the
      previous admission.
    * FIFO: waiters are admitted strictly in arrival order, so small
      operations never starve a large one.
    * Application-limited (draft-cheng-iccrg-delivery-rate-estimation §3.4):
      when an admission leaves nobody waiting and room in the window for
      another operation of the same size, the caller, not the window, is the
      limit; the estimator is told so the samples do not drag a bandwidth
      estimate down.

    ``clock`` defaults to the running event loop's ``time()`` (which is
    ``time.monotonic`` on the stock loop and virtual time under
    :class:`netalgo.testing.VirtualTimeLoop`). ``classify`` decides which
    exceptions are congestion; ``max_ops`` caps concurrency on top of the
    controller (the smaller of it and the controller's own ``max_ops`` wins).
    ``queue_target`` (a fraction of the minimum duration, e.g.
    :data:`CODEL_TARGET`) turns on the standing-queue marks described in
    the module docstring; ``None`` (the default) never marks.

    Operations that fail without congestion or are cancelled get neither an
    ack nor a loss: they leave flight silently, and the next sample's
    ``bytes_in_flight`` shows it.
    """

    __slots__ = (
        "_acks",
        "_bytes",
        "_cancellations",
        "_classify",
        "_clock",
        "_controller",
        "_estimator",
        "_failures",
        "_first_above",
        "_last_admit",
        "_losses",
        "_marks",
        "_max_ops",
        "_min_rtt",
        "_ops",
        "_queue_target",
        "_time",
        "_timer",
        "_waiters",
    )

    def __init__(
        self,
        controller: CongestionController,
        *,
        clock: Callable[[], float] | None = None,
        classify: Callable[[BaseException], bool] = default_classify,
        max_ops: int | None = None,
        min_rtt_window: float = MIN_RTT_WINDOW,
        queue_target: float | None = None,
    ) -> None:
        if not isinstance(controller, CongestionController):
            raise TypeError(f"controller must satisfy CongestionController, got {controller!r}")
        limit = sys.maxsize if max_ops is None else positive_int("max_ops", max_ops)
        if isinstance(controller, OperationLimited):
            limit = min(limit, positive_int("controller.max_ops", controller.max_ops))
        self._controller = controller
        self._clock = clock
        self._classify = classify
        self._max_ops = limit
        self._min_rtt = WindowedMinFilter(positive("min_rtt_window", min_rtt_window))
        self._queue_target = (
            None if queue_target is None else positive("queue_target", queue_target)
        )
        self._first_above: float | None = None
        self._marks = 0
        self._estimator = DeliveryRateEstimator()
        self._time = Clock()
        self._waiters: deque[_Waiter] = deque()
        self._bytes = 0
        self._ops = 0
        self._last_admit: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._acks = 0
        self._losses = 0
        self._failures = 0
        self._cancellations = 0

    # -- public API -------------------------------------------------------------------------

    def slot(self, nbytes: int) -> Slot:
        """An async context manager holding ``nbytes`` of the window while its body runs."""
        return Slot(self, positive_int("nbytes", nbytes))

    @property
    def controller(self) -> CongestionController:
        return self._controller

    @property
    def estimator(self) -> DeliveryRateEstimator:
        """The delivery-rate estimator fed by this limiter's admissions and completions."""
        return self._estimator

    @property
    def bytes_in_flight(self) -> int:
        return self._bytes

    @property
    def ops_in_flight(self) -> int:
        return self._ops

    @property
    def waiting(self) -> int:
        """Operations waiting for admission."""
        return len(self._waiters)

    @property
    def max_ops(self) -> int | None:
        """The cap on operations in flight, or ``None`` if only the byte window limits."""
        return None if self._max_ops == sys.maxsize else self._max_ops

    @property
    def cwnd(self) -> int:
        return self._controller.cwnd

    @property
    def pacing_rate(self) -> float | None:
        return self._controller.pacing_rate

    @property
    def min_rtt(self) -> float | None:
        """Shortest operation duration over the last ``min_rtt_window`` seconds."""
        return self._min_rtt.get()

    @property
    def acks(self) -> int:
        """Operations completed (each gave the controller an ack sample)."""
        return self._acks

    @property
    def marks(self) -> int:
        """Completions marked congestion-experienced (a standing queue; see ``queue_target``)."""
        return self._marks

    @property
    def queue_target(self) -> float | None:
        """The standing-queue target as a fraction of the minimum duration, or ``None``."""
        return self._queue_target

    @property
    def losses(self) -> int:
        """Operations that ended in congestion (each gave the controller a loss event)."""
        return self._losses

    @property
    def failures(self) -> int:
        """Operations that failed for other reasons (released with no signal)."""
        return self._failures

    @property
    def cancellations(self) -> int:
        """Admitted operations that were cancelled (released with no signal)."""
        return self._cancellations

    # -- admission ---------------------------------------------------------------------------

    def _now(self) -> float:
        clock = self._clock
        t = clock() if clock is not None else asyncio.get_running_loop().time()
        return self._time.advance(t)

    def _admission_delay(self, nbytes: int, now: float) -> float | None:
        """0.0 to admit now, seconds to wait for pacing, or ``None`` while the window is full."""
        ops = self._ops
        if ops and (ops >= self._max_ops or self._bytes + nbytes > self._controller.cwnd):
            return None
        rate = self._controller.pacing_rate
        last = self._last_admit
        if rate is None or last is None:
            return 0.0
        wait = last + nbytes / rate - now
        return wait if wait > _PACING_SLACK else 0.0

    def _admit(self, slot: Slot, now: float) -> None:
        nbytes = slot._nbytes
        self._ops += 1
        self._bytes += nbytes
        in_flight = self._bytes
        if (
            not self._waiters
            and self._ops < self._max_ops
            and in_flight + nbytes <= self._controller.cwnd
        ):
            # Nothing queued and room for more: the application is the limit (§3.4).
            self._estimator.on_app_limited(in_flight)
        slot._packet = self._estimator.on_sent(now, nbytes, in_flight)
        slot._started = now
        self._last_admit = now
        self._controller.on_sent(now, nbytes, in_flight)

    async def _acquire(self, slot: Slot) -> None:
        now = self._now()
        if not self._waiters and self._admission_delay(slot._nbytes, now) == 0.0:
            self._admit(slot, now)
            return
        waiter = _Waiter(slot, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        if len(self._waiters) == 1:
            self._dispatch()  # arm the pacing timer if pacing is what holds us
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                # Admitted, then cancelled before running: give the slot back.
                self._release(slot, None, outcome=_CANCELLED)
            else:
                with contextlib.suppress(ValueError):  # already skipped by _dispatch
                    self._waiters.remove(waiter)
                self._dispatch()
            raise

    def _dispatch(self) -> None:
        """Admit waiters from the head of the queue while the window and pacing allow."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiters = self._waiters
        while waiters:
            head = waiters[0]
            if head.future.done():  # cancelled while waiting
                waiters.popleft()
                continue
            now = self._now()
            delay = self._admission_delay(head.slot._nbytes, now)
            if delay is None:
                return
            if delay > 0.0:
                self._timer = asyncio.get_running_loop().call_later(delay, self._dispatch)
                return
            waiters.popleft()
            self._admit(head.slot, now)
            head.future.set_result(None)

    # -- completion --------------------------------------------------------------------------

    def _release(self, slot: Slot, exc: BaseException | None, *, outcome: int = 0) -> None:
        packet = slot._packet
        if packet is None:  # never admitted
            return
        slot._packet = None
        now = self._now()
        nbytes = slot._nbytes
        self._ops -= 1
        self._bytes -= nbytes
        if not outcome:
            outcome = slot._outcome
        if not outcome:
            if exc is None:
                outcome = _ACKED
            elif isinstance(exc, asyncio.CancelledError):
                outcome = _CANCELLED
            else:
                outcome = _CONGESTED if self._classify(exc) else _FAILED
        try:
            if outcome == _ACKED:
                self._acks += 1
                duration = now - slot._started
                # A zero-duration operation carries no timing information: no RTT sample.
                rtt = duration if duration > 0.0 else None
                min_rtt = self._min_rtt.update(rtt, now) if rtt is not None else self._min_rtt.get()
                rate = self._estimator.on_ack(now, (packet,), min_rtt=min_rtt)
                marked = (
                    self._queue_target is not None
                    and rtt is not None
                    and min_rtt is not None
                    and self._standing_queue(now, rtt, min_rtt)
                )
                if marked:
                    self._marks += 1
                self._controller.on_ack(
                    AckSample(now, nbytes, self._bytes, packet.sent_time, rtt, rate, marked)
                )
            elif outcome == _CONGESTED:
                self._losses += 1
                self._estimator.on_loss(packet)
                self._controller.on_loss(
                    LossEvent(now, nbytes, self._bytes, packet.sent_time, packet, cause=exc)
                )
            elif outcome == _FAILED:
                self._failures += 1
            else:
                self._cancellations += 1
        finally:
            self._dispatch()

    def _standing_queue(self, now: float, rtt: float, min_rtt: float) -> bool:
        """RFC 8289 section 5.5's test: a queue delay above target for a whole interval.

        The interval is the minimum duration; the first completion at or above
        target starts it, one below target ends it.
        """
        target = self._queue_target
        assert target is not None
        if rtt - min_rtt < target * min_rtt:
            self._first_above = None
            return False
        first_above = self._first_above
        if first_above is None:
            self._first_above = now + min_rtt
            return False
        return now >= first_above

    def __repr__(self) -> str:
        return (
            f"<Limiter {self._controller!r} ops={self._ops} bytes={self._bytes}"
            f" cwnd={self._controller.cwnd} waiting={len(self._waiters)}>"
        )
