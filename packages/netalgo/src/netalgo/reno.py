"""NewReno: RFC 5681 congestion control with RFC 6582 fast recovery, in bytes.

* Slow start (RFC 5681 section 3.1) with Appropriate Byte Counting (RFC 3465
  section 2.2): each ACK grows ``cwnd`` by ``min(N, L * SMSS)``, ``N`` the newly
  acknowledged bytes. ``L`` defaults to 2, RFC 3465's recommended limit. With
  ``hystart=True`` the initial slow start is HyStart++ (RFC 9406, whose ``L`` is
  8 segments for a non-paced sender) and later slow starts are standard.
* Congestion avoidance (RFC 5681 section 3.1, byte counting of RFC 3465 section
  2.1): ``cwnd`` grows by one SMSS each time a full ``cwnd`` of bytes has been
  acknowledged, i.e. one SMSS per RTT. Slow start runs while ``cwnd < ssthresh``;
  at equality congestion avoidance runs (RFC 5681 leaves the choice open).
* Loss (RFC 5681 equation 4): ``ssthresh = max(FlightSize / 2, 2 * SMSS)`` and
  ``cwnd = ssthresh``, where FlightSize is the data outstanding when the loss was
  detected, lost bytes included (``LossEvent.bytes_in_flight + lost_bytes``).
  The sender here counts bytes in flight itself (SACK/RACK style), so the
  window is not inflated by duplicate ACKs during recovery (RFC 6582 step 2 adds
  ``3 * SMSS`` only to account for segments that left the network, which the
  sender's ``bytes_in_flight`` already does).
* Recovery (RFC 6582 section 3.2): one reduction per recovery episode. A loss of
  a send made before the current recovery began does not reduce again; the
  window does not grow during recovery; recovery ends at the first ACK of a send
  made after recovery began (the "full acknowledgment" of ``recover``).
* ECN (RFC 3168 section 6.1.2; RFC 9002 sections 7.1 and B.7): an ACK whose
  ``ce_marked`` is set is a congestion event like a loss (the same reduction,
  recovery and one-per-window rule keyed on the marked send's time), but the data
  was delivered: FlightSize is the flight before that ACK.
* Retransmission timeout (RFC 5681 section 3.1, equation 4 and the loss window
  LW): ``ssthresh`` as for a loss (held, not halved again, if this window already
  reduced it) and ``cwnd = 1 SMSS``; then slow start. All timeout events for sends
  made before the timeout are one timeout.
* Growth only while cwnd-limited: an ACK grows the window only when the data in
  flight before it filled ``cwnd`` (within one SMSS). RFC 5681 does not require
  this, but without it an application-limited sender (e.g. the S3 limiter)
  grows ``cwnd`` without bound (RFC 7661 section 1); ``grow_when_app_limited=True``
  turns the rule off.

Windows are bytes at the API (``cwnd`` is an ``int``; fractional growth is kept
internally). The default initial window is RFC 6928's
``min(10 * MSS, max(2 * MSS, 14600))``; the initial ``ssthresh`` is infinite
unless ``initial_ssthresh`` is given (RFC 5681 section 3.1 allows either).
"""

from __future__ import annotations

import math

from netalgo._validate import Clock, finite, non_negative_int, positive, positive_int
from netalgo.hystart import HyStartPlusPlus
from netalgo.protocols import AckSample, LossEvent

__all__ = ["ABC_LIMIT", "NewReno", "rfc6928_initial_window"]

ABC_LIMIT = 2
"""RFC 3465 section 2.2: ``L``, the most SMSS one ACK may grow ``cwnd`` by in slow start."""

_RTT_GAIN = 1 / 8
"""RFC 6298 ``alpha``: the smoothed RTT the controllers keep for themselves."""


def rfc6928_initial_window(mss: int) -> int:
    """RFC 6928 section 2: ``IW = min(10 * MSS, max(2 * MSS, 14600))`` bytes."""
    return min(10 * mss, max(2 * mss, 14600))


class NewReno:
    """RFC 5681 / RFC 6582 NewReno congestion control; satisfies ``CongestionController``.

    ``state`` is one of ``"SlowStart"``, ``"ConservativeSlowStart"`` (HyStart++),
    ``"CongestionAvoidance"`` or ``"Recovery"``.
    """

    __slots__ = (
        "_abc_limit_bytes",
        "_ca_bytes_acked",
        "_clock",
        "_cwnd",
        "_grow_when_app_limited",
        "_hystart",
        "_in_recovery",
        "_recovery_start",
        "_srtt",
        "_ssthresh",
        "_timeout_start",
        "mss",
    )

    def __init__(
        self,
        *,
        mss: int = 1460,
        initial_window: int | None = None,
        initial_ssthresh: int | None = None,
        hystart: bool = False,
        paced: bool = False,
        abc_limit: float = ABC_LIMIT,
        grow_when_app_limited: bool = False,
    ) -> None:
        self.mss = positive_int("mss", mss)
        if initial_window is None:
            initial_window = rfc6928_initial_window(mss)
        self._cwnd = float(positive_int("initial_window", initial_window))
        self._abc_limit_bytes = positive("abc_limit", abc_limit) * mss
        # RFC 5681 section 3.1: "arbitrarily high" unless the caller knows better.
        self._ssthresh = (
            math.inf
            if initial_ssthresh is None
            else float(positive_int("initial_ssthresh", initial_ssthresh))
        )
        self._hystart: HyStartPlusPlus | None = (
            HyStartPlusPlus(mss=mss, paced=paced) if hystart else None
        )
        self._grow_when_app_limited = grow_when_app_limited
        self._clock = Clock()
        self._in_recovery = False
        self._recovery_start = -math.inf
        self._timeout_start = -math.inf
        self._ca_bytes_acked = 0
        self._srtt: float | None = None

    # -- CongestionController --------------------------------------------------------------

    @property
    def cwnd(self) -> int:
        """Congestion window in bytes (never below one SMSS)."""
        return int(self._cwnd)

    @property
    def pacing_rate(self) -> float | None:
        """``None``: these controllers are ACK-clocked."""
        return None

    @property
    def state(self) -> str:
        if self._in_recovery:
            return "Recovery"
        if self._cwnd < self._ssthresh:
            hystart = self._hystart
            if hystart is not None and hystart.in_css:
                return "ConservativeSlowStart"
            return "SlowStart"
        return "CongestionAvoidance"

    @property
    def ssthresh(self) -> float:
        """Slow-start threshold in bytes (``inf`` until the first congestion event)."""
        return self._ssthresh

    @property
    def srtt(self) -> float | None:
        """Smoothed RTT (RFC 6298 ``alpha = 1/8``) of the samples seen, or ``None``."""
        return self._srtt

    @property
    def hystart(self) -> HyStartPlusPlus | None:
        """The HyStart++ state while the initial slow start uses it, else ``None``."""
        return self._hystart

    def on_sent(self, now: float, sent_bytes: int, bytes_in_flight: int) -> None:
        positive_int("sent_bytes", sent_bytes)
        non_negative_int("bytes_in_flight", bytes_in_flight)
        self._clock.advance(now)
        if self._hystart is not None:
            self._hystart.on_sent(now)
        if bytes_in_flight <= sent_bytes:
            self._on_idle_restart(now)

    def on_ack(self, sample: AckSample) -> None:
        acked = non_negative_int("acked_bytes", sample.acked_bytes)
        in_flight = non_negative_int("bytes_in_flight", sample.bytes_in_flight)
        sent_time = finite("sent_time", sample.sent_time)
        rtt = sample.rtt
        if rtt is not None:
            positive("rtt", rtt)
        now = self._clock.advance(sample.now)
        if rtt is not None:
            srtt = self._srtt
            self._srtt = rtt if srtt is None else srtt + _RTT_GAIN * (rtt - srtt)
        if sample.ce_marked and sent_time >= self._recovery_start:
            # RFC 3168 §6.1.2, RFC 9002 §7.1: a CE mark is a congestion event, once per
            # window of sends; the acknowledged bytes still count as outstanding then.
            self._congestion_event(now, in_flight + acked)
            return
        if self._in_recovery:
            if sent_time < self._recovery_start:
                return  # partial ACK: no growth during recovery (RFC 6582 section 3.2 step 5)
            self._in_recovery = False  # full ACK ends recovery (step 3); no growth on it
            self._on_recovery_end(now)
            return
        if acked == 0:
            return
        cwnd_limited = self._grow_when_app_limited or in_flight + acked + self.mss > self._cwnd
        if self._cwnd < self._ssthresh:
            if cwnd_limited:
                self._slow_start(now, acked, sent_time, rtt)
            elif self._hystart is not None:
                # Keep HyStart++'s rounds and RTT samples going without growth.
                self._hystart.on_ack(now, 0, sent_time, rtt)
                self._check_hystart_exit(now)
        elif cwnd_limited:
            self._congestion_avoidance(now, acked)
        else:
            self._on_app_limited_ack(now)

    def on_loss(self, event: LossEvent) -> None:
        lost = non_negative_int("lost_bytes", event.lost_bytes)
        in_flight = non_negative_int("bytes_in_flight", event.bytes_in_flight)
        sent_time = finite("sent_time", event.sent_time)
        now = self._clock.advance(event.now)
        flight_size = in_flight + lost
        self._end_hystart()
        if event.is_timeout:
            if sent_time < self._timeout_start:
                return  # part of a timeout already answered
            new_episode = sent_time >= self._recovery_start
            self._timeout_start = now
            self._recovery_start = now
            self._in_recovery = False
            self._ca_bytes_acked = 0
            self._on_timeout(now, flight_size, new_episode)
            return
        if sent_time < self._recovery_start:
            return  # same window of sends: one reduction per recovery (RFC 6582)
        self._congestion_event(now, flight_size)

    def _end_hystart(self) -> None:
        # RFC 9406 section 4.2: loss or ECN-CE in (conservative) slow start ends HyStart++.
        if self._hystart is not None:
            self._hystart.on_congestion()
            self._hystart = None

    def _congestion_event(self, now: float, flight_size: int) -> None:
        """A loss or CE mark from the current window of sends: enter recovery and reduce once."""
        self._end_hystart()
        self._recovery_start = now
        self._in_recovery = True
        self._ca_bytes_acked = 0
        self._on_congestion_event(now, flight_size)

    # -- the parts a subclass (CUBIC) replaces -----------------------------------------------

    def _slow_start(self, now: float, acked: int, sent_time: float, rtt: float | None) -> None:
        hystart = self._hystart
        if hystart is not None:
            self._cwnd += hystart.on_ack(now, acked, sent_time, rtt)
            self._check_hystart_exit(now)
        else:
            limit = self._abc_limit_bytes
            self._cwnd += acked if acked < limit else limit

    def _check_hystart_exit(self, now: float) -> None:
        hystart = self._hystart
        if hystart is not None and hystart.done:
            # RFC 9406 section 4.2: "enter congestion avoidance ... ssthresh = cwnd".
            self._ssthresh = self._cwnd
            self._hystart = None
            self._on_hystart_exit(now)

    def _on_hystart_exit(self, now: float) -> None:
        """HyStart++ ended slow start without a loss (CUBIC sets up its epoch here)."""

    def _congestion_avoidance(self, now: float, acked: int) -> None:
        """RFC 5681 section 3.1 with RFC 3465 section 2.1 byte counting: one SMSS per RTT."""
        self._ca_bytes_acked += acked
        if self._ca_bytes_acked >= self._cwnd:
            self._ca_bytes_acked -= int(self._cwnd)
            self._cwnd += self.mss

    def _on_app_limited_ack(self, now: float) -> None:
        """An ACK in congestion avoidance while not cwnd-limited: no growth."""

    def _on_recovery_end(self, now: float) -> None:
        """Recovery just ended (RFC 6582 section 3.2 step 3)."""

    def _on_idle_restart(self, now: float) -> None:
        """A send with nothing else in flight (restart after idle)."""

    def _on_congestion_event(self, now: float, flight_size: int) -> None:
        """RFC 5681 equation (4); RFC 6582 step 2 sets ``cwnd = ssthresh`` (no inflation here)."""
        mss = self.mss
        self._ssthresh = max(flight_size / 2, 2 * mss)
        self._cwnd = self._ssthresh

    def _on_timeout(self, now: float, flight_size: int, new_episode: bool) -> None:
        """RFC 5681 section 3.1: ``ssthresh`` per equation (4), ``cwnd = LW = 1 SMSS``."""
        if new_episode:
            self._ssthresh = max(flight_size / 2, 2 * self.mss)
        self._cwnd = float(self.mss)
