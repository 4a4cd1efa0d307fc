"""NewReno (RFC 5681, RFC 6582, RFC 3465 byte counting) against the RFCs' rules.

``mss=1000`` throughout, so the windows read as segments times 1000.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from netalgo.protocols import AckSample, CongestionController, LossEvent
from netalgo.reno import ABC_LIMIT, NewReno, rfc6928_initial_window

MSS = 1000


@pytest.fixture
def one_rtt_of_acks(ack: Callable[..., None]) -> Callable[..., float]:
    """``one_rtt_of_acks(ctl, start, rtt=0.1)``: ACK, one segment at a time, everything a
    full window sent at ``start`` carried; the time of those ACKs."""

    def acks(ctl: NewReno, start: float, rtt: float = 0.1) -> float:
        now = start + rtt
        for _ in range(ctl.cwnd // MSS):
            ack(ctl, now, sent_time=start)
        return now

    return acks


def test_initial_window_is_rfc6928() -> None:
    # IW = min(10 * MSS, max(2 * MSS, 14600)):
    assert rfc6928_initial_window(1460) == 14600  # min(14600, max(2920, 14600))
    assert rfc6928_initial_window(1000) == 10000  # min(10000, 14600)
    assert rfc6928_initial_window(9000) == 18000  # min(90000, max(18000, 14600))
    assert NewReno().cwnd == 14600
    assert NewReno().ssthresh == math.inf
    assert isinstance(NewReno(), CongestionController)


def test_slow_start_doubles_cwnd_every_rtt(one_rtt_of_acks: Callable[..., float]) -> None:
    # RFC 5681 section 3.1: cwnd += min(N, SMSS) per ACK; one ACK per segment -> x2 per RTT.
    ctl = NewReno(mss=MSS, initial_window=10 * MSS)
    now = 0.0
    for expected in (20, 40, 80):
        now = one_rtt_of_acks(ctl, now)
        assert ctl.cwnd == expected * MSS
    assert ctl.state == "SlowStart"


def test_slow_start_byte_counting_limit(ack: Callable[..., None]) -> None:
    # RFC 3465 section 2.2: cwnd += min(N, L * SMSS) with L = 2: a stretch ACK of
    # 5 segments grows cwnd by 2 segments only.
    assert ABC_LIMIT == 2
    ctl = NewReno(mss=MSS, initial_window=10 * MSS)
    ack(ctl, 0.1, sent_time=0.0, acked=5 * MSS)
    assert ctl.cwnd == 12 * MSS


def test_loss_halves_the_flight_and_ca_adds_one_mss_per_rtt(
    ack: Callable[..., None], lose: Callable[..., None], one_rtt_of_acks: Callable[..., float]
) -> None:
    ctl = NewReno(mss=MSS, initial_window=40 * MSS)
    # RFC 5681 equation (4): ssthresh = max(FlightSize / 2, 2 * SMSS) = 40 / 2 = 20.
    lose(ctl, 0.2, sent_time=0.1, flight=40 * MSS)
    assert ctl.ssthresh == 20 * MSS
    assert ctl.cwnd == 20 * MSS
    assert ctl.state == "Recovery"
    ack(ctl, 0.3, sent_time=0.25)  # RFC 6582: full ACK ends recovery, cwnd stays
    assert (ctl.cwnd, ctl.state) == (20 * MSS, "CongestionAvoidance")
    # Congestion avoidance with byte counting (RFC 3465 section 2.1): +1 SMSS each
    # time a whole cwnd of bytes is acknowledged, i.e. per RTT.
    now = 0.3
    for expected in (21, 22, 23, 24):
        now = one_rtt_of_acks(ctl, now)
        assert ctl.cwnd == expected * MSS


def test_loss_floor_is_two_segments(lose: Callable[..., None]) -> None:
    ctl = NewReno(mss=MSS, initial_window=3 * MSS)
    lose(ctl, 0.2, sent_time=0.1, flight=3 * MSS)  # max(1.5, 2) = 2 segments
    assert ctl.cwnd == 2 * MSS


def test_one_reduction_per_recovery_and_no_growth_inside_it(
    ack: Callable[..., None], lose: Callable[..., None]
) -> None:
    ctl = NewReno(mss=MSS, initial_window=40 * MSS)
    lose(ctl, 0.2, sent_time=0.1, flight=40 * MSS)
    assert ctl.cwnd == 20 * MSS
    # More losses from the same window (sent before recovery began at 0.2): ignored.
    lose(ctl, 0.21, sent_time=0.12, flight=39 * MSS)
    lose(ctl, 0.22, sent_time=0.19, flight=38 * MSS)
    assert ctl.cwnd == 20 * MSS
    # Partial ACKs (sends from before 0.2) neither grow cwnd nor end recovery.
    for i in range(10):
        ack(ctl, 0.23 + i * 0.001, sent_time=0.15)
    assert (ctl.cwnd, ctl.state) == (20 * MSS, "Recovery")
    ack(ctl, 0.3, sent_time=0.2)  # ACK of a send made at/after recovery began
    assert ctl.state == "CongestionAvoidance"
    # A loss of a send made after recovery began starts a new episode: 20 / 2 = 10.
    lose(ctl, 0.4, sent_time=0.3, flight=20 * MSS)
    assert ctl.cwnd == 10 * MSS


def test_rto_sets_cwnd_to_one_segment_then_slow_starts(
    lose: Callable[..., None], one_rtt_of_acks: Callable[..., float]
) -> None:
    ctl = NewReno(mss=MSS, initial_window=40 * MSS)
    # The retransmission timer declares all 40 segments lost at once: one response.
    for i in range(40):
        lose(ctl, 1.0, sent_time=i * 1e-3, flight=(40 - i) * MSS, timeout=True)
    # RFC 5681 section 3.1: ssthresh = max(40 / 2, 2) = 20 segments, cwnd = LW = 1 SMSS.
    assert ctl.cwnd == MSS
    assert ctl.ssthresh == 20 * MSS
    assert ctl.state == "SlowStart"
    one_rtt_of_acks(ctl, 1.0)
    assert ctl.cwnd == 2 * MSS  # slow start again


def test_timeout_during_recovery_keeps_the_reduced_ssthresh(lose: Callable[..., None]) -> None:
    ctl = NewReno(mss=MSS, initial_window=40 * MSS)
    lose(ctl, 0.2, sent_time=0.1, flight=40 * MSS)  # ssthresh 20
    # The same window then times out: ssthresh is not halved again (one reduction).
    lose(ctl, 1.2, sent_time=0.15, flight=30 * MSS, timeout=True)
    assert (ctl.cwnd, ctl.ssthresh) == (MSS, 20 * MSS)


def test_no_growth_while_application_limited(ack: Callable[..., None]) -> None:
    ctl = NewReno(mss=MSS, initial_window=10 * MSS)
    # 2 segments in flight out of a 10-segment window: not cwnd-limited.
    ack(ctl, 0.1, sent_time=0.0, in_flight=MSS)
    assert ctl.cwnd == 10 * MSS
    # ... unless asked to grow anyway (plain RFC 5681).
    ctl = NewReno(mss=MSS, initial_window=10 * MSS, grow_when_app_limited=True)
    ack(ctl, 0.1, sent_time=0.0, in_flight=MSS)
    assert ctl.cwnd == 11 * MSS


def test_initial_ssthresh_starts_in_congestion_avoidance(
    one_rtt_of_acks: Callable[..., float],
) -> None:
    ctl = NewReno(mss=MSS, initial_window=10 * MSS, initial_ssthresh=10 * MSS)
    assert ctl.state == "CongestionAvoidance"
    one_rtt_of_acks(ctl, 0.0)
    assert ctl.cwnd == 11 * MSS


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"mss": 0}, "mss"),
        ({"mss": -1}, "mss"),
        ({"initial_window": 0}, "initial_window"),
        ({"initial_ssthresh": -5}, "initial_ssthresh"),
        ({"abc_limit": 0.0}, "abc_limit"),
        ({"abc_limit": math.nan}, "abc_limit"),
    ],
)
def test_bad_parameters_raise_naming_them(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        NewReno(**kwargs)  # type: ignore[arg-type]


def test_bad_input_raises_and_leaves_state_alone(ack: Callable[..., None]) -> None:
    ctl = NewReno(mss=MSS, initial_window=10 * MSS)
    ack(ctl, 1.0, sent_time=0.9)
    cwnd = ctl.cwnd
    with pytest.raises(ValueError, match="now"):
        ack(ctl, 0.5, sent_time=0.4)  # time went backwards
    with pytest.raises(ValueError, match="now"):
        ctl.on_sent(math.nan, MSS, MSS)
    with pytest.raises(ValueError, match="rtt"):
        ack(ctl, 1.1, sent_time=1.0, rtt=0.0)
    with pytest.raises(ValueError, match="sent_time"):
        ack(ctl, 1.1, sent_time=math.inf)
    with pytest.raises(ValueError, match="bytes_in_flight"):
        ack(ctl, 1.1, sent_time=1.0, in_flight=-1)
    with pytest.raises(ValueError, match="sent_bytes"):
        ctl.on_sent(1.1, 0, 0)
    with pytest.raises(ValueError, match="now"):
        ctl.on_loss(LossEvent(0.1, MSS, 0, 0.0))
    assert ctl.cwnd == cwnd
    assert ctl.state == "SlowStart"


def test_a_ce_mark_halves_the_window_once_per_window_of_sends(ack: Callable[..., None]) -> None:
    """RFC 3168 §6.1.2 and RFC 9002 §7.1 / B.7: an ACK of a CE-marked send is a congestion event.

    FlightSize is the flight before that ACK (the marked data was delivered):
    ssthresh = cwnd = 40 * MSS / 2. Marks on sends from before the reduction do not
    reduce again; a mark on a send made after it does.
    """
    ctl = NewReno(mss=MSS, initial_window=40 * MSS)
    ctl.on_ack(AckSample(0.2, MSS, 39 * MSS, 0.1, 0.1, None, True))
    assert (ctl.cwnd, ctl.ssthresh, ctl.state) == (20 * MSS, 20 * MSS, "Recovery")
    ctl.on_ack(AckSample(0.21, MSS, 38 * MSS, 0.15, 0.1, None, True))  # same window
    assert ctl.cwnd == 20 * MSS
    ack(ctl, 0.3, sent_time=0.2)  # a send made after the reduction ends recovery
    assert ctl.state == "CongestionAvoidance"
    ctl.on_ack(AckSample(0.4, MSS, 19 * MSS, 0.3, 0.1, None, True))
    assert (ctl.cwnd, ctl.ssthresh) == (10 * MSS, 10 * MSS)


def test_an_unmarked_ack_is_unchanged_by_the_ce_field() -> None:
    marked, plain = NewReno(mss=MSS), NewReno(mss=MSS)
    marked.on_ack(AckSample(0.1, MSS, 9 * MSS, 0.0, 0.1, None, False))
    plain.on_ack(AckSample(0.1, MSS, 9 * MSS, 0.0, 0.1))
    assert marked.cwnd == plain.cwnd == 11 * MSS
