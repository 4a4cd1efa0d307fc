"""RFC 6298 and RFC 9002 estimators against values worked by hand from the RFC formulas."""

from __future__ import annotations

import math

import pytest

from netalgo.protocols import RttEstimator
from netalgo.rtt import Rfc6298Estimator, Rfc9002Estimator

# --- RFC 6298 -------------------------------------------------------------------------------


def test_rfc6298_initial_rto_is_one_second_before_any_sample() -> None:
    est = Rfc6298Estimator()
    # (2.1): RTO = 1 s until a measurement is made.
    assert est.rto == 1.0
    assert est.srtt is None
    assert est.rttvar is None
    assert est.min_rtt is None
    assert isinstance(est, RttEstimator)


def test_rfc6298_sample_series() -> None:
    est = Rfc6298Estimator()
    # (2.2) R = 0.5: SRTT = 0.5, RTTVAR = 0.25, RTO = 0.5 + max(G, 4 * 0.25) = 1.5.
    est.update(0.5, now=0.5)
    assert est.srtt == pytest.approx(0.5)
    assert est.rttvar == pytest.approx(0.25)
    assert est.rto == pytest.approx(1.5)
    # (2.3) R' = 1.0: RTTVAR = 3/4 * 0.25 + 1/4 * |0.5 - 1.0| = 0.1875 + 0.125 = 0.3125
    # (with the OLD SRTT; the new one would give 0.1875 + 1/4 * 0.4375 = 0.296875),
    # SRTT = 7/8 * 0.5 + 1/8 * 1.0 = 0.5625, RTO = 0.5625 + 4 * 0.3125 = 1.8125.
    est.update(1.0, now=1.5)
    assert est.rttvar == pytest.approx(0.3125)
    assert est.srtt == pytest.approx(0.5625)
    assert est.rto == pytest.approx(1.8125)
    # R' = 0.25: RTTVAR = 3/4 * 0.3125 + 1/4 * |0.5625 - 0.25| = 0.234375 + 0.078125 = 0.3125,
    # SRTT = 7/8 * 0.5625 + 1/8 * 0.25 = 0.4921875 + 0.03125 = 0.5234375,
    # RTO = 0.5234375 + 1.25 = 1.7734375.
    est.update(0.25, now=2.0)
    assert est.rttvar == pytest.approx(0.3125)
    assert est.srtt == pytest.approx(0.5234375)
    assert est.rto == pytest.approx(1.7734375)
    assert est.min_rtt == pytest.approx(0.25)


def test_rfc6298_rto_is_rounded_up_to_min_rto() -> None:
    # R = 0.1: RTO = 0.1 + 4 * 0.05 = 0.3 < 1 s, so (2.4) raises it to 1 s.
    est = Rfc6298Estimator()
    est.update(0.1, now=0.0)
    assert est.rto == 1.0
    # With Linux's 200 ms floor the computed 0.3 s stands.
    linux_like = Rfc6298Estimator(min_rto=0.2)
    linux_like.update(0.1, now=0.0)
    assert linux_like.rto == pytest.approx(0.3)


def test_rfc6298_granularity_term() -> None:
    # RTO = SRTT + max(G, K * RTTVAR): R = 0.2, K * RTTVAR = 0.4 < G = 0.5 -> RTO = 0.7.
    est = Rfc6298Estimator(granularity=0.5, min_rto=0.2)
    est.update(0.2, now=0.0)
    assert est.rto == pytest.approx(0.7)


def test_rfc6298_rto_capped_at_max_rto() -> None:
    # R = 50: RTO = 50 + 4 * 25 = 150 > 60 s -> 60 s (2.5).
    est = Rfc6298Estimator()
    est.update(50.0, now=0.0)
    assert est.rto == 60.0


def test_rfc6298_backoff_doubles_caps_and_is_kept_until_a_valid_sample() -> None:
    est = Rfc6298Estimator()
    est.on_timeout()
    assert est.rto == 2.0  # 5.5 applies before any sample too: 2 * 1 s.
    est.update(0.5, now=0.0)  # RTO = 1.5, and the backoff is gone.
    assert est.rto == pytest.approx(1.5)
    backed_off = []
    for _ in range(7):
        est.on_timeout()
        backed_off.append(est.rto)
    # 1.5 * 2, 4, 8, 16, 32 = 3, 6, 12, 24, 48; then 96 and 192 are capped at 60.
    assert backed_off == pytest.approx([3.0, 6.0, 12.0, 24.0, 48.0, 60.0, 60.0])
    # Karn: nothing but a new valid sample collapses the backed-off RTO.
    assert est.rto == 60.0
    # Next valid sample R' = 0.5: RTTVAR = 3/4 * 0.25 + 0 = 0.1875, SRTT = 0.5,
    # RTO = 0.5 + 4 * 0.1875 = 1.25 (section 5, note after 5.7: RTO collapses).
    est.update(0.5, now=1.0)
    assert est.rto == pytest.approx(1.25)


def test_rfc6298_ignores_ack_delay() -> None:
    with_delay = Rfc6298Estimator()
    without = Rfc6298Estimator()
    for now, sample in ((0.0, 0.5), (1.0, 1.0), (2.0, 0.25)):
        with_delay.update(sample, now, ack_delay=0.1)
        without.update(sample, now)
    assert with_delay.srtt == without.srtt
    assert with_delay.rttvar == without.rttvar
    assert with_delay.srtt == pytest.approx(0.5234375)


def test_rfc6298_min_rtt_window_and_lifetime() -> None:
    windowed = Rfc6298Estimator()  # 10 s window
    lifetime = Rfc6298Estimator(min_rtt_window=None)
    for est in (windowed, lifetime):
        est.update(0.5, now=0.0)
        est.update(1.0, now=1.0)
        assert est.min_rtt == 0.5
        # 10.5 s after the 0.5 s sample, it has left a 10 s window.
        est.update(1.0, now=10.5)
    assert windowed.min_rtt == 1.0
    assert lifetime.min_rtt == 0.5


@pytest.mark.parametrize("bad", [0.0, -0.1, math.nan, math.inf])
def test_rfc6298_rejects_bad_samples(bad: float) -> None:
    est = Rfc6298Estimator()
    est.update(0.5, now=0.0)
    with pytest.raises(ValueError, match="rtt"):
        est.update(bad, now=1.0)
    # The bad sample left no trace.
    assert est.srtt == 0.5
    assert est.rttvar == 0.25


def test_rfc6298_rejects_time_going_backwards_and_bad_ack_delay() -> None:
    est = Rfc6298Estimator()
    est.update(0.5, now=2.0)
    with pytest.raises(ValueError, match="now"):
        est.update(0.5, now=1.0)
    with pytest.raises(ValueError, match="ack_delay"):
        est.update(0.5, now=3.0, ack_delay=-1.0)
    assert est.srtt == 0.5


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"beta": 1.5}, "beta"),
        ({"k": 0.0}, "k"),
        ({"granularity": -1.0}, "granularity"),
        ({"min_rto": 0.0}, "min_rto"),
        ({"min_rto": 2.0, "max_rto": 1.0}, "max_rto"),
        ({"initial_rto": math.nan}, "initial_rto"),
        ({"min_rtt_window": 0.0}, "min_rtt_window"),
    ],
)
def test_rfc6298_rejects_bad_options(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Rfc6298Estimator(**kwargs)


# --- RFC 9002 -------------------------------------------------------------------------------


def test_rfc9002_initial_pto() -> None:
    # 6.2.2: kInitialRtt = 333 ms, rttvar = 166.5 ms:
    # PTO = 0.333 + max(4 * 0.1665, 0.001) = 0.999 s ("a PTO of 1 second") before the
    # handshake is confirmed; + max_ack_delay 0.025 = 1.024 s after.
    est = Rfc9002Estimator(handshake_confirmed=False)
    assert est.rto == pytest.approx(0.999)
    assert est.srtt is None
    est.handshake_confirmed = True
    assert est.rto == pytest.approx(1.024)
    assert isinstance(est, RttEstimator)


def test_rfc9002_first_sample_ignores_ack_delay() -> None:
    est = Rfc9002Estimator()
    est.update(0.1, now=0.1, ack_delay=0.05)
    # 5.3: smoothed_rtt = latest_rtt = 0.1, rttvar = 0.05; min_rtt = 0.1.
    assert est.srtt == pytest.approx(0.1)
    assert est.rttvar == pytest.approx(0.05)
    assert est.min_rtt == pytest.approx(0.1)
    assert est.latest_rtt == pytest.approx(0.1)
    # PTO = 0.1 + max(4 * 0.05, 0.001) + 0.025 = 0.325.
    assert est.rto == pytest.approx(0.325)


def test_rfc9002_ack_delay_capped_at_max_ack_delay_after_handshake() -> None:
    est = Rfc9002Estimator()  # max_ack_delay 25 ms, handshake confirmed
    est.update(0.1, now=0.1)
    est.update(0.2, now=0.3, ack_delay=0.05)
    # ack_delay = min(0.05, 0.025) = 0.025; 0.2 >= 0.1 + 0.025, so adjusted_rtt = 0.175.
    # rttvar = 3/4 * 0.05 + 1/4 * |0.1 - 0.175| = 0.0375 + 0.01875 = 0.05625
    #   (the erratum-7539 order: the old smoothed_rtt; with the new one, 0.109375, it would
    #    be 0.0375 + 1/4 * 0.065625 = 0.05390625),
    # smoothed_rtt = 7/8 * 0.1 + 1/8 * 0.175 = 0.0875 + 0.021875 = 0.109375.
    assert est.rttvar == pytest.approx(0.05625)
    assert est.srtt == pytest.approx(0.109375)
    assert est.min_rtt == pytest.approx(0.1)
    assert est.latest_rtt == pytest.approx(0.2)


# Each case: a first sample of 0.1 s at t=0.1 (smoothed_rtt 0.1, rttvar 0.05, min_rtt 0.1),
# then one more with an ack delay; RFC 9002 section 5.3, worked by hand.
@pytest.mark.parametrize(
    ("confirmed", "rtt", "now", "ack_delay", "min_rtt", "rttvar", "srtt"),
    [
        # Before the handshake is confirmed the delay is not capped at max_ack_delay:
        # adjusted_rtt = 0.2 - 0.05 = 0.15; rttvar = 0.0375 + 1/4 * 0.05 = 0.05,
        # smoothed_rtt = 0.0875 + 1/8 * 0.15 = 0.10625.
        pytest.param(False, 0.2, 0.3, 0.05, 0.1, 0.05, 0.10625, id="uncapped-before-handshake"),
        # Not subtracted below min_rtt: 0.12 < min_rtt + ack_delay = 0.125, so adjusted_rtt
        # stays 0.12. rttvar = 0.0375 + 1/4 * 0.02 = 0.0425, smoothed_rtt = 0.0875 + 0.015
        # = 0.1025.
        pytest.param(True, 0.12, 0.3, 0.025, 0.1, 0.0425, 0.1025, id="not-below-min-rtt"),
        # min_rtt ignores the ack delay: min(0.1, latest_rtt 0.09) = 0.09, not 0.09 - 0.02;
        # and since 0.09 < 0.09 + 0.02 the delay is not subtracted either:
        # rttvar = 0.0375 + 1/4 * 0.01 = 0.04, smoothed = 0.0875 + 0.01125 = 0.09875.
        pytest.param(True, 0.09, 0.2, 0.02, 0.09, 0.04, 0.09875, id="min-rtt-ignores-delay"),
    ],
)
def test_rfc9002_ack_delay_adjustment(
    confirmed: bool,
    rtt: float,
    now: float,
    ack_delay: float,
    min_rtt: float,
    rttvar: float,
    srtt: float,
) -> None:
    est = Rfc9002Estimator(handshake_confirmed=confirmed)
    est.update(0.1, now=0.1)
    est.update(rtt, now=now, ack_delay=ack_delay)
    assert est.min_rtt == pytest.approx(min_rtt)
    assert est.rttvar == pytest.approx(rttvar)
    assert est.srtt == pytest.approx(srtt)


def test_rfc9002_pto_granularity_floor() -> None:
    est = Rfc9002Estimator()
    est.update(0.0002, now=0.0)
    # 4 * rttvar = 0.0004 < kGranularity: PTO = 0.0002 + 0.001 + 0.025 = 0.0262.
    assert est.rto == pytest.approx(0.0262)


def test_rfc9002_pto_backoff_and_reset() -> None:
    est = Rfc9002Estimator()
    est.update(0.1, now=0.1)
    est.on_timeout()
    est.on_timeout()
    # 6.2.1: PTO * 2 ** pto_count = 0.325 * 4.
    assert est.pto_count == 2
    assert est.rto == pytest.approx(1.3)
    est.reset_pto_count()
    assert est.rto == pytest.approx(0.325)
    est.on_timeout()
    assert est.rto == pytest.approx(0.65)
    # A new sample resets the backoff: rttvar = 0.0375, smoothed 0.1,
    # PTO = 0.1 + 0.15 + 0.025 = 0.275.
    est.update(0.1, now=1.0)
    assert est.pto_count == 0
    assert est.rto == pytest.approx(0.275)


def test_rfc9002_persistent_congestion_resets_min_rtt_to_newest_sample() -> None:
    est = Rfc9002Estimator()
    est.update(0.1, now=0.0)
    est.update(0.3, now=1.0)
    assert est.min_rtt == pytest.approx(0.1)
    est.on_persistent_congestion()
    assert est.min_rtt == pytest.approx(0.3)


def test_both_estimators_agree_without_ack_delay() -> None:
    # Same update order (RTTVAR from the old SRTT) and gains: identical smoothing.
    a = Rfc6298Estimator()
    b = Rfc9002Estimator()
    for now, sample in ((0.0, 0.5), (1.0, 1.0), (2.0, 0.25)):
        a.update(sample, now)
        b.update(sample, now)
    assert b.srtt == pytest.approx(0.5234375)
    assert b.rttvar == pytest.approx(0.3125)
    assert a.srtt == pytest.approx(b.srtt)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_rfc9002_rejects_bad_input(bad: float) -> None:
    est = Rfc9002Estimator()
    est.update(0.1, now=1.0)
    with pytest.raises(ValueError, match="rtt"):
        est.update(bad, now=2.0)
    with pytest.raises(ValueError, match="ack_delay"):
        est.update(0.1, now=2.0, ack_delay=math.nan)
    with pytest.raises(ValueError, match="now"):
        est.update(0.1, now=0.5)
    assert est.srtt == pytest.approx(0.1)
    with pytest.raises(ValueError, match="max_ack_delay"):
        Rfc9002Estimator(max_ack_delay=-0.001)
    with pytest.raises(ValueError, match="initial_rtt"):
        Rfc9002Estimator(initial_rtt=0.0)
