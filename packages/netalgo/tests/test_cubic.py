"""CUBIC (RFC 9438) against the RFC's formulas, with the arithmetic done by hand in comments.

Windows in the RFC are in segments; the tests use ``mss=1000`` so that bytes
and segments differ by a factor of 1000 only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from netalgo.cubic import BETA_CUBIC, C, Cubic, alpha_cubic
from netalgo.protocols import AckSample, CongestionController, LossEvent

MSS = 1000


@pytest.fixture
def after_first_loss(ack: Callable[..., None], lose: Callable[..., None]) -> Callable[..., Cubic]:
    """``after_first_loss(*, fast_convergence=False, rtt=0.1)``: a controller with 100
    segments in flight, one lost at t=0.2; the ACK at 0.2 + rtt ends recovery."""

    def make(*, fast_convergence: bool = False, rtt: float = 0.1) -> Cubic:
        ctl = Cubic(mss=MSS, initial_window=100 * MSS, fast_convergence=fast_convergence)
        lose(ctl, 0.2, sent_time=0.1, flight=100 * MSS)
        ack(ctl, 0.2 + rtt, sent_time=0.2, rtt=rtt)  # a send made after recovery began
        return ctl

    return make


def test_constants_are_the_rfc_values() -> None:
    # Section 4.6: beta_cubic SHOULD be 0.7; section 5.1: C SHOULD be 0.4.
    assert BETA_CUBIC == 0.7
    assert C == 0.4
    # Section 4.3: alpha_cubic = 3 * (1 - 0.7) / (1 + 0.7) = 0.9 / 1.7 = 0.529411...
    assert alpha_cubic(0.7) == pytest.approx(0.5294117647)
    ctl = Cubic()
    assert (ctl.c, ctl.beta) == (0.4, 0.7)
    assert ctl.alpha_cubic == pytest.approx(0.5294117647)
    assert isinstance(ctl, CongestionController)
    assert ctl.pacing_rate is None


def test_multiplicative_decrease_is_beta_times_cwnd(lose: Callable[..., None]) -> None:
    # Section 4.6: flight_size = cwnd = 100 segments -> ssthresh = 100 * 0.7 = 70
    # segments, cwnd = max(70, 2) = 70 segments; W_max = cwnd before = 100 (4.7,
    # no earlier W_max); cwnd_prior = 100.
    ctl = Cubic(mss=MSS, initial_window=100 * MSS)
    lose(ctl, 0.2, sent_time=0.1, flight=100 * MSS)
    assert ctl.cwnd == 70 * MSS
    assert ctl.ssthresh == pytest.approx(70 * MSS)
    assert ctl.w_max == pytest.approx(100.0)
    assert ctl.cwnd_prior == pytest.approx(100.0)
    assert ctl.state == "Recovery"


def test_decrease_floors_at_two_segments(lose: Callable[..., None]) -> None:
    # Section 4.6: flight of 2 segments -> ssthresh = 1.4 -> max(1.4, 2) = 2 segments.
    ctl = Cubic(mss=MSS, initial_window=2 * MSS)
    lose(ctl, 0.2, sent_time=0.1, flight=2 * MSS)
    assert ctl.cwnd == 2 * MSS
    assert ctl.ssthresh == pytest.approx(2 * MSS)


def test_k_and_window_function_equal_the_formulas(
    ack: Callable[..., None], after_first_loss: Callable[..., Cubic]
) -> None:
    ctl = after_first_loss()
    ack(ctl, 0.4, sent_time=0.3)  # first congestion-avoidance ACK: t_epoch = 0.4
    assert ctl.t_epoch == 0.4
    assert ctl.cwnd_epoch == pytest.approx(70.0)
    # Section 4.2: K = cbrt((W_max - cwnd_epoch) / C) = cbrt((100 - 70) / 0.4)
    #            = cbrt(75) = 4.2171633 s  (4.2171633^3 = 75.000)
    # which is cbrt(W_max * (1 - beta) / C) = cbrt(100 * 0.3 / 0.4) as well.
    assert ctl.k == pytest.approx(4.2171633, abs=1e-6)
    # W_cubic(t) = 0.4 * (t - K)^3 + 100:
    #   t = 0:     0.4 * (-75 / 0.4) + 100 = 70 (the window just after the reduction)
    #   t = K:     100 (the plateau at W_max)
    #   t = 2:     0.4 * (-2.2171633)^3 + 100 = 0.4 * -10.899170 + 100 = 95.640332
    #   t = K + 1: 0.4 * 1 + 100 = 100.4 (convex region)
    assert ctl.w_cubic(0.0) == pytest.approx(70.0)
    assert ctl.w_cubic(ctl.k) == pytest.approx(100.0)
    assert ctl.w_cubic(2.0) == pytest.approx(95.640332, abs=1e-5)
    assert ctl.w_cubic(ctl.k + 1) == pytest.approx(100.4)


def test_concave_growth_per_ack_moves_toward_w_cubic_t_plus_rtt(
    ack: Callable[..., None], after_first_loss: Callable[..., Cubic]
) -> None:
    ctl = after_first_loss()
    ack(ctl, 0.4, sent_time=0.3)
    # That first ACK: W_est = 70 + 0.5294118 * 1 / 70 = 70.0075630 > W_cubic(0) = 70, so
    # the Reno-friendly region set cwnd = W_est (section 4.3).
    assert ctl.w_est == pytest.approx(70.0075630, abs=1e-6)
    assert ctl.cwnd == int(70.0075630 * MSS)
    cwnd = 70.0075630
    # An ACK at t = 2.0 s (now = 2.4): srtt = 0.1, so target = W_cubic(2.1) =
    #   0.4 * (2.1 - 4.2171633)^3 + 100 = 0.4 * -9.489949 + 100 = 96.204020,
    # inside [cwnd, 1.5 * cwnd]; W_cubic(2.0) = 95.64 > W_est, so not Reno-friendly:
    # cwnd += (target - cwnd) / cwnd = (96.204020 - 70.007563) / 70.007563 = 0.374194.
    ack(ctl, 2.4, sent_time=2.3)
    assert ctl.cwnd / MSS == pytest.approx(cwnd + 0.374194, abs=1e-3)  # cwnd is whole bytes
    assert ctl.state == "CongestionAvoidance"


def test_convex_growth_is_capped_at_one_and_a_half_cwnd(
    ack: Callable[..., None], after_first_loss: Callable[..., Cubic]
) -> None:
    ctl = after_first_loss()
    ack(ctl, 0.4, sent_time=0.3)
    before = ctl.cwnd / MSS
    # At t = K + 30 s, W_cubic(t + RTT) = 0.4 * 30.1^3 + 100 = 11008.6 > 1.5 * cwnd, so
    # target = 1.5 * cwnd and cwnd += (1.5 cwnd - cwnd) / cwnd = 0.5 segment per segment.
    now = 0.4 + ctl.k + 30.0
    ack(ctl, now, sent_time=now - 0.1)
    assert ctl.cwnd / MSS == pytest.approx(before + 0.5, abs=1e-3)


def test_reno_friendly_w_est_grows_by_alpha_per_rtt_then_by_one(
    ack: Callable[..., None], after_first_loss: Callable[..., Cubic]
) -> None:
    # Small RTT (1 ms): W_cubic(t) barely moves (about 70 + 21 t), so the Reno-friendly
    # region governs. One stretch ACK per RTT acknowledges a whole cwnd, so
    # segments_acked / cwnd = 1 and W_est += alpha_cubic per RTT (section 4.3, eq. 4)
    # until W_est >= cwnd_prior = 100, then += 1 per RTT.
    alpha = 0.9 / 1.7
    ctl = after_first_loss(rtt=0.001)
    now = 0.201
    previous = 70.0
    crossed = 0
    for _ in range(70):
        now += 0.001
        ack(ctl, now, sent_time=now - 0.001, acked=ctl.cwnd, in_flight=0, rtt=0.001)
        expected = 1.0 if previous >= 100.0 else alpha
        assert ctl.w_est - previous == pytest.approx(expected, rel=1e-4)
        assert ctl.cwnd == int(ctl.w_est * MSS)  # cwnd follows W_est
        crossed += previous >= 100.0
        previous = ctl.w_est
    # 30 / 0.5294 = 56.7 RTTs at alpha_cubic reach 100; the remaining 13 use alpha = 1.
    assert crossed == 13


def test_fast_convergence_lowers_w_max_when_cwnd_is_below_it(
    ack: Callable[..., None], lose: Callable[..., None], after_first_loss: Callable[..., Cubic]
) -> None:
    # First event: W_max = 100, cwnd = 70. Second event (a send made after the first
    # recovery began) at cwnd = 70 < W_max = 100:
    #   with fast convergence: W_max = 70 * (1 + 0.7) / 2 = 59.5 (section 4.7)
    #   without:               W_max = 70
    # and cwnd = 70 * 0.7 = 49 either way (section 4.6).
    for fast_convergence, w_max, k in (
        # K = cbrt((59.5 - 49) / 0.4) = cbrt(26.25) = 2.9720
        (True, 59.5, 2.9720),
        # K = cbrt((70 - 49) / 0.4) = cbrt(52.5) = 3.7444
        (False, 70.0, 3.7444),
    ):
        ctl = after_first_loss(fast_convergence=fast_convergence)
        lose(ctl, 0.35, sent_time=0.3, flight=70 * MSS)
        assert ctl.w_max == pytest.approx(w_max)
        assert ctl.cwnd == 49 * MSS
        ack(ctl, 0.5, sent_time=0.4)  # ends the second recovery
        ack(ctl, 0.6, sent_time=0.5)  # starts the epoch
        assert ctl.k == pytest.approx(k, abs=1e-4)


def test_only_one_reduction_per_recovery_episode(
    ack: Callable[..., None], lose: Callable[..., None]
) -> None:
    ctl = Cubic(mss=MSS, initial_window=100 * MSS)
    lose(ctl, 0.2, sent_time=0.1, flight=100 * MSS)
    assert ctl.cwnd == 70 * MSS
    # Another send of the same window (sent before recovery began at 0.2): no reduction.
    lose(ctl, 0.21, sent_time=0.15, flight=99 * MSS)
    assert ctl.cwnd == 70 * MSS
    assert ctl.w_max == pytest.approx(100.0)
    # No growth during recovery; the ACK of a send made after 0.2 ends recovery.
    ack(ctl, 0.25, sent_time=0.19)
    assert (ctl.cwnd, ctl.state) == (70 * MSS, "Recovery")
    ack(ctl, 0.3, sent_time=0.2)
    assert ctl.state == "CongestionAvoidance"
    # A late-detected loss of a send from before the last recovery: still no reduction.
    lose(ctl, 0.31, sent_time=0.19, flight=70 * MSS)
    assert ctl.cwnd == 70 * MSS
    # A loss of a send made after recovery began is a new event: 70 * 0.7 = 49 segments.
    lose(ctl, 0.4, sent_time=0.3, flight=70 * MSS)
    assert ctl.cwnd == 49 * MSS


def test_timeout_resets_cwnd_to_one_segment_and_restarts_with_k_zero(
    ack: Callable[..., None], lose: Callable[..., None]
) -> None:
    ctl = Cubic(mss=MSS, initial_window=100 * MSS)
    # An RTO declares all 100 outstanding segments lost at once: one response.
    for i in range(100):
        flight = (100 - i) * MSS
        lose(ctl, 1.0, sent_time=0.0 + i * 1e-4, flight=flight, timeout=True)
    # Section 4.8: cwnd to one segment as Reno (RFC 5681 LW); ssthresh as in 4.6:
    # 100 * 0.7 = 70 segments.
    assert ctl.cwnd == MSS
    assert ctl.ssthresh == pytest.approx(70 * MSS)
    assert ctl.state == "SlowStart"
    # Slow start (one segment per segment acknowledged) back to ssthresh = 70 segments.
    now = 1.0
    while ctl.cwnd < 70 * MSS:
        now += 0.01
        ack(ctl, now, sent_time=now - 0.1)
    assert ctl.cwnd == 70 * MSS
    ack(ctl, now + 0.01, sent_time=now)  # first congestion-avoidance ACK
    # Section 4.8: K = 0, W_max = cwnd_epoch = 70, W_est starts at 70.
    assert ctl.k == 0.0
    assert ctl.w_max == pytest.approx(70.0)
    assert ctl.cwnd_epoch == pytest.approx(70.0)
    # cwnd_prior = 100 (cwnd at the timeout) > W_est, so alpha = alpha_cubic:
    # W_est = 70 + 0.5294118 / 70 = 70.0075630.
    assert ctl.cwnd_prior == pytest.approx(100.0)
    assert ctl.w_est == pytest.approx(70.0075630, abs=1e-6)


def test_undo_restores_state_after_a_spurious_event(lose: Callable[..., None]) -> None:
    ctl = Cubic(mss=MSS, initial_window=100 * MSS)
    lose(ctl, 0.2, sent_time=0.1, flight=100 * MSS)
    assert ctl.cwnd == 70 * MSS
    # Section 4.9: cwnd (70) < prior_cwnd (100): restore cwnd, ssthresh, W_max, ...
    assert ctl.undo_congestion_event() is True
    assert ctl.cwnd == 100 * MSS
    assert ctl.ssthresh == math.inf
    assert ctl.w_max == 0.0
    assert ctl.state == "SlowStart"
    assert ctl.undo_congestion_event() is False  # nothing saved any more


def test_app_limited_acks_do_not_grow_cwnd_nor_advance_t(
    ack: Callable[..., None], after_first_loss: Callable[..., Cubic]
) -> None:
    ctl = after_first_loss()
    ack(ctl, 0.4, sent_time=0.3)  # t_epoch = 0.4
    cwnd, w_est = ctl.cwnd, ctl.w_est
    # Section 5.8: 1 segment in flight out of a 70-segment window: application-limited.
    ack(ctl, 1.4, sent_time=1.3, in_flight=0)
    assert (ctl.cwnd, ctl.w_est) == (cwnd, w_est)
    # The second that passed is taken out of t: t_epoch moved from 0.4 to 1.4.
    assert ctl.t_epoch == pytest.approx(1.4)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"mss": 0}, "mss"),
        ({"mss": -1460}, "mss"),
        ({"beta": 0.0}, "beta"),
        ({"beta": 1.0}, "beta"),
        ({"beta": 1.5}, "beta"),
        ({"beta": math.nan}, "beta"),
        ({"c": 0.0}, "c"),
        ({"c": -0.4}, "c"),
        ({"c": math.nan}, "c"),
        ({"initial_window": 0}, "initial_window"),
    ],
)
def test_bad_parameters_raise_naming_them(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Cubic(**kwargs)  # type: ignore[arg-type]


def test_bad_samples_raise_and_leave_state_alone(
    ack: Callable[..., None], after_first_loss: Callable[..., Cubic]
) -> None:
    ctl = after_first_loss()
    cwnd = ctl.cwnd
    with pytest.raises(ValueError, match="now"):
        ack(ctl, 0.1, sent_time=0.0)  # time went backwards (last was 0.3)
    with pytest.raises(ValueError, match="now"):
        ack(ctl, math.nan, sent_time=0.0)
    with pytest.raises(ValueError, match="rtt"):
        ack(ctl, 0.5, sent_time=0.4, rtt=math.nan)
    with pytest.raises(ValueError, match="acked_bytes"):
        ack(ctl, 0.5, sent_time=0.4, acked=-1)
    with pytest.raises(ValueError, match="lost_bytes"):
        ctl.on_loss(LossEvent(0.5, -1, 0, 0.4))
    assert ctl.cwnd == cwnd


def test_a_ce_mark_is_a_congestion_event_with_beta_cubic() -> None:
    """RFC 9438 §4.6 with RFC 3168 §6.1.2: ECN-CE gets the loss response, cwnd = 0.7 x flight.

    The marked ACK's bytes were delivered, so the flight is the one before it:
    100 segments -> W_max = 100, cwnd = ssthresh = 70.
    """
    ctl = Cubic(mss=MSS, initial_window=100 * MSS)
    ctl.on_ack(AckSample(0.2, MSS, 99 * MSS, 0.1, 0.1, None, True))
    assert ctl.w_max == pytest.approx(100.0)
    assert (ctl.cwnd, ctl.ssthresh, ctl.state) == (70 * MSS, 70 * MSS, "Recovery")
    ctl.on_ack(AckSample(0.25, MSS, 98 * MSS, 0.15, 0.1, None, True))  # same window: once
    assert ctl.cwnd == 70 * MSS
