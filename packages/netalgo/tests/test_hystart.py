"""HyStart++ (RFC 9406 section 4) against the RFC's constants and rules."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import pytest

from netalgo import hystart
from netalgo.cubic import Cubic
from netalgo.hystart import HyStartPlusPlus
from netalgo.protocols import AckSample
from netalgo.reno import NewReno

MSS = 1000


def run_round(h: HyStartPlusPlus, start: float, rtts: list[float]) -> float:
    """One round: ``windowEnd`` is sent at ``start``; one ACK of 1 MSS per RTT sample.

    All but the last ACK are for sends made before ``windowEnd``; the last one
    acknowledges ``windowEnd`` and so ends the round. Returns the total growth.
    """
    h.on_sent(start)
    growth = 0.0
    now = start + 0.05
    for i, rtt in enumerate(rtts):
        sent_time = start if i == len(rtts) - 1 else start - 0.001
        growth += h.on_ack(now, MSS, sent_time, rtt)
        now += 0.0001
    return growth


def test_constants_are_the_rfc_values() -> None:
    # RFC 9406 section 4.3.
    assert hystart.MIN_RTT_THRESH == 0.004
    assert hystart.MAX_RTT_THRESH == 0.016
    assert hystart.MIN_RTT_DIVISOR == 8
    assert hystart.N_RTT_SAMPLE == 8
    assert hystart.CSS_GROWTH_DIVISOR == 4
    assert hystart.CSS_ROUNDS == 5
    assert hystart.NON_PACED_L == 8
    assert HyStartPlusPlus(mss=MSS).limit_bytes == 8 * MSS  # L = 8 when not paced
    assert HyStartPlusPlus(mss=MSS, paced=True).limit_bytes == math.inf  # L = inf when paced


@pytest.mark.parametrize(
    ("last_round_min_rtt", "thresh"),
    [
        (0.010, 0.004),  # 10 ms / 8 = 1.25 ms -> clamped up to 4 ms
        (0.080, 0.010),  # 80 ms / 8 = 10 ms, inside [4, 16] ms
        (0.200, 0.016),  # 200 ms / 8 = 25 ms -> clamped down to 16 ms
    ],
)
def test_rtt_thresh_clamps(last_round_min_rtt: float, thresh: float) -> None:
    # RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH))
    h = HyStartPlusPlus(mss=MSS)
    assert h.rtt_thresh(last_round_min_rtt) == pytest.approx(thresh)
    # And the clamped threshold is what triggers CSS: a round min of last + thresh
    # enters CSS, one just below does not.
    for current, enters in (
        (last_round_min_rtt + thresh, True),
        (last_round_min_rtt + thresh * 0.99, False),
    ):
        h = HyStartPlusPlus(mss=MSS)
        run_round(h, 0.0, [last_round_min_rtt] * 8)
        assert h.last_round_min_rtt == last_round_min_rtt
        run_round(h, 1.0, [current] * 8)
        assert h.in_css is enters


def test_needs_n_rtt_sample_samples_before_judging() -> None:
    h = HyStartPlusPlus(mss=MSS)
    run_round(h, 0.0, [0.080] * 8)
    # Seven samples of 100 ms (>= 80 + 10) are not enough; the eighth triggers CSS.
    h.on_sent(1.0)
    for _ in range(7):
        h.on_ack(1.1, MSS, 0.5, 0.100)
    before = h.in_css
    h.on_ack(1.1, MSS, 0.5, 0.100)
    assert (before, h.in_css) == (False, True)
    assert h.css_baseline_min_rtt == 0.100  # cssBaselineMinRtt = currentRoundMinRTT


def test_slow_start_growth_is_capped_at_l_segments() -> None:
    # cwnd += min(N, L * SMSS): a 20-segment ACK grows 8 segments (non-paced), 20 (paced).
    assert HyStartPlusPlus(mss=MSS).on_ack(0.1, 20 * MSS, 0.0, 0.05) == 8 * MSS
    assert HyStartPlusPlus(mss=MSS, paced=True).on_ack(0.1, 20 * MSS, 0.0, 0.05) == 20 * MSS


def css_entered() -> HyStartPlusPlus:
    h = HyStartPlusPlus(mss=MSS)
    run_round(h, 0.0, [0.080] * 8)
    run_round(h, 1.0, [0.095] * 8)  # 95 >= 80 + 10 ms: CSS, in the middle of a round
    assert h.in_css
    return h


def test_css_growth_is_divided_by_four() -> None:
    h = css_entered()
    # cwnd += min(N, L * SMSS) / CSS_GROWTH_DIVISOR: 1000 / 4 = 250 bytes per 1-MSS ACK,
    # and a 20-segment ACK gives min(20, 8) * 1000 / 4 = 2000 bytes.
    h.on_sent(2.0)
    assert h.on_ack(2.1, MSS, 1.5, 0.095) == 250
    assert h.on_ack(2.1, 20 * MSS, 1.5, 0.095) == 2000


def test_css_ends_in_congestion_avoidance_after_five_rounds() -> None:
    h = css_entered()  # the round CSS began in ended: 1 CSS round done
    assert h.css_rounds_done == 1
    for n in range(2, 6):
        assert not h.done
        run_round(h, float(n), [0.095] * 8)
        assert h.css_rounds_done == n or h.done
    assert h.done  # CSS_ROUNDS = 5 rounds complete: enter congestion avoidance


def test_rtt_drop_below_baseline_resumes_slow_start() -> None:
    h = css_entered()
    # currentRoundMinRTT (90 ms) < cssBaselineMinRtt (95 ms) after N_RTT_SAMPLE samples:
    # the exit was spurious; cssBaselineMinRtt = infinity, back to slow start.
    h.on_sent(2.0)
    for _ in range(7):
        h.on_ack(2.1, MSS, 1.5, 0.090)
    before = h.in_css
    growth = h.on_ack(2.1, MSS, 1.5, 0.090)
    assert (before, h.in_css) == (True, False)
    assert h.css_baseline_min_rtt == math.inf
    assert growth == 250  # that ACK still grew at the CSS rate
    assert h.on_ack(2.1, MSS, 1.5, 0.090) == MSS  # full slow-start growth again


def test_congestion_ends_hystart() -> None:
    h = css_entered()
    h.on_congestion()
    assert h.done
    assert not h.in_css
    assert h.on_ack(3.0, MSS, 2.9, 0.1) == 0.0


def ack_clocked(
    ctl: NewReno, rtt_of: Callable[[float], float], acks: int
) -> list[tuple[str, int, float]]:
    """Drive ``ctl`` as an ACK-clocked bulk sender over a 100 kpkt/s link; no loss.

    A send at time ``t`` is acknowledged ``rtt_of(t)`` after it leaves the link.
    Returns ``(state, cwnd, ssthresh)`` after every ACK.
    """
    flight: deque[tuple[float, float, float]] = deque()
    in_flight = 0
    link_free = 0.0
    now = 0.0
    trace = []
    for _ in range(acks + 1):
        while in_flight + MSS <= ctl.cwnd:
            in_flight += MSS
            ctl.on_sent(now, MSS, in_flight)
            link_free = max(now, link_free) + 1e-5
            rtt = rtt_of(now)
            flight.append((link_free + rtt, now, rtt))
        arrival, sent_time, rtt = flight.popleft()
        now = arrival
        in_flight -= MSS
        ctl.on_ack(AckSample(now, MSS, in_flight, sent_time, rtt))
        trace.append((ctl.state, ctl.cwnd, ctl.ssthresh))
    return trace


def queue_builds(t: float) -> float:
    """80 ms until 0.3 s, then 95 ms (>= 80 + RttThresh of 10 ms)."""
    return 0.080 if t < 0.3 else 0.095


@pytest.mark.parametrize("controller", [NewReno, Cubic])
def test_controllers_leave_slow_start_through_css(controller: type[NewReno]) -> None:
    ctl = controller(mss=MSS, initial_window=10 * MSS, hystart=True)
    trace = ack_clocked(ctl, queue_builds, 3000)
    states = [state for state, _, _ in trace]
    first_css = states.index("ConservativeSlowStart")
    first_ca = states.index("CongestionAvoidance")
    assert "SlowStart" not in states[first_css:]  # the RTT never fell back
    assert first_css < first_ca
    # In CSS each 1-MSS ACK grows cwnd by min(N, L * SMSS) / 4 = 250 bytes ...
    css_growth = {
        trace[i][1] - trace[i - 1][1]
        for i in range(first_css + 1, first_ca)
        if states[i - 1] == states[i] == "ConservativeSlowStart"
    }
    assert css_growth == {250}
    # ... and in slow start by a whole MSS.
    assert trace[1][1] - trace[0][1] == MSS
    # CSS ends in congestion avoidance with ssthresh = cwnd (RFC 9406 section 4.2).
    _, cwnd, ssthresh = trace[first_ca]
    assert ssthresh == pytest.approx(cwnd, abs=1)
    assert ctl.hystart is None


def test_cubic_after_hystart_starts_with_k_zero() -> None:
    ctl = Cubic(mss=MSS, initial_window=10 * MSS, hystart=True)
    trace = ack_clocked(ctl, queue_builds, 3000)
    first_ca = [state for state, _, _ in trace].index("CongestionAvoidance")
    ssthresh = trace[first_ca][2] / MSS
    # RFC 9438 section 4.10: cwnd_prior = cwnd, K = 0, W_max = cwnd_epoch: all the cwnd
    # at the exit, which is the ssthresh HyStart++ set.
    assert ctl.k == 0.0
    assert ctl.w_max == pytest.approx(ssthresh)
    assert ctl.cwnd_epoch == pytest.approx(ssthresh)
    assert ctl.cwnd_prior == pytest.approx(ssthresh)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"mss": 0}, "mss"),
        ({"min_rtt_thresh": math.nan}, "min_rtt_thresh"),
        ({"max_rtt_thresh": -0.016}, "max_rtt_thresh"),
        ({"min_rtt_thresh": 0.02, "max_rtt_thresh": 0.01}, "max_rtt_thresh"),
        ({"min_rtt_divisor": 0}, "min_rtt_divisor"),
        ({"n_rtt_sample": 0}, "n_rtt_sample"),
        ({"css_growth_divisor": 0}, "css_growth_divisor"),
        ({"css_rounds": 0}, "css_rounds"),
        ({"limit_segments": 0.0}, "limit_segments"),
    ],
)
def test_bad_parameters_raise_naming_them(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        HyStartPlusPlus(**kwargs)  # type: ignore[arg-type]
