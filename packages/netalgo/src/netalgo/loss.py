"""Loss detection: RACK-TLP (RFC 8985), QUIC's thresholds (RFC 9002 section 6), a loss-rate meter.

Both detectors satisfy :class:`netalgo.protocols.LossDetector`. Sends are named
by numbers that strictly increase in send order, and a retransmission is a
*new* send with a new number (as in QUIC), so every acknowledgement is
unambiguous: there is no Karn problem inside the detectors.

Contract shared by both detectors:

* call :meth:`on_ack` once per newly acknowledged number, in increasing order
  for the numbers one ACK covers (RFC 9002 runs detection once per ACK frame,
  after all its packets; calling in increasing order gives the same result);
* update the :class:`~netalgo.protocols.RttEstimator` passed to the
  constructor with this ACK's sample *before* calling :meth:`on_ack`: the
  detectors read ``srtt`` / ``min_rtt`` / ``rto`` from it and never write it
  (except :class:`Rfc9002LossDetector` backing off the PTO, see there);
* an acknowledgement of an unknown or already acknowledged number is a no-op
  returning ``[]``;
* :attr:`timer` is when :meth:`on_timer` should be called next; calling it
  early is a no-op. When a probe timeout fires, :meth:`on_timer` returns
  ``[]`` (a probe timeout is not a loss, RFC 8985 section 7, RFC 9002 section
  6.2) and :attr:`probe_due` turns true until the next send or ACK: the
  caller should then send a probe (new data, or a retransmission of the last
  send under a new number).
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING

from netalgo._validate import Clock, non_negative, non_negative_int, positive, positive_int

if TYPE_CHECKING:
    from netalgo.protocols import RttEstimator

__all__ = ["LossRateEstimator", "RackTlp", "Rfc9002LossDetector"]

_NEG_INF = -math.inf


class _SendLog:
    """What both detectors keep of their sends: the outstanding ones, and the probe state.

    Sends are numbered in send order; :meth:`_record_send` checks that and the
    clock before it records anything, so a bad call changes nothing.
    """

    __slots__ = ("_clock", "_last_number", "_outstanding", "_probe_due", "_pto_timer")

    def __init__(self) -> None:
        self._clock = Clock()
        self._outstanding: dict[int, float] = {}
        """Sends neither acknowledged nor lost: number -> send time, in send order."""
        self._last_number = -1
        self._pto_timer: float | None = None
        self._probe_due = False

    @property
    def probe_due(self) -> bool:
        """A probe timeout fired and no send or ACK has happened since."""
        return self._probe_due

    def _record_send(self, number: int, now: float, size: int) -> None:
        """Check a send's number, size and time, then record it as outstanding."""
        if number <= self._last_number or type(number) is not int:
            non_negative_int("number", number)
            if number <= self._last_number:
                raise ValueError(
                    f"number must grow with every send: {number!r} <= {self._last_number!r}"
                )
        if size <= 0 or type(size) is not int:
            positive_int("size", size)
        self._clock.advance(now)
        self._last_number = number
        self._outstanding[number] = now


class RackTlp(_SendLog):
    """RACK-TLP loss detection (RFC 8985).

    RACK (section 6): a send is lost once a send made *after* it has been
    acknowledged and ``RACK.rtt + RACK.reo_wnd`` has passed since it was sent
    (6.2 step 5, ``RACK_detect_loss``); the reordering timer (6.3) fires for
    those still inside the window. ``RACK.rtt`` is the RTT of the most recently
    sent acknowledged send (step 2). The reordering window (step 4,
    ``RACK_update_reo_wnd``) is ``min(reo_wnd_mult * min_RTT / 4, SRTT)``; it is 0
    while no reordering has been seen (step 3) and the sender is in recovery
    or has ``dup_thresh`` sends acknowledged out of order. ``reo_wnd_mult``
    grows by one per round trip with a DSACK and falls back to 1 after
    ``reo_wnd_persist`` (16) recoveries without one. Without TCP's DSACK, an
    acknowledgement of a send this detector already declared lost plays its
    part: it proves the loss was spurious, which is what DSACK reports.

    Recovery, which the detector cannot see from outside, is taken to start
    when it declares a loss and to end when a send made after that
    declaration is acknowledged (the recovery point of RFC 6675 / 6582).

    TLP (section 7): after a send or an ACK, with sends outstanding, not in
    recovery and nothing acknowledged out of order (7.2), a probe timeout
    (PTO) is armed: ``2 * SRTT``, plus ``max_ack_delay`` (TLP.max_ack_delay,
    200 ms by default, a worst-case delayed ACK) when one send is
    outstanding; ``rtt.rto`` while there is no SRTT; never later than
    ``rtt.rto`` from now (standing in for the RTO timer's expiry). At most one
    probe is outstanding (7.3): after the send that follows a PTO, no PTO is
    armed until an ACK arrives. The reordering timer, when armed, takes the
    timer's place, as in Linux.

    Not modelled: TLP's own loss detection for congestion control (7.4), and
    the RTO, which stays the caller's.
    """

    __slots__ = (
        "_dsack_round",
        "_dup_thresh",
        "_fack",
        "_lost_recent",
        "_max_ack_delay",
        "_max_lost_tracked",
        "_rack_end",
        "_rack_rtt",
        "_rack_xmit_ts",
        "_recovery_point",
        "_reo_timer",
        "_reo_wnd_mult",
        "_reo_wnd_persist",
        "_reo_wnd_persist_init",
        "_reordering_seen",
        "_rtt",
        "_sacked",
        "_tlp_outstanding",
    )

    def __init__(
        self,
        rtt: RttEstimator,
        *,
        reo_wnd_persist: int = 16,
        dup_thresh: int = 3,
        max_ack_delay: float = 0.2,
        max_lost_tracked: int = 4096,
    ) -> None:
        self._rtt = rtt
        self._reo_wnd_persist_init = positive_int("reo_wnd_persist", reo_wnd_persist)
        self._dup_thresh = positive_int("dup_thresh", dup_thresh)
        self._max_ack_delay = non_negative("max_ack_delay", max_ack_delay)
        self._max_lost_tracked = positive_int("max_lost_tracked", max_lost_tracked)
        super().__init__()
        self._sacked: list[int] = []
        """Heap of numbers acknowledged above the lowest outstanding one (RACK.segs_sacked)."""
        self._lost_recent: dict[int, None] = {}
        """The last ``max_lost_tracked`` numbers declared lost, to spot spurious losses."""
        self._rack_xmit_ts = _NEG_INF
        self._rack_end = -1
        self._rack_rtt = 0.0
        self._fack = -1
        self._reordering_seen = False
        self._reo_wnd_mult = 1
        self._reo_wnd_persist = 0
        self._dsack_round: int | None = None
        self._recovery_point: int | None = None
        self._reo_timer: float | None = None
        self._tlp_outstanding = False

    @property
    def timer(self) -> float | None:
        """The reordering timer if armed, else the probe timeout, else ``None``."""
        return self._reo_timer if self._reo_timer is not None else self._pto_timer

    def on_sent(self, number: int, now: float, size: int) -> None:
        """Record a send (its number must exceed every earlier one)."""
        self._record_send(number, now, size)
        if self._probe_due:
            # This is the loss probe: at most one outstanding (7.3).
            self._probe_due = False
            self._tlp_outstanding = True
            self._pto_timer = None
        else:
            self._arm_pto(now)

    def on_ack(self, number: int, now: float) -> list[int]:
        """Process the acknowledgement of ``number`` (6.2 steps 1-5); return the sends now lost."""
        self._clock.advance(now)
        sent = self._outstanding.pop(number, None)
        if sent is None:
            if number in self._lost_recent:
                # The "lost" send arrived after all: a spurious loss, DSACK's signal.
                del self._lost_recent[number]
                self._on_dsack()
            return []
        self._probe_due = False
        self._tlp_outstanding = False
        # Step 2: RACK.rtt / xmit_ts / end_seq follow the most recently sent acked send.
        if sent > self._rack_xmit_ts or (sent == self._rack_xmit_ts and number > self._rack_end):
            self._rack_rtt = now - sent
            self._rack_xmit_ts = sent
            self._rack_end = number
        # Step 3: reordering is an ACK below the highest one acknowledged (RACK.fack).
        if number > self._fack:
            self._fack = number
        else:
            self._reordering_seen = True
        outstanding = self._outstanding
        sacked = self._sacked
        if outstanding:
            lowest = next(iter(outstanding))
            if number > lowest:
                heapq.heappush(sacked, number)
            while sacked and sacked[0] < lowest:
                heapq.heappop(sacked)
        elif sacked:
            sacked.clear()
        # Recovery ends with the ACK of a send made after it began.
        if self._recovery_point is not None and number > self._recovery_point:
            self._recovery_point = None
            self._reo_wnd_persist -= 1
            if self._reo_wnd_persist <= 0:
                self._reo_wnd_mult = 1
        if self._dsack_round is not None and self._snd_una() >= self._dsack_round:
            self._dsack_round = None
        lost = self._detect_loss(now)
        self._arm_pto(now)
        return lost

    def on_timer(self, now: float) -> list[int]:
        """The timer fired: the reordering timer reruns RACK (6.3); a PTO asks for a probe (7.3)."""
        self._clock.advance(now)
        if self._reo_timer is not None:
            if now < self._reo_timer:
                return []
            lost = self._detect_loss(now)
            self._arm_pto(now)
            return lost
        if self._pto_timer is not None and now >= self._pto_timer:
            self._pto_timer = None
            self._probe_due = True
        return []

    def _snd_una(self) -> int:
        return next(iter(self._outstanding)) if self._outstanding else self._last_number + 1

    def _on_dsack(self) -> None:
        """Step 4's DSACK branch: widen the window once per round trip."""
        if self._dsack_round is not None and self._snd_una() >= self._dsack_round:
            self._dsack_round = None
        if self._dsack_round is None:
            self._dsack_round = self._last_number + 1
            self._reo_wnd_mult += 1
            self._reo_wnd_persist = self._reo_wnd_persist_init

    def _reo_wnd(self) -> float:
        """``RACK_update_reo_wnd`` without its DSACK bookkeeping (kept in on_ack / _on_dsack)."""
        if not self._reordering_seen and (
            self._recovery_point is not None or len(self._sacked) >= self._dup_thresh
        ):
            return 0.0
        min_rtt = self._rtt.min_rtt
        if min_rtt is None:
            min_rtt = self._rack_rtt
        reo_wnd = self._reo_wnd_mult * min_rtt / 4
        srtt = self._rtt.srtt
        return srtt if srtt is not None and srtt < reo_wnd else reo_wnd

    def _detect_loss(self, now: float) -> list[int]:
        """``RACK_detect_loss`` and the reordering timer (6.2 step 5, 6.3)."""
        self._reo_timer = None
        lost: list[int] = []
        rack_ts = self._rack_xmit_ts
        if rack_ts == _NEG_INF:
            return lost
        rack_end = self._rack_end
        threshold = self._rack_rtt + self._reo_wnd()
        timeout = 0.0
        for number, sent in self._outstanding.items():
            # Sends are in send order: stop at the first one not sent before RACK's.
            if not (sent < rack_ts or (sent == rack_ts and number < rack_end)):
                break
            remaining = sent + threshold - now
            if remaining <= 0:
                lost.append(number)
            elif remaining > timeout:
                timeout = remaining
        if lost:
            tracked = self._lost_recent
            for number in lost:
                del self._outstanding[number]
                tracked[number] = None
            while len(tracked) > self._max_lost_tracked:
                del tracked[next(iter(tracked))]
            if self._recovery_point is None:
                self._recovery_point = self._last_number
        if timeout > 0:
            self._reo_timer = now + timeout
        return lost

    def _arm_pto(self, now: float) -> None:
        """TLP_calc_PTO and the arming conditions of 7.2."""
        if (
            not self._outstanding
            or self._recovery_point is not None
            or self._sacked
            or self._tlp_outstanding
        ):
            self._pto_timer = None
            return
        rto = self._rtt.rto
        srtt = self._rtt.srtt
        if srtt is None:
            pto = rto
        else:
            pto = 2 * srtt
            if len(self._outstanding) == 1:
                pto += self._max_ack_delay
            if pto > rto:
                pto = rto
        self._pto_timer = now + pto


class Rfc9002LossDetector(_SendLog):
    """QUIC's loss detection (RFC 9002 sections 6.1 and 6.2, Appendix A.10).

    A send older than the largest acknowledged one is lost when
    ``packet_threshold`` (kPacketThreshold, 3) later sends are acknowledged
    (6.1.1), or when it was sent at least
    ``loss_delay = max(time_threshold * max(smoothed_rtt, latest_rtt), granularity)``
    ago (6.1.2; kTimeThreshold 9/8, kGranularity 1 ms). Sends still within the
    time threshold arm the loss timer for when they pass it.
    ``latest_rtt`` is measured here from the largest acknowledged send (5.1);
    ``smoothed_rtt`` is read from the estimator (``latest_rtt`` alone before it
    has one).

    With nothing pending on the loss timer and sends outstanding, the timer
    is the probe timeout (6.2.1, A.8): ``rtt.rto`` after the last send, which
    for an :class:`~netalgo.rtt.Rfc9002Estimator` is the PTO with its
    ``2**pto_count`` backoff. When it fires, :attr:`probe_due` turns true and
    the detector calls ``rtt.on_timeout()`` if the estimator has one (A.9's
    ``pto_count++``): do not call it again yourself. No send is declared lost
    by a PTO (6.2).
    """

    __slots__ = (
        "_granularity",
        "_largest_acked",
        "_last_sent_time",
        "_latest_rtt",
        "_loss_time",
        "_packet_threshold",
        "_rtt",
        "_time_threshold",
    )

    def __init__(
        self,
        rtt: RttEstimator,
        *,
        packet_threshold: int = 3,
        time_threshold: float = 9 / 8,
        granularity: float = 0.001,
    ) -> None:
        self._rtt = rtt
        self._packet_threshold = positive_int("packet_threshold", packet_threshold)
        self._time_threshold = positive("time_threshold", time_threshold)
        self._granularity = positive("granularity", granularity)
        super().__init__()
        self._largest_acked = -1
        self._latest_rtt: float | None = None
        self._last_sent_time = 0.0
        self._loss_time: float | None = None

    @property
    def timer(self) -> float | None:
        """The loss timer (``loss_time``) if set, else the PTO, else ``None`` (A.8)."""
        return self._loss_time if self._loss_time is not None else self._pto_timer

    def on_sent(self, number: int, now: float, size: int) -> None:
        """Record an (ack-eliciting) send; its number must exceed every earlier one."""
        self._record_send(number, now, size)
        self._last_sent_time = now
        self._probe_due = False
        self._set_timer()

    def on_ack(self, number: int, now: float) -> list[int]:
        """Process the acknowledgement of ``number``; return the sends now lost (A.7, A.10)."""
        self._clock.advance(now)
        sent = self._outstanding.pop(number, None)
        if sent is None:
            return []
        self._probe_due = False
        if number > self._largest_acked:
            self._largest_acked = number
            self._latest_rtt = now - sent
        lost = self._detect_and_remove(now)
        self._set_timer()
        return lost

    def on_timer(self, now: float) -> list[int]:
        """``OnLossDetectionTimeout`` (A.9): time-threshold losses, or a probe timeout."""
        self._clock.advance(now)
        if self._loss_time is not None:
            if now < self._loss_time:
                return []
            lost = self._detect_and_remove(now)
            self._set_timer()
            return lost
        if self._pto_timer is not None and now >= self._pto_timer:
            self._pto_timer = None
            self._probe_due = True
            on_timeout = getattr(self._rtt, "on_timeout", None)
            if callable(on_timeout):
                on_timeout()
        return []

    def _detect_and_remove(self, now: float) -> list[int]:
        """``DetectAndRemoveLostPackets`` (A.10)."""
        self._loss_time = None
        lost: list[int] = []
        largest = self._largest_acked
        latest = self._latest_rtt
        if latest is None:
            return lost
        srtt = self._rtt.srtt
        base = srtt if srtt is not None and srtt > latest else latest
        loss_delay = self._time_threshold * base
        if loss_delay < self._granularity:
            loss_delay = self._granularity
        lost_send_time = now - loss_delay
        packet_limit = largest - self._packet_threshold
        for number, sent in self._outstanding.items():
            if number > largest:
                break
            # Equality counts as lost in both tests, as in A.10.
            if sent <= lost_send_time or number <= packet_limit:
                lost.append(number)
            else:
                # Later sends are newer and numbered higher: none of them is lost either.
                self._loss_time = sent + loss_delay
                break
        for number in lost:
            del self._outstanding[number]
        return lost

    def _set_timer(self) -> None:
        """``SetLossDetectionTimer`` (A.8): the PTO runs from the last send."""
        if self._outstanding:
            self._pto_timer = self._last_sent_time + self._rtt.rto
        else:
            self._pto_timer = None


class LossRateEstimator:
    """The fraction of the last ``window`` sends that were lost.

    A sliding window rather than an EWMA: "k of the last N sends were lost"
    has an exact meaning that can be compared with a link's configured loss
    probability or a simulator's count, every send in the window weighs the
    same, and the estimate forgets a burst exactly N sends later instead of
    along a geometric tail whose length depends on a gain to be tuned. It costs
    one byte per send of window. Before the window fills, the fraction is over
    the sends recorded so far.
    """

    __slots__ = ("_count", "_index", "_lost", "_ring", "_window")

    def __init__(self, window: int = 1000) -> None:
        self._window = positive_int("window", window)
        self._ring = bytearray(window)
        self._index = 0
        self._count = 0
        self._lost = 0

    @property
    def window(self) -> int:
        """How many of the most recent sends the estimate covers."""
        return self._window

    @property
    def samples(self) -> int:
        """How many sends the estimate covers now (at most :attr:`window`)."""
        return self._count

    @property
    def loss_rate(self) -> float:
        """Lost sends over recorded sends in the window, 0.0 before any."""
        return self._lost / self._count if self._count else 0.0

    def record(self, lost: bool) -> None:
        """Record the outcome of one send: ``True`` if it was lost, ``False`` if delivered."""
        ring = self._ring
        i = self._index
        bit = 1 if lost else 0
        self._lost += bit - ring[i]
        ring[i] = bit
        self._index = i + 1 if i + 1 < self._window else 0
        if self._count < self._window:
            self._count += 1
