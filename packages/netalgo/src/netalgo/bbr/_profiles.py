"""BBR constants as named, frozen profiles: the IETF draft, Linux BBRv3 and BBRv1.

Every field is one published constant (or one behaviour switch); the
defaults of :class:`BbrProfile` are those of draft-ietf-ccwg-bbr-06, the
newest revision of the IETF text. The sources of the other two profiles and
every difference between them are listed in :mod:`netalgo.bbr`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from netalgo._validate import fraction, non_negative, non_negative_int, positive, positive_int

__all__ = ["PROFILES", "BbrProfile"]

# Linux expresses gains in fixed point, BBR_UNIT = 1 << BBR_SCALE = 256.
_LINUX_UNIT = 256


def _linux_fixed(numerator: int, denominator: int, *, plus: int = 0) -> float:
    """``(BBR_UNIT * numerator / denominator + plus) / BBR_UNIT`` with C integer division."""
    return (_LINUX_UNIT * numerator // denominator + plus) / _LINUX_UNIT


@dataclass(frozen=True, slots=True)
class BbrProfile:
    """The constants of one BBR variant. Defaults: draft-ietf-ccwg-bbr-06.

    Section numbers below are those of draft-ietf-ccwg-bbr-06.
    """

    name: str = "draft"
    # Startup and Drain (sections 2.5, 2.6, 5.3.1, 5.3.2).
    startup_pacing_gain: float = 2.77
    """BBR.StartupPacingGain = 4 ln 2 ~= 2.77 (section 2.5)."""
    startup_cwnd_gain: float = 2.0
    """Startup uses BBR.DefaultCwndGain = 2 (section 5.3.1.1)."""
    drain_pacing_gain: float = 0.5
    """BBR.DrainPacingGain = 0.5 (section 2.5; it was 0.35 up to draft-ietf-ccwg-bbr-04)."""
    drain_cwnd_gain: float = 2.0
    drain_max_rounds: int | None = 3
    """Leave Drain after this many rounds even if inflight > BDP (section 5.3.2); None: never."""
    # ProbeBW (sections 5.3.3, 5.6.1).
    default_cwnd_gain: float = 2.0
    """BBR.DefaultCwndGain = 2 (section 2.6)."""
    probe_bw_down_pacing_gain: float = 0.90
    probe_bw_cruise_pacing_gain: float = 1.0
    probe_bw_refill_pacing_gain: float = 1.0
    probe_bw_up_pacing_gain: float = 1.25
    probe_bw_up_cwnd_gain: float = 2.25
    """ProbeBW_UP raises BBR.cwnd_gain to 2.25 (section 5.3.3.5)."""
    gain_cycle: tuple[float, ...] | None = None
    """BBRv1's eight-phase ProbeBW pacing-gain cycle; None selects BBRv3's DOWN/CRUISE/REFILL/UP."""
    bw_probe_base_wait: float = 2.0
    """T_bbr lower bound, seconds (section 5.3.3.8.2)."""
    bw_probe_rand_wait: float = 1.0
    """T_bbr random spread, seconds: T_bbr is uniform in [2, 3) s."""
    bw_probe_max_rounds: int = 63
    """Upper bound of the Reno-coexistence time scale, round trips (section 5.3.3.8.2)."""
    bw_probe_rand_rounds: int = 2
    """rounds_since_probe_up starts uniformly in [0, this) (PickProbeWait, section 5.3.3.8.3)."""
    # Pacing and send quantum (sections 5.6.2, 5.6.3).
    pacing_margin_percent: float = 1.0
    """BBR.PacingMarginPercent = 1 (section 2.5)."""
    send_quantum_time: float = 0.001
    send_quantum_max: int = 64 * 1024
    # Full-pipe estimation (section 5.3.1.2).
    full_bw_threshold: float = 1.25
    full_bw_count: int = 3
    full_bw_uses_max_bw: bool = False
    """Compare BBR.max_bw (BBRv1, Linux tcp_bbr.c) rather than RS.delivery_rate (draft)."""
    # Loss response (sections 2.8, 5.3.1.3, 5.5.10).
    loss_response: bool = True
    """Keep inflight_longterm, inflight_shortterm and bw_shortterm (BBRv2 on); BBRv1 has none."""
    loss_thresh: float = 0.02
    """BBR.LossThresh = 2% (section 2.8)."""
    beta: float = 0.7
    """BBR.Beta = 0.7 (section 2.8)."""
    headroom: float = 0.15
    """BBR.Headroom = 0.15 (section 2.8)."""
    startup_full_loss_count: int = 6
    """BBRStartupFullLossCnt = 6 loss events in a round end Startup (section 5.3.1.3); 0: off."""
    min_pipe_cwnd_packets: int = 4
    """BBR.MinPipeCwnd = 4 * C.SMSS (section 2.8)."""
    # Path model filters (sections 2.11, 2.12, 2.16).
    max_bw_filter_len: int = 2
    """BBR.MaxBwFilterLen = 2 ProbeBW cycles (section 2.11); rounds when max_bw_filter_in_rounds."""
    max_bw_filter_in_rounds: bool = False
    """Time the max_bw filter in packet-timed rounds (BBRv1) rather than ProbeBW cycles."""
    extra_acked_filter_len: int = 10
    """BBR.ExtraAckedFilterLen = 10 rounds (section 2.12); 0 disables the aggregation estimate."""
    extra_acked_max_time: float | None = None
    """Cap BBR.extra_acked at bw * this many seconds (Linux: 100 ms); None: no cap."""
    min_rtt_filter_len: float = 10.0
    """BBR.MinRTTFilterLen = 10 s (section 2.16.1)."""
    probe_rtt_interval: float = 5.0
    """BBR.ProbeRTTInterval = 5 s (section 2.16.2)."""
    probe_rtt_duration: float = 0.2
    """BBR.ProbeRTTDuration = 200 ms (section 2.16.2)."""
    probe_rtt_cwnd_gain: float = 0.5
    """BBR.ProbeRTTCwndGain = 0.5 (section 2.16.2); 0 means MinPipeCwnd alone (BBRv1)."""

    def __post_init__(self) -> None:
        for name in (
            "startup_pacing_gain",
            "startup_cwnd_gain",
            "drain_pacing_gain",
            "drain_cwnd_gain",
            "default_cwnd_gain",
            "probe_bw_down_pacing_gain",
            "probe_bw_cruise_pacing_gain",
            "probe_bw_refill_pacing_gain",
            "probe_bw_up_pacing_gain",
            "probe_bw_up_cwnd_gain",
            "bw_probe_base_wait",
            "send_quantum_time",
            "full_bw_threshold",
            "beta",
            "min_rtt_filter_len",
            "probe_rtt_interval",
            "probe_rtt_duration",
        ):
            positive(name, getattr(self, name))
        non_negative("bw_probe_rand_wait", self.bw_probe_rand_wait)
        non_negative("probe_rtt_cwnd_gain", self.probe_rtt_cwnd_gain)
        fraction("pacing_margin_percent / 100", self.pacing_margin_percent / 100)
        fraction("loss_thresh", self.loss_thresh)
        fraction("headroom", self.headroom)
        if self.beta > 1:
            raise ValueError(f"beta must lie in (0, 1], got {self.beta!r}")
        positive_int("send_quantum_max", self.send_quantum_max)
        positive_int("full_bw_count", self.full_bw_count)
        positive_int("bw_probe_max_rounds", self.bw_probe_max_rounds)
        positive_int("bw_probe_rand_rounds", self.bw_probe_rand_rounds)
        positive_int("min_pipe_cwnd_packets", self.min_pipe_cwnd_packets)
        positive_int("max_bw_filter_len", self.max_bw_filter_len)
        non_negative_int("startup_full_loss_count", self.startup_full_loss_count)
        non_negative_int("extra_acked_filter_len", self.extra_acked_filter_len)
        if self.drain_max_rounds is not None:
            positive_int("drain_max_rounds", self.drain_max_rounds)
        if self.extra_acked_max_time is not None:
            positive("extra_acked_max_time", self.extra_acked_max_time)
        if self.gain_cycle is not None:
            if not self.gain_cycle:
                raise ValueError("gain_cycle must not be empty")
            for gain in self.gain_cycle:
                positive("gain_cycle[i]", gain)

    def with_changes(self, **changes: object) -> BbrProfile:
        """A copy with some constants changed (``dataclasses.replace``), validated again."""
        return replace(self, **changes)  # type: ignore[arg-type]


_DRAFT = BbrProfile()

# Linux BBRv3: google/bbr branch v3, net/ipv4/tcp_bbr.c (Nov 2023), gains in 1/256 units.
_LINUX_V3 = BbrProfile(
    name="linux_v3",
    startup_pacing_gain=_linux_fixed(277, 100, plus=1),  # 710/256 = 2.7734
    startup_cwnd_gain=2.0,
    drain_pacing_gain=_linux_fixed(1000, 2885),  # 88/256 = 0.34375
    drain_cwnd_gain=2.0,
    drain_max_rounds=None,
    probe_bw_down_pacing_gain=_linux_fixed(91, 100),  # 232/256 = 0.90625
    probe_bw_up_cwnd_gain=2.0 + 1 / 4,  # cwnd_gain + bbr_bw_probe_cwnd_gain (1) * BBR_UNIT/4
    loss_thresh=_linux_fixed(2, 100),  # 5/256 = 0.01953
    beta=1.0 - _linux_fixed(30, 100),  # BBR_UNIT - 76: 180/256 = 0.703125
    headroom=_linux_fixed(15, 100),  # 38/256 = 0.1484
    extra_acked_filter_len=5,  # bbr_extra_acked_win_rtts
    extra_acked_max_time=0.1,  # bbr_extra_acked_max_us = 100 ms
)

# BBRv1: draft-cardwell-iccrg-bbr-congestion-control-00 and Linux net/ipv4/tcp_bbr.c (mainline).
_V1_HIGH_GAIN = 2.0 / math.log(2.0)  # 2/ln2 ~= 2.885
_V1 = BbrProfile(
    name="v1",
    startup_pacing_gain=_V1_HIGH_GAIN,
    startup_cwnd_gain=_V1_HIGH_GAIN,
    drain_pacing_gain=1.0 / _V1_HIGH_GAIN,  # ln2/2 ~= 0.347
    drain_cwnd_gain=_V1_HIGH_GAIN,
    drain_max_rounds=None,
    gain_cycle=(1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    full_bw_uses_max_bw=True,
    loss_response=False,
    startup_full_loss_count=0,
    max_bw_filter_len=10,  # BBRBtlBwFilterLen = 10 packet-timed round trips
    max_bw_filter_in_rounds=True,
    extra_acked_filter_len=0,
    probe_rtt_interval=10.0,  # ProbeRTT when the 10 s min_rtt filter expires
    probe_rtt_cwnd_gain=0.0,  # ProbeRTT cwnd = BBRMinPipeCwnd = 4 packets
)

PROFILES: Mapping[str, BbrProfile] = MappingProxyType(
    {"draft": _DRAFT, "linux_v3": _LINUX_V3, "v1": _V1}
)
"""The named profiles: ``"draft"`` (the default), ``"linux_v3"`` and ``"v1"``."""
