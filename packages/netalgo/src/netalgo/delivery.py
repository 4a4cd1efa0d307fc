"""Delivery-rate sampling (draft-cheng-iccrg-delivery-rate-estimation, sections 3.1-3.4).

Every send takes a snapshot (``P.*``) of the connection's delivery counters;
every acknowledgement turns the snapshot of the most recently sent packet it
acknowledges into one rate sample: the bytes delivered between that packet's
send and this ACK, divided by the longer of the send and ACK intervals
(section 3.3). The same bookkeeping is Linux's ``net/ipv4/tcp_rate.c``.

The caller owns the per-send records (the :class:`~netalgo.protocols.SentPacket`
returned by :meth:`DeliveryRateEstimator.on_sent`) and must hand each record
to :meth:`DeliveryRateEstimator.on_ack` at most once: the draft's
``P.delivered_time = 0`` "already SACKed" marker is the caller's job here,
since the records are immutable.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from netalgo._validate import Clock, non_negative, non_negative_int, positive_int
from netalgo.protocols import RateSample, SentPacket

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["DeliveryRateEstimator"]

_INF = math.inf
_make = tuple.__new__
"""Builds a SentPacket or RateSample from a tuple of all its fields: the same value as
calling the class, without the Python-level ``__new__`` NamedTuple generates (one of
each is built per packet, and that call is most of their cost)."""


class DeliveryRateEstimator:
    """Per-connection delivery-rate state (``C.*``) and the sampling procedures.

    * :meth:`on_sent` is ``OnPacketSent`` / ``SendPacket`` (section 3.2);
    * :meth:`on_ack` is ``GenerateRateSample`` with one ``UpdateRateSample``
      per acknowledged send (section 3.3);
    * :meth:`on_app_limited` is the application-limited marking of section 3.4;
    * :meth:`on_loss` keeps ``C.lost``, which draft-ietf-ccwg-bbr (section
      4.5.1) adds so a rate sample can report the bytes lost during its
      interval.
    """

    __slots__ = (
        "_app_limited",
        "_clock",
        "_delivered",
        "_delivered_time",
        "_first_send_time",
        "_lost",
    )

    def __init__(self) -> None:
        self._delivered = 0
        """``C.delivered``: total bytes delivered so far."""
        self._delivered_time = 0.0
        """``C.delivered_time``: when ``C.delivered`` last changed."""
        self._first_send_time = 0.0
        """``C.first_send_time``: send time of the packet most recently marked delivered."""
        self._app_limited = 0
        """``C.app_limited``: the ``C.delivered`` value that ends the app-limited phase, or 0."""
        self._lost = 0
        """``C.lost``: total bytes declared lost so far."""
        self._clock = Clock()

    @property
    def delivered(self) -> int:
        """``C.delivered``: bytes delivered (acknowledged) so far."""
        return self._delivered

    @property
    def lost(self) -> int:
        """``C.lost``: bytes declared lost so far (via :meth:`on_loss`)."""
        return self._lost

    @property
    def delivered_time(self) -> float:
        """``C.delivered_time``: when :attr:`delivered` last grew."""
        return self._delivered_time

    @property
    def first_send_time(self) -> float:
        """``C.first_send_time``: start of the current sampling send interval."""
        return self._first_send_time

    @property
    def app_limited(self) -> int:
        """``C.app_limited``: delivered-bytes mark ending the app-limited phase, or 0 if none."""
        return self._app_limited

    def on_sent(self, now: float, size: int, bytes_in_flight: int) -> SentPacket:
        """Snapshot the connection state for a send (section 3.2, ``OnPacketSent``).

        ``bytes_in_flight`` includes this send. If nothing else was in flight
        (``bytes_in_flight == size``), a new sampling interval starts:
        ``C.first_send_time = C.delivered_time = now``, so the idle time before
        the send does not count against the rate.
        """
        clock = self._clock
        if clock.last <= now < _INF:
            clock.last = now
        else:
            clock.advance(now)  # raises ValueError naming now
        if (
            not (0 < size <= bytes_in_flight)
            or type(size) is not int
            or type(bytes_in_flight) is not int
        ):
            positive_int("size", size)
            non_negative_int("bytes_in_flight", bytes_in_flight)
            raise ValueError(f"bytes_in_flight must be >= size ({size}), got {bytes_in_flight!r}")
        return self._snapshot(now, size, bytes_in_flight)

    def _snapshot(self, now: float, size: int, bytes_in_flight: int) -> SentPacket:
        """OnPacketSent for checked input (:meth:`on_sent` checks; :mod:`netalgo.sim` calls it
        directly, owning its clock and sending whole packets)."""
        if bytes_in_flight == size:
            self._first_send_time = self._delivered_time = now
        return _make(
            SentPacket,
            (
                now,
                size,
                self._delivered,
                self._delivered_time,
                self._first_send_time,
                self._app_limited != 0,
                bytes_in_flight,
                self._lost,
            ),
        )

    def on_ack(
        self,
        now: float,
        acked: Sequence[SentPacket],
        *,
        min_rtt: float | None,
        newly_lost: int = 0,
    ) -> RateSample:
        """Process one ACK covering the sends in ``acked``; return its rate sample (section 3.3).

        ``acked`` lists the sends this ACK newly acknowledges (cumulatively or
        selectively), each exactly once over the connection's life. The
        sample is built from the most recently sent of them: the latest
        ``sent_time``, ties broken by the larger ``P.delivered`` (the draft's
        ``IsNewestPacket``; the end sequence it also uses for ties is not in
        the snapshot, so among exact ties the later one in ``acked`` wins).

        ``min_rtt`` is the connection's minimum RTT, including any sample this
        ACK gives. The sample is invalid, and ``delivery_rate`` is 0.0, when no
        send is acknowledged, when ``interval < min_rtt`` (the draft's "no
        reliable sample"), or when the interval is 0. ``min_rtt=None`` (no RTT
        estimate yet) skips the min-RTT test. ``interval`` always carries the
        measured ``max(send_elapsed, ack_elapsed)``.

        ``newly_lost`` (bytes marked lost while processing this ACK) is copied
        into the sample as ``rs.newly_lost``; call :meth:`on_loss` for each
        lost send as well so ``C.lost`` counts it.
        """
        clock = self._clock
        if clock.last <= now < _INF:
            clock.last = now
        else:
            clock.advance(now)  # raises ValueError naming now
        if min_rtt is not None and not 0.0 <= min_rtt < _INF:
            non_negative("min_rtt", min_rtt)
        if newly_lost != 0 and (type(newly_lost) is not int or newly_lost < 0):
            non_negative_int("newly_lost", newly_lost)
        newest: SentPacket | None = None
        newly_acked = 0
        for p in acked:
            # UpdateRateSample: count the delivery, keep the newest send.
            newly_acked += p.size
            if (
                newest is None
                or p.sent_time > newest.sent_time
                or (p.sent_time == newest.sent_time and p.delivered >= newest.delivered)
            ):
                newest = p
        if newest is None:
            # Nothing delivered on this ACK: no sample.
            delivered = self._delivered
            if self._app_limited and delivered > self._app_limited:
                self._app_limited = 0
            return RateSample(
                0.0, self._app_limited != 0, 0.0, 0, 0, 0.0, 0.0, 0.0, 0, 0, 0, newly_lost
            )
        return self._sample(now, newest, newly_acked, min_rtt, newly_lost)

    def _sample(
        self,
        now: float,
        newest: SentPacket,
        newly_acked: int,
        min_rtt: float | None,
        newly_lost: int,
    ) -> RateSample:
        """GenerateRateSample for checked input: ``newest`` is the most recently sent of the
        ``newly_acked`` bytes this ACK delivers.

        :meth:`on_ack` calls it after its checks; :mod:`netalgo.sim`, which owns
        its clock and acknowledges one packet per ACK, calls it directly.
        """
        # One unpacking reads the snapshot's fields faster than eight attribute lookups.
        sent_time, _, prior_delivered, prior_time, first_sent_time, is_app_limited, tx, lost = (
            newest
        )
        self._delivered = delivered = self._delivered + newly_acked
        self._delivered_time = now
        self._first_send_time = sent_time
        # Clear the app-limited mark once the bubble is acknowledged and gone (section 3.4).
        if self._app_limited and delivered > self._app_limited:
            self._app_limited = 0
        send_elapsed = sent_time - first_sent_time
        ack_elapsed = now - prior_time
        # Use the longer of the two intervals: neither the send nor the ACK
        # rate can exceed the real delivery rate over a full interval.
        interval = send_elapsed if send_elapsed > ack_elapsed else ack_elapsed
        sample_delivered = delivered - prior_delivered
        if interval <= 0.0 or (min_rtt is not None and interval < min_rtt):
            rate = 0.0
        else:
            rate = sample_delivered / interval
        return _make(
            RateSample,
            (
                rate,
                is_app_limited,
                interval,
                sample_delivered,
                prior_delivered,
                prior_time,
                send_elapsed,
                ack_elapsed,
                tx,
                self._lost - lost,
                newly_acked,
                newly_lost,
            ),
        )

    def on_loss(self, packet: SentPacket) -> None:
        """Count a send declared lost: ``C.lost += P.size`` (draft-ietf-ccwg-bbr section 4.5.1)."""
        self._lost += packet.size

    def on_app_limited(self, bytes_in_flight: int) -> None:
        """Mark the connection application-limited (section 3.4).

        Call when the sender has nothing to send although the congestion window
        would allow it. Sends until the data now in flight is delivered carry
        ``is_app_limited``, so their low rates do not pull a max filter down:
        ``C.app_limited = (C.delivered + bytes_in_flight) or 1``.
        """
        non_negative_int("bytes_in_flight", bytes_in_flight)
        self._app_limited = max(self._delivered + bytes_in_flight, 1)
