"""Delivery-rate sampling (draft-cheng-iccrg-delivery-rate-estimation) on scripted traces.

Every expected rate below is worked by hand from the draft's formulas:
send_elapsed = P.send_time - P.first_send_time, ack_elapsed = C.delivered_time - P.delivered_time,
interval = max(send_elapsed, ack_elapsed), rate = (C.delivered - P.delivered) / interval.
"""

from __future__ import annotations

import math

import pytest

from netalgo.delivery import DeliveryRateEstimator


def test_snapshot_fields_at_send() -> None:
    d = DeliveryRateEstimator()
    p1 = d.on_sent(0.0, 1000, 1000)
    # Nothing was in flight: C.first_send_time = C.delivered_time = now (section 3.2).
    assert (p1.sent_time, p1.size, p1.delivered, p1.delivered_time, p1.first_sent_time) == (
        0.0,
        1000,
        0,
        0.0,
        0.0,
    )
    assert p1.is_app_limited is False
    assert p1.tx_in_flight == 1000
    assert p1.lost == 0


def test_scripted_trace_rates() -> None:
    d = DeliveryRateEstimator()
    p1 = d.on_sent(0.00, 1000, 1000)
    p2 = d.on_sent(0.01, 1000, 2000)
    p3 = d.on_sent(0.02, 1000, 3000)

    # ACK of P1 at 0.10: C.delivered = 1000, send_elapsed = 0 - 0 = 0, ack_elapsed = 0.10 - 0,
    # interval 0.10, delivered 1000 - 0 = 1000 -> 10,000 B/s.
    rs = d.on_ack(0.10, [p1], min_rtt=0.1)
    assert rs.delivered == 1000
    assert rs.send_elapsed == pytest.approx(0.0)
    assert rs.ack_elapsed == pytest.approx(0.10)
    assert rs.interval == pytest.approx(0.10)
    assert rs.delivery_rate == pytest.approx(10_000.0)
    assert rs.prior_delivered == 0
    assert rs.newly_acked == 1000
    assert d.delivered == 1000

    # P4 at 0.11: P4.delivered = 1000, P4.delivered_time = 0.10, P4.first_send_time = 0.00
    # (C.first_send_time became P1's send time at P1's ACK).
    p4 = d.on_sent(0.11, 1000, 3000)
    assert (p4.delivered, p4.delivered_time, p4.first_sent_time) == (1000, 0.10, 0.0)

    # ACK of P2 at 0.11: send_elapsed 0.01, ack_elapsed 0.11, delivered 2000 - 0
    # -> 2000 / 0.11 = 18,181.8 B/s.
    rs = d.on_ack(0.11, [p2], min_rtt=0.1)
    assert rs.interval == pytest.approx(0.11)
    assert rs.delivery_rate == pytest.approx(2000 / 0.11)

    # ACK of P3 at 0.12: 3000 / max(0.02, 0.12) = 25,000 B/s.
    rs = d.on_ack(0.12, [p3], min_rtt=0.1)
    assert rs.delivery_rate == pytest.approx(25_000.0)

    # ACK of P4 at 0.21: send_elapsed = 0.11 - 0.00 = 0.11, ack_elapsed = 0.21 - 0.10 = 0.11,
    # delivered = 4000 - 1000 = 3000 -> 27,272.7 B/s.
    rs = d.on_ack(0.21, [p4], min_rtt=0.1)
    assert rs.delivered == 3000
    assert rs.prior_delivered == 1000
    assert rs.prior_time == pytest.approx(0.10)
    assert rs.send_elapsed == pytest.approx(0.11)
    assert rs.ack_elapsed == pytest.approx(0.11)
    assert rs.delivery_rate == pytest.approx(3000 / 0.11)


def test_send_elapsed_bounds_rate_under_ack_compression() -> None:
    d = DeliveryRateEstimator()
    p1 = d.on_sent(0.00, 1000, 1000)
    p2 = d.on_sent(0.05, 1000, 2000)
    d.on_ack(0.10, [p1], min_rtt=0.01)
    # P3 sent at 0.10: P3.delivered = 1000, delivered_time = 0.10, first_send_time = 0.00.
    p3 = d.on_sent(0.10, 1000, 2000)
    d.on_ack(0.15, [p2], min_rtt=0.01)
    # ACKs of P3 arrive compressed at 0.151: ack_elapsed = 0.151 - 0.10 = 0.051,
    # send_elapsed = 0.10 - 0.00 = 0.10 (C.first_send_time was P1's send time when P3 left).
    # interval = max = 0.10; delivered = 3000 - 1000 = 2000 -> 20,000 B/s
    # (the ACK rate alone would claim 2000 / 0.051 = 39,216 B/s).
    rs = d.on_ack(0.151, [p3], min_rtt=0.01)
    assert rs.send_elapsed == pytest.approx(0.10)
    assert rs.ack_elapsed == pytest.approx(0.051)
    assert rs.interval == pytest.approx(0.10)
    assert rs.delivery_rate == pytest.approx(20_000.0)


def test_one_ack_for_several_sends_uses_the_most_recently_sent() -> None:
    d = DeliveryRateEstimator()
    p1 = d.on_sent(0.00, 1000, 1000)
    p2 = d.on_sent(0.01, 1000, 2000)
    p3 = d.on_sent(0.02, 1500, 3500)
    rs = d.on_ack(0.10, [p3, p1, p2], min_rtt=0.05)
    # Newest is P3 (send_time 0.02): send_elapsed 0.02, ack_elapsed 0.10,
    # delivered 3500 - 0 -> 35,000 B/s; the ACK newly acknowledges 3500 bytes.
    assert rs.send_elapsed == pytest.approx(0.02)
    assert rs.tx_in_flight == 3500
    assert rs.newly_acked == 3500
    assert rs.delivery_rate == pytest.approx(35_000.0)
    assert d.first_send_time == 0.02


def test_interval_shorter_than_min_rtt_is_invalid() -> None:
    d = DeliveryRateEstimator()
    p1 = d.on_sent(0.0, 1000, 1000)
    rs = d.on_ack(0.10, [p1], min_rtt=0.2)
    # interval 0.10 < min_rtt 0.2: "no reliable sample" -> rate 0.0, counters still kept.
    assert rs.delivery_rate == 0.0
    assert rs.interval == pytest.approx(0.10)
    assert rs.delivered == 1000
    assert d.delivered == 1000


def test_ack_without_newly_acked_sends_gives_an_empty_sample() -> None:
    d = DeliveryRateEstimator()
    d.on_sent(0.0, 1000, 1000)
    rs = d.on_ack(0.1, [], min_rtt=0.05, newly_lost=1000)
    assert rs.delivery_rate == 0.0
    assert rs.delivered == 0
    assert rs.newly_acked == 0
    assert rs.newly_lost == 1000
    assert d.delivered == 0


def test_idle_restart_does_not_count_idle_time() -> None:
    d = DeliveryRateEstimator()
    p1 = d.on_sent(0.0, 1000, 1000)
    d.on_ack(0.1, [p1], min_rtt=0.1)
    # Nothing in flight at 5.0: the new send restarts the interval at 5.0.
    p2 = d.on_sent(5.0, 1000, 1000)
    assert (p2.delivered_time, p2.first_sent_time) == (5.0, 5.0)
    rs = d.on_ack(5.1, [p2], min_rtt=0.09)
    # 1000 / 0.1 = 10,000 B/s, not 1000 / 5.0 = 200 B/s.
    assert rs.delivery_rate == pytest.approx(10_000.0)


def test_app_limited_marking_and_clearing() -> None:
    d = DeliveryRateEstimator()
    p1 = d.on_sent(0.00, 1000, 1000)
    # Section 3.4: C.app_limited = C.delivered + inflight = 0 + 1000.
    d.on_app_limited(1000)
    assert d.app_limited == 1000
    p2 = d.on_sent(0.01, 1000, 2000)
    assert p2.is_app_limited
    rs = d.on_ack(0.10, [p1], min_rtt=0.05)
    # C.delivered = 1000 is not > 1000: the bubble is not gone yet; P1 was sent before it.
    assert d.app_limited == 1000
    assert rs.is_app_limited is False
    p3 = d.on_sent(0.105, 1000, 2000)
    assert p3.is_app_limited
    rs = d.on_ack(0.11, [p2], min_rtt=0.05)
    # C.delivered = 2000 > 1000: cleared; the sample itself comes from app-limited P2.
    assert d.app_limited == 0
    assert rs.is_app_limited is True
    p4 = d.on_sent(0.12, 1000, 2000)
    assert p4.is_app_limited is False


def test_app_limited_with_nothing_delivered_or_in_flight_marks_one() -> None:
    d = DeliveryRateEstimator()
    d.on_app_limited(0)
    # max(C.delivered + inflight, 1) = max(0, 1) = 1: still marks the connection.
    assert d.app_limited == 1
    assert d.on_sent(0.0, 100, 100).is_app_limited


def test_lost_bytes_are_reported_per_sample() -> None:
    d = DeliveryRateEstimator()
    p1 = d.on_sent(0.00, 1000, 1000)
    d.on_sent(0.01, 1000, 2000)
    p3 = d.on_sent(0.02, 1000, 3000)
    d.on_loss(p1)
    assert d.lost == 1000
    rs = d.on_ack(0.12, [p3], min_rtt=0.1, newly_lost=1000)
    # rs.lost = C.lost - P3.lost = 1000 - 0; P3.tx_in_flight = 3000.
    assert rs.lost == 1000
    assert rs.newly_lost == 1000
    assert rs.tx_in_flight == 3000
    # 1000 delivered over max(0.02, 0.12) s.
    assert rs.delivery_rate == pytest.approx(1000 / 0.12)


def test_min_rtt_none_skips_the_min_rtt_check() -> None:
    d = DeliveryRateEstimator()
    p1 = d.on_sent(0.0, 1000, 1000)
    rs = d.on_ack(0.01, [p1], min_rtt=None)
    assert rs.delivery_rate == pytest.approx(100_000.0)


def test_zero_interval_is_invalid() -> None:
    d = DeliveryRateEstimator()
    p1 = d.on_sent(1.0, 1000, 1000)
    rs = d.on_ack(1.0, [p1], min_rtt=None)
    assert rs.interval == 0.0
    assert rs.delivery_rate == 0.0


def test_bad_input_raises_and_names_the_parameter() -> None:
    d = DeliveryRateEstimator()
    with pytest.raises(ValueError, match="size"):
        d.on_sent(0.0, 0, 0)
    with pytest.raises(ValueError, match="bytes_in_flight"):
        d.on_sent(0.0, 1000, 999)
    p1 = d.on_sent(1.0, 1000, 1000)
    with pytest.raises(ValueError, match="now"):
        d.on_sent(0.5, 1000, 2000)
    with pytest.raises(ValueError, match="now"):
        d.on_ack(math.nan, [p1], min_rtt=0.1)
    with pytest.raises(ValueError, match="min_rtt"):
        d.on_ack(1.1, [p1], min_rtt=math.nan)
    with pytest.raises(ValueError, match="newly_lost"):
        d.on_ack(1.1, [p1], min_rtt=0.1, newly_lost=-1)
    with pytest.raises(ValueError, match="bytes_in_flight"):
        d.on_app_limited(-1)
    # None of the rejected calls changed the counters.
    assert d.delivered == 0
    assert d.app_limited == 0
