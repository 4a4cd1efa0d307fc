"""RACK-TLP (RFC 8985) and RFC 9002 loss detection on scripted send / ACK traces.

Times are in seconds; expected thresholds are worked by hand from the RFC formulas.
"""

from __future__ import annotations

import pytest

from netalgo.loss import LossRateEstimator, RackTlp, Rfc9002LossDetector
from netalgo.protocols import LossDetector
from netalgo.rtt import Rfc9002Estimator


class FixedRtt:
    """An RttEstimator stand-in with fixed values, so RACK's arithmetic is isolated."""

    def __init__(self, srtt: float | None = 0.1, min_rtt: float | None = 0.1, rto: float = 1.0):
        self.srtt = srtt
        self.rttvar: float | None = None if srtt is None else srtt / 2
        self.min_rtt = min_rtt
        self.rto = rto

    def update(self, rtt: float, now: float, ack_delay: float = 0.0) -> None:
        pass


def test_detectors_satisfy_the_protocol() -> None:
    assert isinstance(RackTlp(FixedRtt()), LossDetector)
    assert isinstance(Rfc9002LossDetector(Rfc9002Estimator()), LossDetector)


# --- RACK (RFC 8985 section 6) -----------------------------------------------------------------


def test_rack_time_threshold_with_reordering_window_and_timer() -> None:
    det = RackTlp(FixedRtt())
    for n, t in enumerate((0.0, 0.01, 0.02, 0.03)):
        det.on_sent(n, t, 1000)
    assert det.on_ack(0, 0.10) == []
    # Send 1 is missing when 2 is ACKed at 0.12: RACK.rtt = 0.12 - 0.02 = 0.1,
    # reo_wnd = min(1 * min_rtt / 4, SRTT) = 0.025 (no reordering seen, 1 SACKed < DupThresh).
    # remaining = 0.01 + 0.1 + 0.025 - 0.12 = 0.015 > 0: not lost yet, timer at 0.135.
    assert det.on_ack(2, 0.12) == []
    assert det.timer == pytest.approx(0.135)
    assert det.on_timer(0.13) == []  # early: nothing
    assert det.on_timer(0.135 + 1e-9) == [1]
    # Sends 3 was sent after RACK.xmit_ts: never a candidate.
    assert det.on_ack(3, 0.14) == []


def test_rack_third_out_of_order_ack_without_reordering_uses_zero_window() -> None:
    det = RackTlp(FixedRtt())
    for n in range(5):
        det.on_sent(n, 0.2 + n * 0.001, 1000)
    # ACKs of 1, 2 at RTT 0.1: reo_wnd 0.025, send 0 still inside: 0.2 + 0.125 > now.
    assert det.on_ack(1, 0.301) == []
    assert det.on_ack(2, 0.302) == []
    # Third SACKed send (DupThresh = 3), no reordering seen: reo_wnd = 0.
    # remaining = 0.2 + 0.1 + 0 - 0.303 = -0.003 -> lost now.
    assert det.on_ack(3, 0.303) == [0]


def test_rack_keeps_the_window_once_reordering_was_seen() -> None:
    det = RackTlp(FixedRtt())
    det.on_sent(0, 0.0, 1000)
    det.on_sent(1, 0.01, 1000)
    assert det.on_ack(1, 0.11) == []
    assert det.on_ack(0, 0.115) == []  # 0 < RACK.fack = 1: reordering seen (step 3).
    for n in range(2, 7):
        det.on_sent(n, 0.2 + (n - 2) * 0.001, 1000)
    assert det.on_ack(3, 0.301) == []
    assert det.on_ack(4, 0.302) == []
    # Same three SACKs as above, but reo_wnd stays min_rtt / 4 = 0.025:
    # remaining = 0.2 + 0.1 + 0.025 - 0.303 = 0.022 -> timer at 0.325, not lost.
    assert det.on_ack(5, 0.303) == []
    assert det.timer == pytest.approx(0.325)
    assert det.on_timer(0.325 + 1e-9) == [2]


def _loss_episode(det: RackTlp, first: int, t0: float) -> float:
    """Send two, ACK the second: return the reo_wnd RACK used, and finish the recovery.

    RACK.rtt = (t0 + 0.101) - (t0 + 0.001) = 0.1, and for the first send
    remaining = t0 + 0.1 + reo_wnd - (t0 + 0.101), so reo_wnd = timer - now + 0.001.
    """
    det.on_sent(first, t0, 1000)
    det.on_sent(first + 1, t0 + 0.001, 1000)
    assert det.on_ack(first + 1, t0 + 0.101) == []
    timer = det.timer
    assert timer is not None
    reo_wnd = timer - (t0 + 0.101) + 0.001
    assert det.on_timer(timer) == [first]
    # Recovery ends with the ACK of a send made after the loss.
    det.on_sent(first + 2, timer, 1000)
    assert det.on_ack(first + 2, timer + 0.1) == []
    return reo_wnd


def test_rack_reo_wnd_mult_grows_on_spurious_loss_and_persists_16_recoveries() -> None:
    det = RackTlp(FixedRtt(srtt=0.2, min_rtt=0.1))
    number, t = 0, 0.0
    assert _loss_episode(det, number, t) == pytest.approx(0.025)  # 1 * 0.1 / 4
    # The "lost" send 0 is ACKed after all: a spurious loss (DSACK's signal), mult = 2.
    assert det.on_ack(0, t + 0.5) == []
    reos = []
    for i in range(17):
        number, t = 3 * (i + 1), (i + 1) * 1.0
        reos.append(_loss_episode(det, number, t))
    # reo_wnd = 2 * 0.1 / 4 = 0.05 for 16 recoveries (RACK.reo_wnd_persist = 16), then 1x again.
    assert reos[:16] == pytest.approx([0.05] * 16)
    assert reos[16] == pytest.approx(0.025)


def test_rack_reo_wnd_is_capped_at_srtt() -> None:
    det = RackTlp(FixedRtt(srtt=0.1, min_rtt=0.1))
    reos = []
    number, t = 0, 0.0
    for _ in range(5):
        reos.append(_loss_episode(det, number, t))
        assert det.on_ack(number, t + 0.5) == []  # spurious: one DSACK round each
        number, t = number + 3, t + 1.0
    # mult 1..5: min(mult * 0.025, SRTT = 0.1) = 0.025, 0.05, 0.075, 0.1, 0.1.
    assert reos == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1])


def test_rack_ignores_duplicate_and_unknown_acks() -> None:
    det = RackTlp(FixedRtt())
    det.on_sent(0, 0.0, 1000)
    assert det.on_ack(0, 0.1) == []
    assert det.on_ack(0, 0.2) == []
    assert det.on_ack(42, 0.3) == []
    assert det.timer is None


# --- TLP (RFC 8985 section 7) --------------------------------------------------------------------


def test_tlp_pto_one_outstanding_adds_max_ack_delay() -> None:
    det = RackTlp(FixedRtt(srtt=0.1, rto=1.0))
    det.on_sent(0, 0.0, 1000)
    # 7.2: PTO = 2 * SRTT + TLP.max_ack_delay (0.2) with one send in flight = 0.4.
    assert det.timer == pytest.approx(0.4)
    det.on_sent(1, 0.01, 1000)
    # Two in flight: PTO = 2 * SRTT = 0.2 from the latest send.
    assert det.timer == pytest.approx(0.21)


def test_tlp_probe_then_rack_finds_the_tail_loss() -> None:
    det = RackTlp(FixedRtt(srtt=0.1, rto=1.0))
    det.on_sent(0, 0.0, 1000)
    det.on_sent(1, 0.01, 1000)
    pto = det.timer
    assert pto == pytest.approx(0.21)
    assert pto is not None
    assert det.on_timer(pto) == []  # a PTO is not a loss
    due_after_pto = det.probe_due
    assert det.timer is None
    det.on_sent(2, pto, 1000)  # the probe
    due_after_probe = det.probe_due
    assert (due_after_pto, due_after_probe) == (True, False)
    assert det.timer is None  # at most one probe outstanding (7.3)
    # The probe's ACK at 0.31: RACK.rtt 0.1, 1 SACKed, reo_wnd 0.025:
    # remaining(0) = 0 + 0.125 - 0.31 < 0, remaining(1) = 0.01 + 0.125 - 0.31 < 0.
    assert det.on_ack(2, 0.31) == [0, 1]


def test_tlp_pto_never_later_than_rto_and_rto_without_srtt() -> None:
    det = RackTlp(FixedRtt(srtt=0.1, rto=0.3))
    det.on_sent(0, 0.0, 1000)
    assert det.timer == pytest.approx(0.3)  # 0.4 capped at the RTO
    no_srtt = RackTlp(FixedRtt(srtt=None, min_rtt=None, rto=1.0))
    no_srtt.on_sent(0, 0.0, 1000)
    assert no_srtt.timer == pytest.approx(1.0)


# --- RFC 9002 section 6.1 -------------------------------------------------------------------------


def _rfc9002_pair() -> tuple[Rfc9002Estimator, Rfc9002LossDetector]:
    est = Rfc9002Estimator()
    return est, Rfc9002LossDetector(est)


def test_rfc9002_time_and_packet_thresholds() -> None:
    est, det = _rfc9002_pair()
    for n in range(6):
        det.on_sent(n, n * 0.01, 1000)
    est.update(0.1, now=0.1)
    assert det.on_ack(0, 0.1) == []
    # ACK of 4 at 0.14: latest_rtt = 0.1, smoothed 0.1:
    # loss_delay = 9/8 * 0.1 = 0.1125, lost if sent <= 0.14 - 0.1125 = 0.0275
    # or 4 >= n + 3. Send 1 (0.01): both; send 2 (0.02): time; send 3 (0.03): neither,
    # so loss_time = 0.03 + 0.1125 = 0.1425.
    est.update(0.1, now=0.14)
    assert det.on_ack(4, 0.14) == [1, 2]
    assert det.timer == pytest.approx(0.1425)
    assert det.on_timer(0.142) == []
    assert det.on_timer(0.1425 + 1e-9) == [3]
    # Only send 5 is left: the PTO, from the last send (0.05): smoothed 0.1, rttvar 0.0375,
    # PTO = 0.1 + 4 * 0.0375 + 0.025 = 0.275 -> 0.325.
    assert det.timer == pytest.approx(0.325)


def test_rfc9002_packet_threshold_is_exactly_three() -> None:
    est, det = _rfc9002_pair()
    for n in range(4):
        det.on_sent(n, n * 0.001, 1000)
    est.update(0.097, now=0.1)
    # latest_rtt 0.097: loss_delay 0.109125, nothing old enough by time.
    # Packet threshold: 3 >= n + 3 only for n = 0 (the equality counts, A.10).
    assert det.on_ack(3, 0.1) == [0]
    # Send 1 waits for the time threshold: 0.001 + 9/8 * 0.097 = 0.110125.
    assert det.timer == pytest.approx(0.110125)


def test_rfc9002_loss_delay_granularity_floor() -> None:
    est, det = _rfc9002_pair()
    det.on_sent(0, 0.0, 1000)
    det.on_sent(1, 0.0001, 1000)
    est.update(0.0004, now=0.0005)
    # 9/8 * 0.0004 = 0.00045 < kGranularity: loss_delay = 0.001; send 0 lost at 0.001.
    assert det.on_ack(1, 0.0005) == []
    assert det.timer == pytest.approx(0.001)


def test_rfc9002_pto_fires_probe_and_backs_off() -> None:
    est, det = _rfc9002_pair()
    det.on_sent(0, 0.0, 1000)
    # No RTT sample yet: PTO = 0.333 + 4 * 0.1665 + 0.025 = 1.024 (6.2.2, 6.2.1).
    assert det.timer == pytest.approx(1.024)
    assert det.on_timer(1.024) == []  # a PTO declares nothing lost (6.2)
    assert det.probe_due
    assert est.pto_count == 1
    assert det.timer is None
    det.on_sent(1, 1.03, 1000)
    # Backed off: 1.03 + 2 * 1.024.
    assert det.timer == pytest.approx(1.03 + 2.048)
    assert not det.probe_due


def test_rfc9002_ignores_duplicate_acks() -> None:
    est, det = _rfc9002_pair()
    det.on_sent(0, 0.0, 1000)
    est.update(0.1, now=0.1)
    assert det.on_ack(0, 0.1) == []
    assert det.on_ack(0, 0.2) == []
    assert det.timer is None


@pytest.mark.parametrize("kind", ["rack", "rfc9002"])
def test_detectors_reject_bad_input(kind: str) -> None:
    det: RackTlp | Rfc9002LossDetector
    det = RackTlp(FixedRtt()) if kind == "rack" else _rfc9002_pair()[1]
    det.on_sent(5, 1.0, 1000)
    with pytest.raises(ValueError, match="number"):
        det.on_sent(5, 1.0, 1000)
    with pytest.raises(ValueError, match="number"):
        det.on_sent(-1, 1.0, 1000)
    with pytest.raises(ValueError, match="size"):
        det.on_sent(6, 1.0, 0)
    with pytest.raises(ValueError, match="now"):
        det.on_sent(6, 0.5, 1000)
    with pytest.raises(ValueError, match="now"):
        det.on_ack(5, 0.5)
    # The rejected sends were not recorded: 6 is still a fresh number.
    det.on_sent(6, 1.0, 1000)


def test_detectors_reject_bad_options() -> None:
    with pytest.raises(ValueError, match="dup_thresh"):
        RackTlp(FixedRtt(), dup_thresh=0)
    with pytest.raises(ValueError, match="reo_wnd_persist"):
        RackTlp(FixedRtt(), reo_wnd_persist=0)
    with pytest.raises(ValueError, match="max_ack_delay"):
        RackTlp(FixedRtt(), max_ack_delay=-1.0)
    with pytest.raises(ValueError, match="packet_threshold"):
        Rfc9002LossDetector(Rfc9002Estimator(), packet_threshold=0)
    with pytest.raises(ValueError, match="time_threshold"):
        Rfc9002LossDetector(Rfc9002Estimator(), time_threshold=0.0)


# --- LossRateEstimator ----------------------------------------------------------------------------


def test_loss_rate_sliding_window() -> None:
    meter = LossRateEstimator(window=4)
    assert meter.loss_rate == 0.0
    meter.record(True)
    assert meter.loss_rate == 1.0  # 1 of 1
    for _ in range(3):
        meter.record(False)
    assert meter.loss_rate == 0.25  # 1 of 4
    meter.record(False)  # the loss leaves the 4-send window
    assert meter.loss_rate == 0.0
    assert meter.samples == 4
    meter.record(True)
    meter.record(True)
    assert meter.loss_rate == 0.5  # F F T T


def test_loss_rate_rejects_bad_window() -> None:
    with pytest.raises(ValueError, match="window"):
        LossRateEstimator(window=0)
