"""Round-trip-time estimators: RFC 6298 (TCP's RTO) and RFC 9002 section 5 (QUIC's RTT and PTO).

Both satisfy :class:`netalgo.protocols.RttEstimator`. They never read a clock:
every sample comes with ``now``, which must not go backwards.

Karn's algorithm (RFC 6298 section 3, RFC 6298 section 5 note): an RTT
measured on a send that was retransmitted is ambiguous and MUST NOT be used.
The estimators cannot tell, so the *caller* applies it by not calling
``update`` for such sends (:class:`~netalgo.protocols.AckSample` carries
``rtt=None`` for them). A backed-off timeout (:meth:`Rfc6298Estimator.on_timeout`)
is kept until the next valid sample arrives, and only then collapses back to
the value of section 2.

Update order of SRTT and RTTVAR: RFC 6298 (2.3) requires RTTVAR to be updated
with the *old* SRTT, before SRTT itself. RFC 9002's Appendix A.7 pseudo-code
does the same, but the prose of RFC 9002 section 5.3 updates ``smoothed_rtt``
first and then takes ``rttvar_sample = abs(smoothed_rtt - adjusted_rtt)``
with the *new* value. That inconsistency was reported as RFC erratum 7539
(https://www.rfc-editor.org/errata/eid7539; implementations such as
s2n-quic, aws/s2n-quic#1805, and quic-go, quic-go/quic-go#3893, moved to the
RFC 6298 order after it). Both estimators here follow the RFC 6298 /
Appendix A.7 order: RTTVAR from the old SRTT, then SRTT. It is what TCP has
always done, the erratum's proposed reading, and keeps the two estimators
identical on identical samples (with no ack delay).
"""

from __future__ import annotations

import math

from netalgo._validate import Clock, non_negative, positive
from netalgo.filters import WindowedMinFilter

__all__ = ["Rfc6298Estimator", "Rfc9002Estimator"]

_INF = math.inf


def _bad(name: str, value: float, *, allow_zero: bool = False) -> None:
    """Raise the shared ``ValueError`` for a sample that failed the fast inline check."""
    if allow_zero:
        non_negative(name, value)
    positive(name, value)
    raise ValueError(f"{name} is invalid: {value!r}")  # pragma: no cover - unreachable


class Rfc6298Estimator:
    """TCP's retransmission timer estimator (RFC 6298 sections 2, 3 and 5).

    * before the first sample, ``rto`` is ``initial_rto`` (2.1; 1 s);
    * first sample R: ``SRTT = R``, ``RTTVAR = R/2`` (2.2);
    * later samples R': ``RTTVAR = (1 - beta) * RTTVAR + beta * |SRTT - R'|``,
      then ``SRTT = (1 - alpha) * SRTT + alpha * R'`` (2.3);
    * ``RTO = SRTT + max(G, K * RTTVAR)``, raised to ``min_rto`` (2.4; the RFC's
      1 s is the default, Linux uses 0.2 s) and capped at ``max_rto`` (2.5,
      which requires the cap to be at least 60 s to conform);
    * :meth:`on_timeout` doubles the RTO up to ``max_rto`` (5.5); the backed-off
      value stays until the next :meth:`update` (Karn, section 3 and 5).

    ``ack_delay`` is accepted for the Protocol and ignored: TCP's samples
    include the receiver's delayed-ACK time, and RFC 6298 has no correction.

    ``granularity`` is G, the clock granularity: 1 ms by default (RFC 9002's
    ``kGranularity``), which keeps RTO above SRTT when RTTVAR decays to zero.

    ``min_rtt`` is the smallest sample over the last ``min_rtt_window`` seconds
    (a :class:`~netalgo.filters.WindowedMinFilter`; 10 s by default, BBR's
    MinRTTFilterLen; Linux's own ``tcp_min_rtt_wlen`` defaults to 300 s), or
    over the connection's lifetime when
    ``min_rtt_window`` is ``None``. RFC 6298 itself has no min RTT.
    """

    __slots__ = (
        "_alpha",
        "_beta",
        "_clock",
        "_granularity",
        "_k",
        "_max_rto",
        "_min_filter",
        "_min_rto",
        "_min_rtt",
        "_rto",
        "_rttvar",
        "_srtt",
    )

    def __init__(
        self,
        *,
        alpha: float = 1 / 8,
        beta: float = 1 / 4,
        k: float = 4.0,
        granularity: float = 0.001,
        min_rto: float = 1.0,
        max_rto: float = 60.0,
        initial_rto: float = 1.0,
        min_rtt_window: float | None = 10.0,
    ) -> None:
        for name, gain in (("alpha", alpha), ("beta", beta)):
            if not (math.isfinite(gain) and 0 < gain <= 1):
                raise ValueError(f"{name} must lie in (0, 1], got {gain!r}")
        self._alpha = alpha
        self._beta = beta
        self._k = positive("k", k)
        self._granularity = non_negative("granularity", granularity)
        self._min_rto = positive("min_rto", min_rto)
        self._max_rto = positive("max_rto", max_rto)
        if max_rto < min_rto:
            raise ValueError(f"max_rto must be >= min_rto ({min_rto!r}), got {max_rto!r}")
        positive("initial_rto", initial_rto)
        self._rto = min(max(initial_rto, min_rto), max_rto)
        self._min_filter = (
            None
            if min_rtt_window is None
            else WindowedMinFilter(positive("min_rtt_window", min_rtt_window))
        )
        self._srtt: float | None = None
        self._rttvar: float | None = None
        self._min_rtt: float | None = None
        self._clock = Clock()

    @property
    def srtt(self) -> float | None:
        """SRTT, or ``None`` before the first sample."""
        return self._srtt

    @property
    def rttvar(self) -> float | None:
        """RTTVAR, or ``None`` before the first sample."""
        return self._rttvar

    @property
    def min_rtt(self) -> float | None:
        """Smallest sample in the min-RTT window (or lifetime), or ``None`` before the first."""
        return self._min_rtt

    @property
    def rto(self) -> float:
        """The RTO to arm now, in seconds, including any backoff (sections 2 and 5.5)."""
        return self._rto

    def update(self, rtt: float, now: float, ack_delay: float = 0.0) -> None:
        """Take one RTT measurement (section 2.2 / 2.3); clears any timeout backoff.

        Do not call it for a retransmitted send (Karn's algorithm, section 3).
        ``ack_delay`` is checked and ignored (see the class docstring).
        """
        if not 0.0 < rtt < _INF:
            _bad("rtt", rtt)
        if ack_delay and not 0.0 <= ack_delay < _INF:
            _bad("ack_delay", ack_delay, allow_zero=True)
        self._clock.advance(now)
        srtt = self._srtt
        if srtt is None or self._rttvar is None:
            # (2.2) first measurement.
            srtt = rtt
            rttvar = rtt / 2
        else:
            # (2.3) RTTVAR uses the SRTT from before this sample.
            beta = self._beta
            rttvar = (1 - beta) * self._rttvar + beta * abs(srtt - rtt)
            srtt = (1 - self._alpha) * srtt + self._alpha * rtt
        self._srtt = srtt
        self._rttvar = rttvar
        k_rttvar = self._k * rttvar
        rto = srtt + (k_rttvar if k_rttvar > self._granularity else self._granularity)
        if rto < self._min_rto:
            rto = self._min_rto  # (2.4)
        elif rto > self._max_rto:
            rto = self._max_rto  # (2.5)
        self._rto = rto
        if self._min_filter is not None:
            self._min_rtt = self._min_filter.update(rtt, now)
        elif self._min_rtt is None or rtt < self._min_rtt:
            self._min_rtt = rtt

    def on_timeout(self) -> None:
        """The retransmission timer expired: back off, ``RTO = min(2 * RTO, max_rto)`` (5.5)."""
        rto = 2 * self._rto
        self._rto = rto if rto < self._max_rto else self._max_rto


class Rfc9002Estimator:
    """QUIC's RTT estimator and probe timeout (RFC 9002 sections 5 and 6.2.1).

    * ``latest_rtt`` is each sample as measured (5.1);
    * ``min_rtt`` is the lifetime minimum of ``latest_rtt``, never adjusted for
      ack delay (5.2);
    * first sample: ``smoothed_rtt = latest_rtt``, ``rttvar = latest_rtt / 2``
      (5.3), ack delay not used;
    * later samples (5.3): after the handshake is confirmed, ``ack_delay`` is
      capped at ``max_ack_delay``; it is subtracted only if
      ``latest_rtt >= min_rtt + ack_delay`` (the adjusted sample is never
      below ``min_rtt``); then ``rttvar`` from the old ``smoothed_rtt``, then
      ``smoothed_rtt`` (the Appendix A.7 order, see the module docstring);
    * ``rto`` is the PTO of 6.2.1:
      ``(smoothed_rtt + max(4 * rttvar, kGranularity) + max_ack_delay) * 2**pto_count``,
      with ``max_ack_delay`` counted only once the handshake is confirmed (it
      is 0 for the Initial and Handshake spaces) and, before the first
      sample, ``smoothed_rtt = kInitialRtt = 333 ms``, ``rttvar = kInitialRtt/2``
      (6.2.2), which gives the 1 s initial timeout (0.999 s);
    * :meth:`on_timeout` increments ``pto_count``; a new RTT sample (which
      needs a newly acknowledged packet) and :meth:`reset_pto_count` reset it
      (6.2.1: the backoff is reset when an acknowledgement is received);
    * :meth:`on_persistent_congestion` sets ``min_rtt`` to the newest sample
      (5.2 SHOULD, after persistent congestion, section 7.6).

    ``handshake_confirmed`` is a plain attribute the caller may flip; it is
    ``True`` by default since most users are past any handshake.
    """

    __slots__ = (
        "_clock",
        "_granularity",
        "_initial_rtt",
        "_latest_rtt",
        "_max_ack_delay",
        "_min_rtt",
        "_pto_count",
        "_pto_multiplier",
        "_rttvar",
        "_smoothed_rtt",
        "handshake_confirmed",
    )

    def __init__(
        self,
        *,
        max_ack_delay: float = 0.025,
        initial_rtt: float = 0.333,
        granularity: float = 0.001,
        handshake_confirmed: bool = True,
    ) -> None:
        self._max_ack_delay = non_negative("max_ack_delay", max_ack_delay)
        self._initial_rtt = positive("initial_rtt", initial_rtt)
        self._granularity = positive("granularity", granularity)
        self.handshake_confirmed = handshake_confirmed
        self._pto_count = 0
        self._pto_multiplier = 1.0
        self._latest_rtt: float | None = None
        self._min_rtt: float | None = None
        self._smoothed_rtt: float | None = None
        self._rttvar: float | None = None
        self._clock = Clock()

    @property
    def latest_rtt(self) -> float | None:
        """The most recent sample (5.1), or ``None`` before the first."""
        return self._latest_rtt

    @property
    def srtt(self) -> float | None:
        """``smoothed_rtt``, or ``None`` before the first sample."""
        return self._smoothed_rtt

    @property
    def rttvar(self) -> float | None:
        """``rttvar``, or ``None`` before the first sample."""
        return self._rttvar

    @property
    def min_rtt(self) -> float | None:
        """Lifetime minimum of the samples, ack delay ignored; ``None`` before the first."""
        return self._min_rtt

    @property
    def pto_count(self) -> int:
        """Consecutive PTO expirations without an acknowledgement (6.2.1)."""
        return self._pto_count

    @property
    def max_ack_delay(self) -> float:
        """The peer's ``max_ack_delay`` in seconds."""
        return self._max_ack_delay

    @property
    def pto(self) -> float:
        """The PTO period without backoff (6.2.1)."""
        srtt = self._smoothed_rtt
        if srtt is None or self._rttvar is None:
            srtt = self._initial_rtt
            rttvar = srtt / 2
        else:
            rttvar = self._rttvar
        four_rttvar = 4 * rttvar
        pto = srtt + (four_rttvar if four_rttvar > self._granularity else self._granularity)
        if self.handshake_confirmed:
            pto += self._max_ack_delay
        return pto

    @property
    def rto(self) -> float:
        """The PTO period times ``2**pto_count`` (6.2.1); not capped, as in the RFC."""
        return self.pto * self._pto_multiplier

    def update(self, rtt: float, now: float, ack_delay: float = 0.0) -> None:
        """Take one RTT sample ``latest_rtt = rtt`` with the peer-reported ``ack_delay`` (5.1-5.3).

        Call it only for an ACK that newly acknowledges its largest packet
        number and at least one ack-eliciting packet (5.1). Resets ``pto_count``.
        """
        if not 0.0 < rtt < _INF:
            _bad("rtt", rtt)
        if ack_delay and not 0.0 <= ack_delay < _INF:
            _bad("ack_delay", ack_delay, allow_zero=True)
        self._clock.advance(now)
        self._latest_rtt = rtt
        self._pto_count = 0
        self._pto_multiplier = 1.0
        smoothed = self._smoothed_rtt
        if smoothed is None or self._rttvar is None or self._min_rtt is None:
            self._min_rtt = rtt
            self._smoothed_rtt = rtt
            self._rttvar = rtt / 2
            return
        min_rtt = self._min_rtt
        if rtt < min_rtt:
            min_rtt = self._min_rtt = rtt
        if self.handshake_confirmed and ack_delay > self._max_ack_delay:
            ack_delay = self._max_ack_delay
        adjusted = rtt - ack_delay if rtt >= min_rtt + ack_delay else rtt
        self._rttvar = 0.75 * self._rttvar + 0.25 * abs(smoothed - adjusted)
        self._smoothed_rtt = 0.875 * smoothed + 0.125 * adjusted

    def on_timeout(self) -> None:
        """The PTO expired: ``pto_count += 1``, doubling :attr:`rto` (6.2.1)."""
        self._pto_count += 1
        self._pto_multiplier *= 2.0

    def reset_pto_count(self) -> None:
        """An acknowledgement arrived without an RTT sample: clear the PTO backoff (6.2.1)."""
        self._pto_count = 0
        self._pto_multiplier = 1.0

    def on_persistent_congestion(self) -> None:
        """Persistent congestion (7.6): set ``min_rtt`` to the newest sample (5.2 SHOULD)."""
        if self._latest_rtt is not None:
            self._min_rtt = self._latest_rtt
