"""Unit tests of netalgo.bbr against draft-ietf-ccwg-bbr-06, Linux BBRv3 and BBRv1 numbers.

Scripted ACK streams stand in for a path: a bottleneck of ``rate`` bytes/s and
``rtt`` seconds, ACKs of ``ack_bytes`` every ``ack_bytes / rate`` seconds, each
acknowledging a send made one RTT earlier (so a packet-timed round is one RTT).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from netalgo.bbr import BBR, PROFILES, BbrProfile
from netalgo.protocols import AckSample, CongestionController, LossEvent, RateSample, SentPacket

MSS = 1460


class ScriptedPath:
    """Feeds a BBR instance the ACKs a fixed-rate, fixed-RTT path would produce."""

    def __init__(
        self, bbr: BBR, *, rate: float, rtt: float, ack_bytes: int = 1000, inflight: int = 0
    ) -> None:
        self.bbr = bbr
        self.rate = rate
        self.rtt = rtt
        self.ack_bytes = ack_bytes
        self.inflight = inflight
        self.now = 1.0
        self.delivered = 0

    def ack(self, *, rate: float | None = None, each_ack_a_round: bool = False) -> None:
        rate = self.rate if rate is None else rate
        self.now += self.ack_bytes / self.rate
        if each_ack_a_round:
            prior = self.delivered
        else:
            prior = max(0, self.delivered - int(self.rate * self.rtt))
        self.delivered += self.ack_bytes
        rs = RateSample(
            delivery_rate=rate,
            is_app_limited=False,
            interval=self.rtt,
            delivered=self.delivered - prior,
            prior_delivered=prior,
            prior_time=self.now - self.rtt,
            send_elapsed=0.0,
            ack_elapsed=self.rtt,
            tx_in_flight=self.inflight,
            lost=0,
            newly_acked=self.ack_bytes,
            newly_lost=0,
        )
        sample = AckSample(
            self.now, self.ack_bytes, self.inflight, self.now - self.rtt, self.rtt, rs
        )
        self.bbr.on_ack(sample)

    def run_until(self, predicate: Callable[[BBR], bool], *, limit: float = 30.0) -> None:
        start = self.now
        while not predicate(self.bbr):
            assert self.now - start < limit, f"not reached; state {self.bbr.state}"
            self.ack()


def to_state(path: ScriptedPath, state: str, *, limit: float = 30.0) -> None:
    path.run_until(lambda b: b.state == state, limit=limit)


# ----------------------------------------------------------------- constants


def test_draft_profile_constants_are_draft_ietf_ccwg_bbr_06() -> None:
    p = PROFILES["draft"]
    assert p == BbrProfile()
    # Section 2.5: StartupPacingGain = 4 ln 2 ~= 2.77.
    assert p.startup_pacing_gain == 2.77
    assert round(4 * math.log(2), 2) == p.startup_pacing_gain
    # Section 2.5 of -06: DrainPacingGain = 0.5; section 5.3.2: Drain ends after 3 rounds.
    assert p.drain_pacing_gain == 0.5
    assert p.drain_max_rounds == 3
    # Sections 2.6, 5.6.1: DefaultCwndGain 2; DOWN 0.90, CRUISE 1, REFILL 1, UP 1.25 and 2.25.
    assert p.startup_cwnd_gain == p.default_cwnd_gain == p.drain_cwnd_gain == 2.0
    assert p.probe_bw_down_pacing_gain == 0.90
    assert p.probe_bw_cruise_pacing_gain == p.probe_bw_refill_pacing_gain == 1.0
    assert p.probe_bw_up_pacing_gain == 1.25
    assert p.probe_bw_up_cwnd_gain == 2.25
    # Section 2.8: LossThresh 2%, Beta 0.7, Headroom 0.15, MinPipeCwnd 4 * SMSS.
    assert (p.loss_thresh, p.beta, p.headroom, p.min_pipe_cwnd_packets) == (0.02, 0.7, 0.15, 4)
    # Sections 2.11, 2.12, 2.16: MaxBwFilterLen 2 cycles, ExtraAckedFilterLen 10 rounds,
    # MinRTTFilterLen 10 s, ProbeRTTInterval 5 s, ProbeRTTDuration 200 ms, ProbeRTTCwndGain 0.5.
    assert (p.max_bw_filter_len, p.max_bw_filter_in_rounds) == (2, False)
    assert p.extra_acked_filter_len == 10
    assert (p.min_rtt_filter_len, p.probe_rtt_interval) == (10.0, 5.0)
    assert (p.probe_rtt_duration, p.probe_rtt_cwnd_gain) == (0.2, 0.5)
    # Section 5.3.1.2: three rounds without 25% growth; 5.3.1.3: 6 loss events.
    assert (p.full_bw_threshold, p.full_bw_count, p.startup_full_loss_count) == (1.25, 3, 6)
    # Sections 2.5 and 5.6.3: 1% pacing margin; quantum = 1 ms of pacing, 2 SMSS to 64 KB.
    assert p.pacing_margin_percent == 1.0
    assert (p.send_quantum_time, p.send_quantum_max) == (0.001, 65536)
    # Section 5.3.3.8.2: T_bbr uniform in 2..3 s, T_reno bound 62-63 rounds.
    assert (p.bw_probe_base_wait, p.bw_probe_rand_wait, p.bw_probe_max_rounds) == (2.0, 1.0, 63)
    assert p.loss_response
    assert p.gain_cycle is None


def test_linux_v3_profile_is_tcp_bbr_c_fixed_point() -> None:
    p = PROFILES["linux_v3"]
    # BBR_UNIT = 256: 256*277/100 = 709 (C integer division) + 1 = 710.
    assert p.startup_pacing_gain == 710 / 256
    # bbr_drain_gain = 256*1000/2885 = 88.
    assert p.drain_pacing_gain == 88 / 256
    # bbr_pacing_gain[DOWN] = 256*91/100 = 232.
    assert p.probe_bw_down_pacing_gain == 232 / 256
    # bbr_loss_thresh = 256*2/100 = 5; bbr_beta = 256*30/100 = 76 cut, keeps 180;
    # bbr_inflight_headroom = 256*15/100 = 38.
    assert (p.loss_thresh, p.beta, p.headroom) == (5 / 256, 180 / 256, 38 / 256)
    # bbr_extra_acked_win_rtts = 5, bbr_extra_acked_max_us = 100 ms; no Drain round limit.
    assert (p.extra_acked_filter_len, p.extra_acked_max_time, p.drain_max_rounds) == (5, 0.1, None)
    # Same as the draft: UP cwnd gain 2 + 1/4, ProbeRTT at 0.5 BDP every 5 s for 200 ms.
    assert p.probe_bw_up_cwnd_gain == 2.25
    assert (p.probe_rtt_cwnd_gain, p.probe_rtt_interval, p.probe_rtt_duration) == (0.5, 5.0, 0.2)


def test_v1_profile_is_original_bbr() -> None:
    p = PROFILES["v1"]
    high_gain = 2 / math.log(2)  # 2.8854
    assert p.startup_pacing_gain == pytest.approx(2.885, abs=5e-4)
    assert p.startup_pacing_gain == p.startup_cwnd_gain == p.drain_cwnd_gain == high_gain
    assert p.drain_pacing_gain == pytest.approx(math.log(2) / 2)  # 0.3466
    assert p.gain_cycle == (1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert (p.max_bw_filter_len, p.max_bw_filter_in_rounds) == (10, True)
    assert (p.probe_rtt_interval, p.probe_rtt_duration, p.probe_rtt_cwnd_gain) == (10.0, 0.2, 0.0)
    assert not p.loss_response


def test_satisfies_protocol_and_starts_per_rfc_6928_and_section_5_6_2() -> None:
    bbr = BBR(rng=random.Random(1))
    assert isinstance(bbr, CongestionController)
    assert bbr.state == "Startup"
    # RFC 6928: min(10*1460, max(2*1460, 14600)) = 14600.
    assert bbr.cwnd == 14600
    # InitPacingRate(): 2.77 * 14600 / 1 ms (no RTT yet) = 40,442,000 B/s.
    assert bbr.pacing_rate == pytest.approx(2.77 * 14600 / 0.001)
    assert BBR(mss=1000).cwnd == 10_000  # min(10000, max(2000, 14600))
    assert BBR(initial_window=4 * MSS).cwnd == 5840


# ------------------------------------------------------------- pacing, cwnd


def test_startup_pacing_rate_is_gain_times_bw_less_margin() -> None:
    bbr = BBR(rng=random.Random(1))
    path = ScriptedPath(bbr, rate=1e6, rtt=0.04)
    path.ack()
    # 2.77 * 1e6 * 0.99 = 2,742,300 B/s (section 5.6.2).
    assert bbr.max_bw == 1e6
    assert bbr.pacing_rate == pytest.approx(2.77 * 1e6 * 0.99)
    for profile, gain in (("linux_v3", 710 / 256), ("v1", 2 / math.log(2))):
        other = BBR(profile=profile, rng=random.Random(1))
        ScriptedPath(other, rate=1e6, rtt=0.04).ack()
        assert other.pacing_rate == pytest.approx(gain * 1e6 * 0.99)


def test_cruise_cwnd_is_two_bdp_plus_extra_acked_and_pacing_unity() -> None:
    bbr = BBR(rng=random.Random(1))
    path = ScriptedPath(bbr, rate=1e6, rtt=0.04, ack_bytes=1000, inflight=40_000)
    to_state(path, "ProbeBW_CRUISE")
    path.ack()
    # BDP = 1e6 B/s * 0.04 s = 40,000 B. ACKs of 1000 B arrive exactly at bw, so
    # UpdateACKAggregation() restarts its interval on every ACK and extra = 1000 B.
    # cwnd = 2 * 40,000 + 1000 = 81,000 B (sections 5.5.9, 5.6.4.2).
    assert bbr.bdp == pytest.approx(40_000)
    assert bbr.extra_acked == pytest.approx(1000)
    assert bbr.cwnd == pytest.approx(81_000, abs=1)
    # CRUISE pacing gain 1.0: 1e6 * 0.99 = 990,000 B/s.
    assert bbr.pacing_rate == pytest.approx(990_000)
    # Send quantum: 990,000 B/s * 1 ms = 990 B, below 2 * 1460: 2920 B (section 5.6.3).
    assert bbr.send_quantum == 2 * MSS


def test_drain_ends_after_three_rounds_then_probe_bw_down_paces_at_0_9() -> None:
    bbr = BBR(rng=random.Random(1))
    # inflight 100,000 B stays above the 40,000 B BDP: only the draft -06 3-round limit ends Drain.
    path = ScriptedPath(bbr, rate=1e6, rtt=0.04, ack_bytes=1000, inflight=100_000)
    to_state(path, "Drain")
    assert bbr.pacing_rate == pytest.approx(0.5 * 1e6 * 0.99)
    drain_round = bbr.round_count
    to_state(path, "ProbeBW_DOWN")
    # CheckDrainDone(): round_count > drain_start_round + 3.
    assert bbr.round_count == drain_round + 4
    assert bbr.pacing_rate == pytest.approx(0.90 * 1e6 * 0.99)
    # Linux BBRv3 has no round limit: inflight above the BDP keeps it in Drain.
    linux = BBR(profile="linux_v3", rng=random.Random(1))
    lpath = ScriptedPath(linux, rate=1e6, rtt=0.04, ack_bytes=1000, inflight=100_000)
    to_state(lpath, "Drain")
    for _ in range(400):  # 10 rounds of 40 ACKs
        lpath.ack()
    assert linux.state == "Drain"


def test_min_pipe_cwnd_bounds_a_tiny_bdp() -> None:
    bbr = BBR(rng=random.Random(1))
    # 10,000 B/s * 0.04 s = 400 B of BDP: far below MinPipeCwnd = 4 * 1460 = 5840 B.
    path = ScriptedPath(bbr, rate=10_000, rtt=0.04, ack_bytes=MSS, inflight=400)
    path.run_until(lambda b: b.full_bw_reached)
    seen = set()
    for _ in range(300):
        path.ack()
        assert bbr.cwnd >= 5840
        if bbr.state != "ProbeBW_UP":
            # 2 * 400 + extra_acked (<= one 1460 B ACK) = 2260 < 5840.
            assert bbr.cwnd == 5840
        seen.add(bbr.state)
    assert {"ProbeBW_DOWN", "ProbeBW_CRUISE"} & seen


@pytest.mark.parametrize(
    ("profile", "rate", "expected"),
    [
        ("draft", 1e6, 20_000),  # 0.5 * 1e6 * 0.04 = 20,000 B > 5840 B
        ("draft", 100_000, 5840),  # 0.5 * 4000 = 2000 B < MinPipeCwnd 5840 B
        ("linux_v3", 1e6, 20_000),
        ("v1", 1e6, 5840),  # BBRv1: 4 packets whatever the BDP
    ],
)
def test_probe_rtt_cwnd_and_duration(profile: str, rate: float, expected: int) -> None:
    bbr = BBR(profile=profile, rng=random.Random(2))
    path = ScriptedPath(bbr, rate=rate, rtt=0.04, ack_bytes=MSS, inflight=int(rate * 0.04))
    path.run_until(lambda b: b.full_bw_reached)
    start = path.now
    to_state(path, "ProbeRTT", limit=12.0)
    entered = path.now
    interval = PROFILES[profile].probe_rtt_interval
    # No lower RTT sample since the first ACK: ProbeRTT after ProbeRTTInterval.
    assert interval - 0.5 < entered - start < interval + 0.1
    assert bbr.cwnd == pytest.approx(expected, abs=1)
    path.inflight = expected
    path.run_until(lambda b: b.state != "ProbeRTT", limit=2.0)
    # At least ProbeRTTDuration = 200 ms, and at least one round, in ProbeRTT.
    assert path.now - entered >= 0.2
    assert bbr.state.startswith("ProbeBW")


# -------------------------------------------------------- full-pipe detection


def test_full_pipe_after_three_rounds_without_25_percent_growth() -> None:
    bbr = BBR(rng=random.Random(1))
    path = ScriptedPath(bbr, rate=1e6, rtt=0.04, ack_bytes=MSS, inflight=10**7)
    # Each ACK ends a round (section 5.5.1), so each sample is one round's.
    path.ack(rate=1e6, each_ack_a_round=True)  # full_bw = 1e6
    path.ack(rate=2e6, each_ack_a_round=True)  # 2e6 >= 1.25e6: full_bw = 2e6
    path.ack(rate=2.5e6, each_ack_a_round=True)  # 2.5e6 >= 1.25 * 2e6 (equal): reset, 2.5e6
    assert not bbr.full_bw_reached
    path.ack(rate=3.1e6, each_ack_a_round=True)  # 3.1e6 < 3.125e6: count 1
    path.ack(rate=3.0e6, each_ack_a_round=True)  # count 2
    assert (bbr.state, bbr.full_bw_now) == ("Startup", False)
    path.ack(rate=3.12e6, each_ack_a_round=True)  # count 3: pipe full
    assert (bbr.full_bw_reached, bbr.full_bw_now) == (True, True)
    assert bbr.state == "Drain"  # inflight 10 MB > BDP: Drain holds


def test_growth_resets_the_full_pipe_count() -> None:
    bbr = BBR(rng=random.Random(1))
    path = ScriptedPath(bbr, rate=1e6, rtt=0.04, ack_bytes=MSS, inflight=10**7)
    for rate in (1e6, 1.1e6, 1.2e6, 1.25e6, 1.3e6, 1.4e6):
        # 1.1 and 1.2 count; 1.25 = 1.25 * 1e6 resets; 1.3 and 1.4 count again (2 rounds).
        path.ack(rate=rate, each_ack_a_round=True)
    assert not bbr.full_bw_reached
    assert bbr.state == "Startup"


def test_app_limited_rounds_do_not_count_towards_a_full_pipe() -> None:
    bbr = BBR(rng=random.Random(1))
    now, delivered = 1.0, 0
    for _ in range(10):
        now += 0.04
        rs = RateSample(1e6, True, 0.04, MSS, delivered, now - 0.04, 0.0, 0.04, MSS, 0, MSS, 0)
        delivered += MSS
        bbr.on_ack(AckSample(now, MSS, 0, now - 0.04, 0.04, rs))
    # Draft Appendix A.7: application-limited rounds never leave Startup.
    assert bbr.state == "Startup"
    assert not bbr.full_bw_reached
    assert bbr.max_bw == 1e6  # app-limited samples above max_bw still count (5.5.4)


# --------------------------------------------------------------- loss response


def _probe_up(profile: str = "draft") -> tuple[BBR, ScriptedPath]:
    bbr = BBR(profile=profile, rng=random.Random(3))
    path = ScriptedPath(bbr, rate=1e6, rtt=0.04, ack_bytes=1000, inflight=40_000)
    to_state(path, "ProbeBW_UP", limit=10.0)
    return bbr, path


def _lose(bbr: BBR, path: ScriptedPath, *, tx_in_flight: int) -> None:
    packet = SentPacket(
        path.now - 0.04, MSS, 0, path.now - 0.08, path.now - 0.08, False, tx_in_flight, 0
    )
    bbr.on_loss(LossEvent(path.now, MSS, 30_000, packet.sent_time, packet))
    path.now += 0.0001


def test_loss_above_two_percent_sets_inflight_longterm_and_leaves_probe_up() -> None:
    bbr, path = _probe_up()
    assert bbr.inflight_longterm == math.inf
    # tx_in_flight 73,000 B: LossThresh * 73,000 = 1460 B. One lost packet (1460 B) is
    # not more than 2% (IsInflightTooHigh uses ">"), so nothing changes.
    _lose(bbr, path, tx_in_flight=73_000)
    assert bbr.state == "ProbeBW_UP"
    assert bbr.inflight_longterm == math.inf
    # A second loss: 2920 B > 1460 B. InflightAtLoss(): inflight_prev = 73,000 - 1460 =
    # 71,540; lost_prev = 2920 - 1460 = 1460; lost_prefix = (0.02 * 71,540 - 1460) / 0.98
    # = -30.408; inflight_at_loss = 71,509.59 B, above Beta * TargetInflight = 0.7 * 40,000.
    _lose(bbr, path, tx_in_flight=73_000)
    assert bbr.inflight_longterm == pytest.approx(71_540 + (0.02 * 71_540 - 1460) / 0.98)
    assert bbr.state == "ProbeBW_DOWN"


def test_inflight_longterm_floor_is_beta_times_target_inflight() -> None:
    bbr, path = _probe_up()
    _lose(bbr, path, tx_in_flight=10_000)  # 1460 > 200: too high at once
    # inflight_at_loss = 8540 + (0.02 * 8540 - 0) / 0.98 = 8714.3 B, below
    # Beta * min(BDP, cwnd) = 0.7 * 40,000 = 28,000 B, so inflight_longterm = 28,000 B.
    assert bbr.inflight_longterm == pytest.approx(28_000)
    path.inflight = 20_000
    for _ in range(40):
        path.ack()
        # cwnd never exceeds inflight_longterm outside CRUISE (section 5.6.4.7).
        assert bbr.cwnd <= 28_000 + 1


def test_v1_has_no_loss_response() -> None:
    bbr = BBR(profile="v1", rng=random.Random(3))
    path = ScriptedPath(bbr, rate=1e6, rtt=0.04, ack_bytes=1000, inflight=40_000)
    path.run_until(lambda b: b.full_bw_reached)
    for _ in range(5):
        _lose(bbr, path, tx_in_flight=10_000)
    path.ack()
    assert bbr.inflight_longterm == math.inf
    assert bbr.bw_shortterm == math.inf
    assert bbr.state.startswith("ProbeBW")


def test_non_probing_loss_cuts_short_term_model_by_beta() -> None:
    bbr = BBR(rng=random.Random(1))
    path = ScriptedPath(bbr, rate=1e6, rtt=0.04, ack_bytes=1000, inflight=40_000)
    to_state(path, "ProbeBW_CRUISE")
    cwnd = bbr.cwnd
    _lose(bbr, path, tx_in_flight=40_000)
    # At the end of the loss round (section 5.5.10.3): bw_shortterm = max(bw_latest,
    # 0.7 * max_bw) and inflight_shortterm = max(inflight_latest, 0.7 * cwnd).
    # Samples of 1e6 B/s keep bw_latest = 1e6 and inflight_latest = 40,000 (RS.delivered).
    path.run_until(lambda b: b.bw_shortterm != math.inf, limit=1.0)
    assert bbr.bw_shortterm == pytest.approx(1e6)
    assert bbr.inflight_shortterm == pytest.approx(max(40_000, 0.7 * cwnd))


def test_startup_exits_on_six_loss_events_above_two_percent() -> None:
    bbr = BBR(rng=random.Random(1))
    path = ScriptedPath(bbr, rate=1e6, rtt=0.04, ack_bytes=1000, inflight=80_000)
    for _ in range(3):
        path.ack(rate=1e6 * (2 ** (path.now)), each_ack_a_round=True)
    assert bbr.state == "Startup"
    for _ in range(6):  # six loss events at distinct instants, 6 * 1460 = 8760 B lost
        _lose(bbr, path, tx_in_flight=80_000)
    path.ack(rate=1e7, each_ack_a_round=True)  # one full round of recovery
    for _ in range(6):
        _lose(bbr, path, tx_in_flight=80_000)
    now = path.now + 0.001
    # The ACKed packet saw 8760 B lost of 80,000 B in flight: 11% > 2% (section 5.3.1.3).
    rs = RateSample(
        1e7, False, 0.04, 1000, path.delivered, now - 0.04, 0, 0.04, 80_000, 8760, 1000, 0
    )
    bbr.on_ack(AckSample(now, 1000, 10**6, now - 0.5, 0.04, rs))  # a pre-recovery send
    assert bbr.full_bw_reached
    assert bbr.state == "Drain"  # 1 MB in flight > BDP keeps it there
    # inflight_longterm = max(BBR.bdp, inflight_latest) = max(1e7 * 0.04, 1000) = 400,000 B.
    assert bbr.inflight_longterm == pytest.approx(400_000)
    # BBRv1 has no such exit (Linux v1 and the v1 draft ignore loss in Startup).


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mss": 0},
        {"mss": -1460},
        {"mss": True},
        {"profile": "bbr2"},
        {"profile": 3},
        {"initial_window": 0},
        {"offload_quanta": -1},
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        BBR(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"startup_pacing_gain": 0.0},
        {"drain_pacing_gain": math.nan},
        {"loss_thresh": 1.0},
        {"headroom": -0.1},
        {"beta": 1.5},
        {"gain_cycle": ()},
        {"probe_rtt_interval": -5.0},
        {"full_bw_count": 0},
    ],
)
def test_bad_profile_constants(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(changes)).split("_")[0]):
        BbrProfile().with_changes(**changes)


def _rs(rate: float = 1e6) -> RateSample:
    return RateSample(rate, False, 0.04, MSS, 0, 0.0, 0.0, 0.04, MSS, 0, MSS, 0)


@pytest.mark.parametrize(
    ("sample", "match"),
    [
        (AckSample(1.0, MSS, 0, 0.9, 0.04, None), "sample.rate"),
        (AckSample(math.nan, MSS, 0, 0.9, 0.04, _rs()), "now"),
        (AckSample(1.0, -1, 0, 0.9, 0.04, _rs()), "acked_bytes"),
        (AckSample(1.0, MSS, -5, 0.9, 0.04, _rs()), "bytes_in_flight"),
        (AckSample(1.0, MSS, 0, 0.9, 0.0, _rs()), "rtt"),
        (AckSample(1.0, MSS, 0, 0.9, math.nan, _rs()), "rtt"),
        (AckSample(1.0, MSS, 0, 0.9, 0.04, _rs(-1.0)), "delivery_rate"),
        (AckSample(1.0, MSS, 0, 0.9, 0.04, _rs(math.inf)), "delivery_rate"),
    ],
)
def test_bad_ack_is_rejected_and_leaves_state_alone(sample: AckSample, match: str) -> None:
    bbr = BBR(rng=random.Random(1))
    with pytest.raises(ValueError, match=match):
        bbr.on_ack(sample)
    assert (bbr.cwnd, bbr.max_bw, bbr.state) == (14600, 0.0, "Startup")


def test_time_going_backwards_is_rejected() -> None:
    bbr = BBR(rng=random.Random(1))
    bbr.on_sent(2.0, MSS, MSS)
    with pytest.raises(ValueError, match="backwards"):
        bbr.on_ack(AckSample(1.0, MSS, 0, 0.9, 0.04, _rs()))
    with pytest.raises(ValueError, match="backwards"):
        bbr.on_loss(LossEvent(1.5, MSS, 0, 1.0))
    with pytest.raises(ValueError, match="lost_bytes"):
        bbr.on_loss(LossEvent(2.5, -MSS, 0, 1.0))
    with pytest.raises(ValueError, match="sent_bytes"):
        bbr.on_sent(3.0, -1, 0)
    assert bbr.cwnd == 14600


def test_rto_cuts_cwnd_to_inflight_plus_one_packet_and_recovery_restores_it() -> None:
    bbr = BBR(rng=random.Random(1))
    path = ScriptedPath(bbr, rate=1e6, rtt=0.04, ack_bytes=1000, inflight=40_000)
    to_state(path, "ProbeBW_CRUISE")
    before = bbr.cwnd
    bbr.on_loss(LossEvent(path.now, MSS, 0, path.now - 0.5, None, is_timeout=True))
    # OnEnterRTO() (section 5.6.4.4): C.cwnd = C.inflight + 1 packet = 0 + 1460 B.
    assert bbr.cwnd == MSS
    # An ACK of a send made after the RTO ends recovery: RestoreCwnd() brings cwnd back.
    path.ack()
    rs = _rs()
    now = path.now + 0.001
    bbr.on_ack(
        AckSample(
            now, 1000, 40_000, now - 0.0005, 0.04, rs._replace(prior_delivered=path.delivered)
        )
    )
    # RestoreCwnd() gives back 81,000 B, but the loss also ended a loss round, so
    # BoundCwndForModel() applies inflight_shortterm = max(inflight_latest = 40,000,
    # Beta * cwnd = 0.7 * 81,000 = 56,700) = 56,700 B (sections 5.5.10.3, 5.6.4.7).
    assert before == pytest.approx(81_000, abs=1)
    assert bbr.inflight_shortterm == pytest.approx(0.7 * 81_000, abs=1)
    assert bbr.cwnd == pytest.approx(0.7 * 81_000, abs=1)


def test_ce_marks_leave_bbr_unchanged() -> None:
    """draft-ietf-ccwg-bbr-06 §3.7 specifies no response to ECN: the same ACKs with and
    without ``ce_marked`` leave the same state, window and pacing rate."""
    runs = []
    for marked in (False, True):
        bbr = BBR(mss=1000, rng=random.Random(7))
        now = 1.0
        for i in range(400):
            now += 0.001
            rs = RateSample(1e6, False, 0.05, 50_000, i * 1000, now - 0.05, 0.0, 0.05,
                            50_000, 0, 1000, 0)  # fmt: skip
            bbr.on_sent(now, 1000, 50_000)
            bbr.on_ack(AckSample(now, 1000, 49_000, now - 0.05, 0.05, rs, marked))
        runs.append((bbr.state, bbr.cwnd, bbr.pacing_rate, bbr.max_bw))
    assert runs[0] == runs[1]
    assert runs[0][0] != "Startup"  # the trace got past Startup, so the marks had chances
