"""Public test helpers for netalgo users: virtual time for asyncio, a controller conformance check.

* :class:`VirtualTimeLoop` is an asyncio event loop on a :class:`VirtualClock`:
  whenever every task is blocked, time jumps straight to the next timer (trio's
  ``MockClock`` with autojump), so ``asyncio.sleep(60)`` returns at once and
  limiter or retry logic can be tested deterministically and fast.
  :func:`run` is :func:`asyncio.run` on such a loop; with pytest-asyncio, return
  ``VirtualTimeLoop`` from a ``pytest_asyncio_loop_factories`` hook.
* :func:`check_controller` drives any
  :class:`~netalgo.protocols.CongestionController` through a scripted,
  well-formed trace (a small bottleneck with a drop-tail queue, then a rate
  drop, periodic loss, stretch ACKs and ambiguous RTTs, an application-limited
  phase, a retransmission timeout and a long idle period) and asserts the
  Protocol's invariants after every call.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import selectors
from typing import TYPE_CHECKING, TypeVar

from netalgo._validate import finite, non_negative, positive_int
from netalgo.delivery import DeliveryRateEstimator
from netalgo.protocols import AckSample, CongestionController, LossEvent

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping
    from typing import Any

    from _typeshed import FileDescriptorLike

    from netalgo.protocols import SentPacket

__all__ = ["VirtualClock", "VirtualTimeLoop", "check_controller", "run"]

_T = TypeVar("_T")


class VirtualClock:
    """Virtual seconds for a :class:`VirtualTimeLoop`; they pass only when the loop would sleep.

    ``autojump_threshold`` (real seconds, default 0) is how long the loop
    first waits for real I/O, e.g. a worker thread finishing, before jumping:
    with 0 it jumps as soon as every task is blocked on a timer.
    """

    __slots__ = ("_autojump_threshold", "_now")

    def __init__(self, start: float = 0.0, *, autojump_threshold: float = 0.0) -> None:
        self._now = finite("start", start)
        self._autojump_threshold = non_negative("autojump_threshold", autojump_threshold)

    def time(self) -> float:
        """The current virtual time, in seconds."""
        return self._now

    @property
    def autojump_threshold(self) -> float:
        return self._autojump_threshold

    def jump(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (>= 0); timers now due fire on the next loop pass."""
        self._now += non_negative("seconds", seconds)


class _AutojumpSelector(selectors.BaseSelector):
    """Wraps a real selector: polls real I/O, and where the loop would sleep, jumps the clock."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._inner = selectors.DefaultSelector()

    def register(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._inner.select(0)
        if ready or timeout == 0:
            return ready
        threshold = self._clock.autojump_threshold
        if threshold > 0:
            ready = self._inner.select(threshold if timeout is None else min(timeout, threshold))
            if ready:
                return ready
        if timeout is None:
            # No timer at all: only real I/O (a thread's call_soon_threadsafe) can wake us.
            return self._inner.select(None)
        # Every task is blocked and the next timer is ``timeout`` away: jump to it.
        self._clock._now += timeout
        return []

    def close(self) -> None:
        self._inner.close()

    def get_map(self) -> Mapping[FileDescriptorLike, selectors.SelectorKey]:
        return self._inner.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop whose ``time()`` is a :class:`VirtualClock` that autojumps.

    Timers (``asyncio.sleep``, ``asyncio.timeout``, ``call_later``) run in
    virtual time; real I/O still works (it is polled without blocking). A
    program that waits for nothing but real I/O blocks for real, as on the
    stock loop.
    """

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = clock if clock is not None else VirtualClock()
        super().__init__(_AutojumpSelector(self.clock))

    def time(self) -> float:
        return self.clock._now


def run(main: Coroutine[Any, Any, _T], *, clock: VirtualClock | None = None) -> _T:
    """Run ``main`` to completion on a fresh :class:`VirtualTimeLoop` (like :func:`asyncio.run`)."""
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(clock)) as runner:
        return runner.run(main)


# -- conformance check for congestion controllers ------------------------------------------------


def _check_invariants(controller: CongestionController, where: str) -> str:
    cwnd = controller.cwnd
    if type(cwnd) is not int or cwnd <= 0:
        raise AssertionError(f"{where}: cwnd must be an int > 0, got {cwnd!r}")
    rate = controller.pacing_rate
    if rate is not None and (
        isinstance(rate, bool)
        or not isinstance(rate, (int, float))
        or not math.isfinite(rate)
        or rate <= 0
    ):
        raise AssertionError(
            f"{where}: pacing_rate must be None or a finite number > 0, got {rate!r}"
        )
    state = controller.state
    if not isinstance(state, str) or not state:
        raise AssertionError(f"{where}: state must be a non-empty str, got {state!r}")
    return state


class _Trace:
    """A sender, one bottleneck link with a drop-tail queue, and per-packet ACKs.

    Packets leave the link at ``rate`` and are acknowledged ``base_rtt`` later;
    a dropped packet is declared lost when a later packet is acknowledged
    (what SACK / RACK would see), or by a 1 s retransmission timeout if nothing
    later is acknowledged. The receive window caps flight at ``rwnd`` packets,
    so a controller with a huge window still gives a finite trace.
    """

    def __init__(self, controller: CongestionController, mss: int) -> None:
        self.cc = controller
        self.mss = mss
        self.est = DeliveryRateEstimator()
        self.now = 0.0
        self.rate = 500.0 * mss  # bytes/s: 500 packets/s
        self.base_rtt = 0.04
        self.buffer = 20 * mss  # one BDP: 500 pkt/s * 40 ms = 20 packets
        self.rwnd = 256 * mss
        self.link_free = 0.0
        self.in_flight = 0
        self.seq = 0
        self.acks: list[tuple[float, int, SentPacket]] = []  # heap of (ack time, seq, packet)
        self.dropped: list[tuple[int, SentPacket]] = []  # in send order
        self.min_rtt: float | None = None
        self.states: list[str] = []
        self.drop_every = 0
        self.blackhole = False
        self.app_limit: int | None = None  # packets the application keeps in flight at most

    def check(self, what: str) -> None:
        state = _check_invariants(self.cc, f"after {what} at t={self.now:.4f}")
        if state not in self.states:
            self.states.append(state)

    def call(self, what: str, fn: Any, arg: Any, *more: Any) -> None:
        try:
            fn(arg, *more)
        except Exception as exc:
            exc.add_note(f"check_controller: raised by {what} at t={self.now:.4f}")
            raise
        self.check(what)

    def send_window(self) -> None:
        mss, cc = self.mss, self.cc
        limit = self.rwnd if self.app_limit is None else self.app_limit * mss
        if self.app_limit is not None and self.in_flight + mss <= cc.cwnd:
            self.est.on_app_limited(self.in_flight)
        while self.in_flight + mss <= min(cc.cwnd, limit):
            self.in_flight += mss
            self.seq += 1
            packet = self.est.on_sent(self.now, mss, self.in_flight)
            self.call("on_sent", cc.on_sent, self.now, mss, self.in_flight)
            queued = (self.link_free - self.now) * self.rate
            drop = self.blackhole or queued + mss > self.buffer
            drop = drop or (self.drop_every > 0 and self.seq % self.drop_every == 0)
            if drop:
                self.dropped.append((self.seq, packet))
                continue
            self.link_free = max(self.link_free, self.now) + mss / self.rate
            heapq.heappush(self.acks, (self.link_free + self.base_rtt, self.seq, packet))

    def declare_lost(self, packet: SentPacket, *, is_timeout: bool) -> None:
        self.in_flight -= packet.size
        self.est.on_loss(packet)
        event = LossEvent(
            self.now, packet.size, self.in_flight, packet.sent_time, packet, is_timeout
        )
        self.call("on_loss", self.cc.on_loss, event)

    def run(self, duration: float, *, ack_every: int = 1, ambiguous_every: int = 0) -> None:
        """Run ack-clocked for ``duration`` seconds (or until the sender stops)."""
        end = self.now + duration
        self.send_window()
        acked_count = 0
        while self.now < end:
            if not self.acks:
                if not self.dropped:
                    return  # nothing in flight: the application stopped
                # Retransmission timeout: everything outstanding is lost (RFC 6298 §5.5).
                self.now = max(self.now, self.dropped[-1][1].sent_time + 1.0)
                while self.dropped:
                    self.declare_lost(self.dropped.pop(0)[1], is_timeout=True)
                self.send_window()
                continue
            batch = [heapq.heappop(self.acks)]
            while len(batch) < ack_every and self.acks:
                batch.append(heapq.heappop(self.acks))
            self.now = max(self.now, batch[-1][0])
            newest_seq = batch[-1][1]
            newly_lost = 0
            while self.dropped and self.dropped[0][0] < newest_seq:
                packet = self.dropped.pop(0)[1]
                newly_lost += packet.size
                self.declare_lost(packet, is_timeout=False)
            acked = [p for _, _, p in batch]
            size = sum(p.size for p in acked)
            self.in_flight -= size
            acked_count += 1
            rtt: float | None = self.now - acked[-1].sent_time
            if ambiguous_every and acked_count % ambiguous_every == 0:
                rtt = None  # Karn's rule: a retransmitted segment gives no sample
            elif rtt is not None:
                self.min_rtt = rtt if self.min_rtt is None else min(self.min_rtt, rtt)
            rs = self.est.on_ack(self.now, acked, min_rtt=self.min_rtt, newly_lost=newly_lost)
            sample = AckSample(self.now, size, self.in_flight, acked[-1].sent_time, rtt, rs)
            self.call("on_ack", self.cc.on_ack, sample)
            self.send_window()


def check_controller(controller: CongestionController, *, mss: int = 1460) -> tuple[str, ...]:
    """Drive ``controller`` through a scripted trace, asserting the Protocol's invariants.

    After every ``on_sent``, ``on_ack`` and ``on_loss``: ``cwnd`` is an ``int``
    > 0, ``pacing_rate`` is ``None`` or a finite number > 0, ``state`` is a
    non-empty ``str``. A violation raises ``AssertionError`` naming the call
    and the time; an exception from the controller propagates with a note
    saying where. Returns the states seen, in order of first appearance.
    The controller should be fresh and built with the same ``mss``.
    """
    if not isinstance(controller, CongestionController):
        raise TypeError(f"controller must satisfy CongestionController, got {controller!r}")
    trace = _Trace(controller, positive_int("mss", mss))
    trace.check("construction")
    trace.run(3.0)  # bulk transfer: slow start / Startup into a one-BDP drop-tail buffer
    trace.rate /= 4  # the bottleneck slows to a quarter: queueing delay and drops
    trace.run(2.0)
    trace.rate *= 4
    trace.drop_every = 50  # periodic loss, 2 %
    trace.run(2.0)
    trace.drop_every = 0
    trace.run(1.0, ack_every=2, ambiguous_every=3)  # stretch ACKs, some ambiguous RTTs
    trace.app_limit = 2  # the application keeps only 2 packets in flight
    trace.run(2.0)
    trace.app_limit = None
    trace.blackhole = True  # everything in flight is dropped: a retransmission timeout
    trace.run(0.5)
    trace.blackhole = False
    trace.run(2.0)
    trace.app_limit = 0  # idle: drain, send nothing for 12 s (past BBR's 10 s min-RTT window)
    trace.run(1.0)
    trace.now += 12.0
    trace.link_free = max(trace.link_free, trace.now)
    trace.app_limit = None
    trace.run(3.0)
    return tuple(trace.states)
