"""The seams of netalgo: the Protocols its parts satisfy and the values they exchange.

Conventions, shared by every module of the package:

* Time is in seconds, as a float, on a monotonic clock the *caller* owns.
  Controllers, estimators and detectors never read a clock: every call takes
  ``now``. That makes them deterministic and lets the simulator run faster
  than real time.
* Sizes are in bytes (``int``); rates are in bytes per second (``float``).
* The sender (a transport, :mod:`netalgo.sim`, or :mod:`netalgo.limiter`) owns
  the per-send bookkeeping. It takes a :class:`SentPacket` snapshot from
  :class:`netalgo.delivery.DeliveryRateEstimator` at each send and hands the
  controller an :class:`AckSample` or a :class:`LossEvent` when the send is
  acknowledged or declared lost. This mirrors the split in Linux between
  ``tcp_rate.c`` (sampling) and the congestion-control modules.
* The value types are immutable named tuples: one or more is built for
  every simulated packet, and they cost a quarter of a frozen dataclass.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

__all__ = [
    "AckSample",
    "CongestionController",
    "LossDetector",
    "LossEvent",
    "RateSample",
    "RttEstimator",
    "SentPacket",
]


class SentPacket(NamedTuple):
    """What the sender remembers about one send (a packet, or an S3 part).

    The fields are the per-packet state ``P.*`` of
    draft-cheng-iccrg-delivery-rate-estimation, section 3.2, plus the two that
    draft-ietf-ccwg-bbr (section 4.5.1) adds for its loss response:
    ``tx_in_flight`` and ``lost``.
    """

    sent_time: float
    """When the send happened (``P.send_time``)."""
    size: int
    """Bytes sent (``P.size``)."""
    delivered: int
    """``C.delivered`` at the time of the send (``P.delivered``)."""
    delivered_time: float
    """``C.delivered_time`` at the time of the send (``P.delivered_time``)."""
    first_sent_time: float
    """``C.first_send_time`` at the time of the send (``P.first_send_time``)."""
    is_app_limited: bool
    """Whether the connection was application-limited at the send (``P.is_app_limited``)."""
    tx_in_flight: int
    """Bytes in flight just after this send, including it (BBR's ``packet.tx_in_flight``)."""
    lost: int
    """``C.lost``, the connection's cumulative lost bytes, at the time of the send."""


class RateSample(NamedTuple):
    """One delivery-rate sample (``rs.*``, draft-cheng-iccrg-delivery-rate-estimation §3.3).

    ``delivery_rate`` is ``delivered / interval`` in bytes per second, or 0
    where the draft says the sample is invalid (interval shorter than the
    minimum RTT, or no packet acknowledged).
    """

    delivery_rate: float
    is_app_limited: bool
    interval: float
    delivered: int
    """Bytes delivered over ``interval`` (``rs.delivered``)."""
    prior_delivered: int
    """``P.delivered`` of the most recently sent packet acknowledged (``rs.prior_delivered``)."""
    prior_time: float
    send_elapsed: float
    ack_elapsed: float
    tx_in_flight: int
    """``P.tx_in_flight`` of that packet (BBR draft §4.5.1)."""
    lost: int
    """Bytes lost between that packet's send and this acknowledgement (``C.lost - P.lost``)."""
    newly_acked: int
    """Bytes acknowledged by this ACK (``rs.newly_acked``)."""
    newly_lost: int
    """Bytes newly marked lost while processing this ACK (``rs.newly_lost``)."""


class AckSample(NamedTuple):
    """What a controller learns from one acknowledgement."""

    now: float
    acked_bytes: int
    """Bytes newly acknowledged by this ACK."""
    bytes_in_flight: int
    """Bytes still in flight after this ACK and any losses it revealed are removed."""
    sent_time: float
    """Send time of the newest send this ACK acknowledges (ends recovery, RFC 6582 §3.2)."""
    rtt: float | None
    """The RTT sample this ACK gives, or ``None`` (ambiguous under Karn's rule)."""
    rate: RateSample | None = None
    """The delivery-rate sample, where the sender keeps one (BBR needs it)."""
    ce_marked: bool = False
    """The acknowledged send was marked Congestion Experienced (ECN-CE, RFC 3168 §5).

    The data arrived, but a queue on the path signalled congestion: a loss-based
    controller answers as it answers a loss, at most once per round (RFC 3168
    §6.1.2, RFC 9002 §7.1). :class:`netalgo.limiter.Limiter` sets it when an
    operation's duration shows a standing queue; the simulator never does.
    """


class LossEvent(NamedTuple):
    """One send declared lost (a dropped packet, or a throttled / timed-out / reset S3 request)."""

    now: float
    lost_bytes: int
    bytes_in_flight: int
    """Bytes still in flight after the lost bytes are removed."""
    sent_time: float
    """When the lost send happened: controllers reduce at most once per window of sends."""
    packet: SentPacket | None = None
    """The sender's snapshot of the lost send, where it keeps one (BBR uses it, draft §4.5.10)."""
    is_timeout: bool = False
    """A retransmission timeout rather than a detected loss (RFC 5681 §3.1, RFC 9438 §4.8)."""
    cause: BaseException | None = None
    """The failure that made the sender declare the send lost, where there is one.

    :class:`netalgo.limiter.Limiter` passes the operation's exception, so a wrapper
    can answer one kind of loss (an S3 throttle) apart from the others (a reset);
    packet senders and the simulator leave it ``None``.
    """


@runtime_checkable
class CongestionController(Protocol):
    """A congestion controller: BBR, CUBIC and NewReno all satisfy this.

    The sender calls :meth:`on_sent` for every send, then at most one of
    :meth:`on_ack` or :meth:`on_loss` for it, and reads :attr:`cwnd` and
    :attr:`pacing_rate` to decide when it may send next. A sender may abandon
    a send (a cancelled operation): it then reports neither, and the next
    sample's ``bytes_in_flight`` no longer counts it.
    """

    @property
    def cwnd(self) -> int:
        """Congestion window, in bytes: the most the sender may have in flight."""
        ...

    @property
    def pacing_rate(self) -> float | None:
        """Bytes per second to pace sends at, or ``None`` for no pacing (send on ACK)."""
        ...

    @property
    def state(self) -> str:
        """A short name of the controller's current state, e.g. ``"ProbeBW_UP"``."""
        ...

    def on_sent(self, now: float, sent_bytes: int, bytes_in_flight: int) -> None:
        """A send of ``sent_bytes`` happened; ``bytes_in_flight`` includes it."""
        ...

    def on_ack(self, sample: AckSample) -> None:
        """An acknowledgement arrived."""
        ...

    def on_loss(self, event: LossEvent) -> None:
        """A send was declared lost."""
        ...


@runtime_checkable
class RttEstimator(Protocol):
    """A round-trip-time estimator (RFC 6298, RFC 9002 §5)."""

    def update(self, rtt: float, now: float, ack_delay: float = 0.0) -> None:
        """Take one RTT sample measured at ``now``."""
        ...

    @property
    def srtt(self) -> float | None:
        """Smoothed RTT, or ``None`` before the first sample."""
        ...

    @property
    def rttvar(self) -> float | None:
        """RTT variation, or ``None`` before the first sample."""
        ...

    @property
    def min_rtt(self) -> float | None:
        """Smallest RTT seen (over the estimator's window), or ``None`` before the first sample."""
        ...

    @property
    def rto(self) -> float:
        """Retransmission (or probe) timeout to arm now, in seconds, including any backoff."""
        ...


@runtime_checkable
class LossDetector(Protocol):
    """Decides which outstanding sends are lost (RFC 8985 RACK-TLP, RFC 9002 §6).

    Sends are named by a number that grows with send order (a packet number).
    """

    def on_sent(self, number: int, now: float, size: int) -> None:
        """Record an outstanding send."""
        ...

    def on_ack(self, number: int, now: float) -> list[int]:
        """Record that ``number`` was acknowledged; return the sends now declared lost."""
        ...

    def on_timer(self, now: float) -> list[int]:
        """The loss timer fired: return the sends now declared lost."""
        ...

    @property
    def timer(self) -> float | None:
        """When :meth:`on_timer` should next be called, or ``None`` if nothing is pending."""
        ...
