"""The event loop: one bottleneck link, N senders, deterministic in a seed.

Three event sources, merged by time in one loop:

* the link: the packet in service leaves at ``link_done`` (a single number,
  since a FIFO link serves one packet at a time);
* ACKs: a packet that leaves the link at ``t`` is acknowledged at
  ``t + base_rtt``, so ACK times grow in the order packets leave and a plain
  FIFO (``collections.deque``) holds them in time order, no heap needed;
* everything else (flow starts, pacing and application wake-ups, RTO timers,
  rate steps, periodic samples) in a heap of ``(time, seq, kind, index)``.

At equal times the link goes first (a departure frees its buffer space
before a packet arriving at the same instant is queued), then ACKs, then the
heap in insertion order. Sends happen inside ACK and timer handling, as a
sender's would. Time stays a float in seconds.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from netalgo._validate import positive
from netalgo.delivery import DeliveryRateEstimator
from netalgo.protocols import AckSample, CongestionController, LossEvent, SentPacket
from netalgo.rtt import Rfc6298Estimator
from netalgo.sim._config import Flow, Link, periodic_interval
from netalgo.sim._results import FlowResult, FlowSample, LinkResult, LinkSample, SimResult

__all__ = ["Simulation"]

_INF = math.inf
_make = tuple.__new__
"""Builds an AckSample from a tuple of all its fields: the value calling the class gives,
without the Python-level ``__new__`` NamedTuple generates (one ACK sample per packet)."""

# Heap event kinds.
_START = 0
_WAKE = 1
_RTO = 2
_RATE = 3
_SAMPLE = 4

# Slack for application data arriving in float arithmetic (bytes).
_APP_SLACK = 1e-6


def _reader(ctrl: CongestionController, name: str) -> Callable[[Any], Any]:
    """A function returning ``ctrl.<name>``, for the reads of cwnd, pacing_rate and state.

    CPython 3.11 does not specialise property access, so where the attribute is
    a plain property the loop calls its getter directly (the same function
    ``ctrl.<name>`` calls, at about half the cost); anything else is read with
    an ordinary attribute lookup.
    """
    cls = type(ctrl)
    prop = getattr(cls, name, None)
    if (
        type(prop) is property
        and prop.fget is not None
        and cls.__getattribute__ is object.__getattribute__
    ):
        return prop.fget
    return attrgetter(name)


class _Sender:
    """Per-flow sender state during a run (hot: plain slots, read in the event loop)."""

    __slots__ = (
        "app_rate",
        "app_sent",
        "ctrl",
        "cum_delivered",
        "cum_times",
        "declared_lost",
        "delivered",
        "dropped",
        "est",
        "index",
        "inflight",
        "last_rate",
        "min_rtt",
        "mss",
        "next_send",
        "output",
        "outstanding",
        "rto",
        "rto_deadline",
        "rto_timer_at",
        "rtt",
        "samples",
        "seq",
        "start",
        "started",
        "state",
        "state_of",
        "stop",
        "timed_seq",
        "timeouts",
        "transitions",
        "wake_at",
    )

    def __init__(self, flow: Flow, index: int) -> None:
        self.index = index
        self.ctrl: CongestionController = flow.controller
        self.state_of = _reader(self.ctrl, "state")
        self.mss = flow.mss
        self.start = flow.start
        self.stop = _INF if flow.stop is None else flow.stop
        self.app_rate = 0.0 if flow.app_rate is None else flow.app_rate
        self.app_sent = 0  # application bytes handed to the network (lost bytes are returned)
        self.est = DeliveryRateEstimator()
        # What send() reads on every call, in one tuple: the controller, the readers of
        # its cwnd and pacing_rate, the estimator's send snapshot, mss, application rate.
        self.output = (
            self.ctrl,
            _reader(self.ctrl, "cwnd"),
            _reader(self.ctrl, "pacing_rate"),
            self.est._snapshot,
            self.mss,
            self.app_rate,
        )
        self.rtt = Rfc6298Estimator(min_rto=0.2)
        self.rto = self.rtt.rto  # kept equal to rtt.rto: it changes only on update / on_timeout
        self.timed_seq = 0  # the packet being timed for the RTO estimator, 0 if none
        self.min_rtt = _INF  # lifetime minimum of all RTT samples
        # (seq, sent time, size, snapshot) of each packet in flight, oldest first: the
        # snapshot's own fields are NamedTuple reads, slower than one unpacking of this tuple.
        self.outstanding: deque[tuple[int, float, int, SentPacket]] = deque()
        self.inflight = 0
        self.seq = 0  # packets sent so far; the last one's number
        self.next_send = 0.0
        self.wake_at = _INF
        self.rto_deadline = _INF
        self.rto_timer_at = _INF
        self.delivered = 0
        self.dropped = 0
        self.declared_lost = 0
        self.timeouts = 0
        self.last_rate = 0.0
        self.started = False
        self.state = ""
        self.samples: list[FlowSample] = []
        self.transitions: list[tuple[float, str]] = []
        self.cum_times: list[float] = []
        self.cum_delivered: list[int] = []

    def sample(self, t: float) -> None:
        ctrl = self.ctrl
        self.samples.append(
            FlowSample(
                t,
                ctrl.cwnd,
                ctrl.pacing_rate,
                self.last_rate,
                self.rtt.srtt,
                self.inflight,
                self.state,
            )
        )

    def check_state(self, t: float) -> None:
        state = self.ctrl.state
        if state != self.state:
            self.state = state
            self.transitions.append((t, state))
            self.sample(t)


class Simulation:
    """A deterministic discrete-event simulation of ``flows`` sharing ``link``.

    Each flow's sender keeps a
    :class:`~netalgo.delivery.DeliveryRateEstimator` and an
    :class:`~netalgo.rtt.Rfc6298Estimator` (``min_rto=0.2``, Linux's floor),
    acknowledges every packet (no delayed ACK), and talks to its controller
    only through :class:`~netalgo.protocols.CongestionController`:

    * it sends ``mss``-byte packets while ``bytes_in_flight + mss <= cwnd``
      (one packet is always allowed when nothing is in flight, RFC 5681's
      one-segment loss window), spaced ``mss / pacing_rate`` apart when the
      controller paces (``pacing_rate`` is neither ``None`` nor 0), else as
      ACKs free the window;
    * a dropped packet is declared lost when the ACK of a later packet of the
      same flow arrives (what SACK / RACK would see; the link is FIFO, so ACKs
      arrive in send order): ``on_loss`` for each, then ``on_ack`` with a
      rate sample whose ``newly_lost`` counts them;
    * when the RTO (RFC 6298 section 5) expires, every packet in flight is
      declared lost, one :class:`~netalgo.protocols.LossEvent` each with
      ``is_timeout=True``, and the RTO backs off (5.5). ACKs that arrive
      later for packets so declared are ignored (their data was sent again);
    * lost data is sent again as new packets, so goodput counts each byte once.

    ``seed`` drives the random loss only; the same inputs and seed give the
    same result. A simulation runs once (controllers carry state).
    """

    __slots__ = ("_flows", "_link", "_ran", "sample_interval", "seed")

    def __init__(
        self,
        link: Link,
        flows: Sequence[Flow],
        *,
        seed: int = 1,
        sample_interval: float = 0.1,
    ) -> None:
        if not isinstance(link, Link):
            raise ValueError(f"link must be a netalgo.sim.Link, got {type(link).__name__}")
        if len(flows) == 0:
            raise ValueError("flows must not be empty")
        for flow in flows:
            if not isinstance(flow, Flow):
                raise ValueError(f"flows must hold netalgo.sim.Flow objects, got {flow!r}")
            if flow.mss > link.buffer:
                raise ValueError(
                    f"buffer ({link.buffer} bytes) must hold at least one packet (mss={flow.mss})"
                )
        if len({id(f.controller) for f in flows}) != len(flows):
            raise ValueError("flows must not share a controller object")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self._link = link
        self._flows = list(flows)
        self.seed = seed
        self.sample_interval = float(positive("sample_interval", sample_interval))
        self._ran = False

    def run(self, duration: float) -> SimResult:
        """Simulate ``[0, duration]`` seconds and return what happened."""
        duration = float(positive("duration", duration))
        if self._ran:
            raise RuntimeError("a Simulation runs once: build a new one with fresh controllers")
        self._ran = True
        return _run(self._link, self._flows, self.seed, self.sample_interval, duration)


def _run(  # one loop on purpose: the hot path stays in local variables
    link: Link, flows: list[Flow], seed: int, interval: float, duration: float
) -> SimResult:
    senders = [_Sender(f, i) for i, f in enumerate(flows)]
    heap: list[tuple[float, int, int, int]] = []
    push = heapq.heappush
    pop = heapq.heappop
    tick = itertools.count()

    rate = link.rate
    base_rtt = link.base_rtt
    buffer = link.buffer
    every = periodic_interval(link.loss) if link.loss_pattern == "periodic" else 0
    random_loss = link.loss if link.loss_pattern == "random" else 0.0
    draw = random.Random(seed).random

    queue: deque[tuple[_Sender, int, int]] = deque()  # head is the packet in service
    acks: deque[tuple[float, _Sender, int]] = deque()
    link_done = _INF
    qbytes = 0
    qpeak = 0
    arrivals = 0
    buffer_drops = 0
    loss_drops = 0
    transmitted = 0
    events = 0
    link_samples: list[LinkSample] = []
    peaks: list[float] = []

    for i, s in enumerate(senders):
        push(heap, (s.start, next(tick), _START, i))
    for i, (when, _) in enumerate(link.rate_schedule):
        push(heap, (when, next(tick), _RATE, i))
    push(heap, (0.0, next(tick), _SAMPLE, 0))
    # The times of the next ACK and of the heap's next event, kept up to date
    # wherever acks or heap change (the loop reads them on every event).
    t_ack = _INF
    t_heap = heap[0][0]

    def send(s: _Sender, i: int, now: float) -> None:
        """Send what the window, pacing and application allow (the sender's output routine)."""
        nonlocal events, link_done, qbytes, qpeak, arrivals, buffer_drops, loss_drops, t_heap
        if now >= s.stop:
            return
        ctrl, cwnd_of, pacing_of, snapshot, mss, app_rate = s.output
        while True:
            inflight = s.inflight
            if inflight + mss > cwnd_of(ctrl) and inflight:
                return
            pacing = pacing_of(ctrl)
            if pacing and now < s.next_send:
                wake = s.next_send  # paced: wake up when the next send is due
                if wake < s.wake_at:
                    s.wake_at = wake
                    push(heap, (wake, next(tick), _WAKE, i))
                    t_heap = heap[0][0]
                return
            if app_rate:
                missing = mss - (app_rate * (now - s.start) - s.app_sent)
                if missing > _APP_SLACK:
                    s.est.on_app_limited(inflight)  # draft-cheng section 3.4
                    wake = now + missing / app_rate  # when the application has a packet
                    if wake < s.wake_at:
                        s.wake_at = wake
                        push(heap, (wake, next(tick), _WAKE, i))
                        t_heap = heap[0][0]
                    return
                s.app_sent += mss
            if pacing:
                s.next_send = now + mss / pacing
            events += 1
            inflight += mss
            s.inflight = inflight
            seq = s.seq = s.seq + 1
            s.outstanding.append((seq, now, mss, snapshot(now, mss, inflight)))
            if not s.timed_seq:
                s.timed_seq = seq
            ctrl.on_sent(now, mss, inflight)
            if s.rto_deadline == _INF:  # RFC 6298 (5.1): start the timer if it is not running
                deadline = s.rto_deadline = now + s.rto
                if deadline < s.rto_timer_at:
                    s.rto_timer_at = deadline
                    push(heap, (deadline, next(tick), _RTO, i))
                    t_heap = heap[0][0]
            # The packet reaches the bottleneck.
            arrivals += 1
            if (every and arrivals % every == 0) or (random_loss and draw() < random_loss):
                loss_drops += 1
                s.dropped += 1
            elif not queue:
                queue.append((s, seq, mss))
                qbytes = mss
                link_done = now + mss / rate
                if mss > qpeak:
                    qpeak = mss
            elif qbytes + mss <= buffer:
                queue.append((s, seq, mss))
                qbytes += mss
                if qbytes > qpeak:
                    qpeak = qbytes
            else:
                buffer_drops += 1
                s.dropped += 1

    sample_k = 0
    while True:
        if link_done <= t_ack and link_done <= t_heap:
            # The packet in service leaves the link; it is acknowledged base_rtt later.
            now = link_done
            if now > duration:
                break
            events += 1
            s, seq, size = queue.popleft()
            ack_at = now + base_rtt
            if not acks:
                t_ack = ack_at
            acks.append((ack_at, s, seq))
            qbytes -= size
            transmitted += size
            link_done = now + queue[0][2] / rate if queue else _INF
        elif t_ack <= t_heap:
            now = t_ack
            if now > duration:
                break
            events += 1
            _, s, seq = acks.popleft()
            t_ack = acks[0][0] if acks else _INF
            out = s.outstanding
            if not out:
                continue  # already declared lost by an RTO
            first = out[0][0]
            if first > seq:
                continue  # already declared lost by an RTO
            ctrl = s.ctrl
            newly_lost = 0
            if first != seq:
                # Every earlier packet still outstanding was dropped: declare it lost.
                est = s.est
                if s.timed_seq < seq:
                    s.timed_seq = 0  # the timed packet was lost (Karn, RFC 6298 section 3)
                while out[0][0] != seq:
                    _, lost_time, size, lost = out.popleft()
                    s.inflight -= size
                    newly_lost += size
                    s.declared_lost += 1
                    s.app_sent -= size
                    est.on_loss(lost)
                    ctrl.on_loss(LossEvent(now, size, s.inflight, lost_time, lost))
            _, sent_time, size, packet = out.popleft()
            inflight = s.inflight = s.inflight - size
            s.delivered += size
            sample = now - sent_time
            if sample < s.min_rtt:
                s.min_rtt = sample
            if seq == s.timed_seq:
                # One RTO sample per round trip, timing one packet at a time (RFC 6298 section 3).
                s.rtt.update(sample, now)
                s.rto = s.rtt.rto
                s.timed_seq = 0
            # One packet per ACK, in time order: the estimator's unchecked sampling step.
            rs = s.est._sample(now, packet, size, s.min_rtt, newly_lost)
            delivery_rate = rs.delivery_rate
            if delivery_rate > 0.0:
                s.last_rate = delivery_rate
            ctrl.on_ack(_make(AckSample, (now, size, inflight, sent_time, sample, rs, False)))
            # RFC 6298 (5.2, 5.3): stop the timer when all is acknowledged, else restart it.
            s.rto_deadline = now + s.rto if out else _INF
            if s.wake_at == _INF:  # else a pacing or application wake-up is due: it sends then
                send(s, s.index, now)
            if s.state_of(ctrl) != s.state:
                s.check_state(now)
        else:
            if t_heap > duration:
                break
            now, _, kind, i = pop(heap)
            t_heap = heap[0][0] if heap else _INF
            if kind == _WAKE:
                s = senders[i]
                if now != s.wake_at:
                    continue  # superseded by an earlier wake-up
                s.wake_at = _INF
                send(s, i, now)
                if s.state_of(s.ctrl) != s.state:
                    s.check_state(now)
            elif kind == _SAMPLE:
                delay = qbytes / rate
                link_samples.append(LinkSample(now, qbytes, delay))
                peaks.append(max(qpeak / rate, delay))
                qpeak = qbytes
                for s in senders:
                    s.cum_times.append(now)
                    s.cum_delivered.append(s.delivered)
                    if s.started and not (s.samples and s.samples[-1].t == now):
                        s.sample(now)
                sample_k += 1
                nxt = sample_k * interval
                if nxt <= duration:
                    push(heap, (nxt, next(tick), _SAMPLE, 0))
                    t_heap = heap[0][0]
            elif kind == _RTO:
                s = senders[i]
                if now != s.rto_timer_at:
                    continue  # stale: a nearer timer was armed since
                s.rto_timer_at = _INF
                deadline = s.rto_deadline
                if deadline > now:
                    if deadline < _INF:  # restarted by ACKs since: sleep until the new deadline
                        s.rto_timer_at = deadline
                        push(heap, (deadline, next(tick), _RTO, i))
                        t_heap = heap[0][0]
                    continue
                _timeout(s, now)
                send(s, i, now)
                s.check_state(now)
            elif kind == _START:
                s = senders[i]
                s.started = True
                s.check_state(now)
                send(s, i, now)
                s.check_state(now)
            else:  # _RATE
                new_rate = link.rate_schedule[i][1]
                if queue:
                    # The rest of the packet in service goes at the new rate.
                    link_done = now + (link_done - now) * rate / new_rate
                rate = new_rate

    for s in senders:
        if not s.cum_times or s.cum_times[-1] < duration:
            s.cum_times.append(duration)
            s.cum_delivered.append(s.delivered)
    flow_results = [
        FlowResult(
            delivered_bytes=s.delivered,
            sent_packets=s.seq,
            lost_packets=s.dropped,
            declared_lost_packets=s.declared_lost,
            timeouts=s.timeouts,
            samples=s.samples,
            transitions=s.transitions,
            cum_times=s.cum_times,
            cum_delivered=s.cum_delivered,
            duration=duration,
        )
        for s in senders
    ]
    link_result = LinkResult(
        samples=link_samples,
        peaks=peaks,
        buffer_drops=buffer_drops,
        loss_drops=loss_drops,
        transmitted_bytes=transmitted,
        duration=duration,
    )
    return SimResult(
        flows=flow_results, link=link_result, duration=duration, events=events, link_config=link
    )


def _timeout(s: _Sender, now: float) -> None:
    """RFC 6298 (5.4-5.6): the RTO expired. Declare everything in flight lost and back off."""
    s.timeouts += 1
    s.timed_seq = 0
    s.rtt.on_timeout()
    s.rto = s.rtt.rto
    out = s.outstanding
    ctrl = s.ctrl
    est = s.est
    while out:
        _, lost_time, size, lost = out.popleft()
        s.inflight -= size
        s.declared_lost += 1
        s.app_sent -= size
        est.on_loss(lost)
        ctrl.on_loss(LossEvent(now, size, s.inflight, lost_time, lost, True))
    s.rto_deadline = _INF
