"""The window's answer to throttling: settle below the concurrency that drew a 503 SlowDown.

S3 answers ``503 SlowDown`` when a prefix receives more requests than it
serves at the moment ("Best practices design patterns: optimizing Amazon S3
performance", and the SlowDown entry of the S3 API's error-code list: "Please
reduce your request rate"). The limit is on requests, not on bytes, and it
lasts while S3 repartitions, minutes rather than round trips. The congestion
controllers under the limiter were written for packet loss, which reacts
differently:

* BBR (draft-ietf-ccwg-bbr section 5.5.10) tolerates losses up to
  ``LossThresh`` = 2% of a round and answers at most once per round, and a
  round here is a part's whole duration, seconds. A refused request returns in
  one RTT and frees its slot at once, so the limiter sends another request into
  the same refusal: a quarter to a third of all requests were refused on the
  benchmark's ``throttled`` profile.
* CUBIC (RFC 9438 section 4.6) cuts to ``beta`` = 0.7 and then grows back to,
  and past, the window of the loss within ``K`` seconds, a round or two of
  multi-second operations: it probes into the refusal again and again.

:class:`ThrottleCeiling` wraps the controller and bounds its window by a
ceiling it keeps from throttles alone (a loss whose ``cause``
:func:`s3opt.classify.is_throttle` accepts: 503 SlowDown, 429 and kin).
Timeouts and connection resets are congestion losses too, but not S3's
request-rate signal: they keep the controller's own answer only, so a random
reset does not hold the window down for a minute:

1. A throttle of an operation sent while ``L`` bytes were in flight (the
   operation's ``tx_in_flight``: the level that drew the refusal) sets the
   ceiling to ``beta * L``, once per window: losses of operations sent before
   that reduction are the same episode (RFC 3168 section 6.1.2's "at most once
   per window", RFC 6582's recovery).
2. While the ceiling binds, it grows by one operation per window of
   operations acknowledged (RFC 5681 section 3.1's congestion avoidance, in
   operations) from acknowledgements of operations sent after the reduction.
3. For :data:`HOLD` seconds after a reduction it grows no further than one
   operation below ``L``: it settles under the level that drew the throttle
   instead of probing into it again. After the hold it probes on, one
   operation per window, as S3 may have scaled the prefix meanwhile.

The controller itself still sees every send, ack and loss, so its own model
(BBR's bandwidth and min-RTT, CUBIC's ``W_max``) is unchanged; the ceiling
only bounds what it may keep in flight.
"""

from __future__ import annotations

from typing import Final

from netalgo.protocols import AckSample, CongestionController, LossEvent
from s3opt.classify import is_throttle

__all__ = ["BETA", "HOLD", "ThrottleCeiling"]

BETA: Final = 0.7
"""The multiplicative decrease on a throttle: RFC 9438's ``beta_cubic`` and
draft-ietf-ccwg-bbr's ``BBR.beta``, both 0.7."""

HOLD: Final = 60.0
"""Seconds after a throttle during which the ceiling stays below the level that drew it.

S3 scales a prefix's request rate over minutes, not round trips; a minute keeps a
transfer of several GiB (an operation lasting seconds, tens of rounds) from
probing the refusal again, and lets a long-lived store find a raised limit."""


class ThrottleCeiling:
    """A controller whose window is bounded by a ceiling learnt from throttles.

    ``inner`` decides the window until the first throttle; from then on the window is
    ``min(inner.cwnd, ceiling)`` (see the module docstring for how the ceiling
    falls and grows). ``beta`` in (0, 1) and ``hold`` (seconds, >= 0) default to
    :data:`BETA` and :data:`HOLD`. Times are the events' ``now``: it reads no clock.
    """

    __slots__ = ("_beta", "_ceiling", "_hold", "_hold_until", "_limit", "_reduced_at", "inner")

    def __init__(
        self, inner: CongestionController, *, beta: float = BETA, hold: float = HOLD
    ) -> None:
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must be in (0, 1), got {beta!r}")
        if not hold >= 0.0:
            raise ValueError(f"hold must be >= 0 seconds, got {hold!r}")
        self.inner = inner
        self._beta = beta
        self._hold = hold
        self._ceiling: float | None = None
        self._limit = 0.0
        self._reduced_at = 0.0
        self._hold_until = 0.0

    @property
    def ceiling(self) -> int | None:
        """The ceiling on bytes in flight, or ``None`` before the first throttle."""
        return None if self._ceiling is None else int(self._ceiling)

    @property
    def cwnd(self) -> int:
        window = self.inner.cwnd
        ceiling = self._ceiling
        return window if ceiling is None or ceiling >= window else int(ceiling)

    @property
    def pacing_rate(self) -> float | None:
        return self.inner.pacing_rate

    @property
    def state(self) -> str:
        return self.inner.state

    def on_sent(self, now: float, sent_bytes: int, bytes_in_flight: int) -> None:
        self.inner.on_sent(now, sent_bytes, bytes_in_flight)

    def on_ack(self, sample: AckSample) -> None:
        """Tell the controller; grow a binding ceiling by one operation per window."""
        self.inner.on_ack(sample)
        ceiling = self._ceiling
        if ceiling is None or sample.sent_time <= self._reduced_at:
            return
        if ceiling >= self.inner.cwnd:
            return  # the controller's own window binds: nothing to probe for
        acked = sample.acked_bytes
        grown = ceiling + acked * acked / ceiling
        if sample.now < self._hold_until:
            grown = min(grown, max(self._limit, ceiling))
        self._ceiling = grown

    def on_loss(self, event: LossEvent) -> None:
        """Tell the controller; on a throttle, once per window, cut the ceiling to beta x level."""
        self.inner.on_loss(event)
        if not is_throttle(event.cause):
            return  # a timeout or reset: the controller's own loss response answers it
        if self._ceiling is not None and event.sent_time <= self._reduced_at:
            return  # sent before the last reduction: that reduction answered it
        packet = event.packet
        level = (
            packet.tx_in_flight if packet is not None else event.bytes_in_flight + event.lost_bytes
        )
        size = event.lost_bytes
        self._ceiling = max(self._beta * level, float(size))
        self._limit = float(max(level - size, size))
        self._reduced_at = event.now
        self._hold_until = event.now + self._hold

    def __repr__(self) -> str:
        return f"ThrottleCeiling({self.inner!r}, ceiling={self.ceiling})"
