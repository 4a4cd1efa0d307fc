"""BBR's state and its path-model and state-machine steps (draft-ietf-ccwg-bbr-06).

Section numbers are those of draft-ietf-ccwg-bbr-06. :class:`netalgo.bbr.BBR`
adds the per-event entry points on top of this state; the split only keeps
each module to one job (the state is in ``__slots__`` here, so the hot path
reads it as fast as if it were one class).
"""

from __future__ import annotations

import math
import random

from netalgo._validate import Clock, non_negative_int, positive_int
from netalgo.bbr._profiles import PROFILES, BbrProfile
from netalgo.filters import WindowedMaxFilter
from netalgo.protocols import RateSample

__all__ = ["BbrModel"]

INF = math.inf
RTT_RESOLUTION = 1e-6
"""Seconds: RTT samples closer than this are equal (Linux's tcp_mstamp counts microseconds)."""

# BBR.state (section 5.1.1), held as the name the public ``state`` reports: reading
# it costs no lookup, and comparing the interned names is an identity check.
STARTUP = "Startup"
DRAIN = "Drain"
PROBE_BW_DOWN = "ProbeBW_DOWN"
PROBE_BW_CRUISE = "ProbeBW_CRUISE"
PROBE_BW_REFILL = "ProbeBW_REFILL"
PROBE_BW_UP = "ProbeBW_UP"
PROBE_RTT = "ProbeRTT"
PROBE_BW_STATES = frozenset((PROBE_BW_DOWN, PROBE_BW_CRUISE, PROBE_BW_REFILL, PROBE_BW_UP))
# BBR.ack_phase (section 2.14).
_ACKS_INIT, _ACKS_REFILLING, _ACKS_PROBE_STARTING, _ACKS_PROBE_FEEDBACK, _ACKS_PROBE_STOPPING = (
    range(5)
)


class BbrModel:
    """BBR's state (OnInit(), section 5.2.1) and the draft's helper steps."""

    __slots__ = (
        "_ack_phase",
        "_app_limited_hi",
        "_app_limited_lo",
        "_bdp",
        "_bw",
        "_bw_latest",
        "_bw_probe_due",
        "_bw_probe_up_acked",
        "_bw_probe_up_rounds",
        "_bw_probe_wait",
        "_bw_shortterm",
        "_clock",
        "_control_inputs",
        "_cwnd",
        "_cwnd_bytes",
        "_cwnd_gain",
        "_cwnd_limited_cur",
        "_cwnd_limited_prev",
        "_cycle_count",
        "_cycle_idx",
        "_cycle_stamp",
        "_delivered",
        "_drain_start_round",
        "_extra_acked",
        "_extra_acked_delivered",
        "_extra_acked_filter",
        "_extra_acked_interval_start",
        "_extra_acked_steady",
        "_full_bw",
        "_full_bw_count",
        "_full_bw_now",
        "_full_bw_reached",
        "_has_seen_rtt",
        "_has_selective_acks",
        "_idle_restart",
        "_in_recovery",
        "_inflight_latest",
        "_inflight_longterm",
        "_inflight_shortterm",
        "_inflight_with_headroom",
        "_initial_cwnd",
        "_is_bw_probe_sample",
        "_is_loss_in_round",
        "_last_loss_time",
        "_loss_events_in_round",
        "_loss_round_delivered",
        "_lost",
        "_max_bw",
        "_max_bw_filter",
        "_max_inflight",
        "_min_pipe_cwnd",
        "_min_rtt",
        "_min_rtt_expiry",
        "_mss",
        "_next_round_delivered",
        "_offload_quanta",
        "_pacing_gain",
        "_pacing_margin",
        "_pacing_rate",
        "_prev_probe_precautionary",
        "_prev_probe_too_high",
        "_prior_cwnd",
        "_probe_rtt_done_stamp",
        "_probe_rtt_expiry",
        "_probe_rtt_min_delay",
        "_probe_rtt_min_floor",
        "_probe_rtt_min_stamp",
        "_probe_rtt_round_done",
        "_probe_up_acked_per_inc",
        "_profile",
        "_recovery_round",
        "_recovery_start",
        "_rng",
        "_round_count",
        "_round_start",
        "_rounds_since_probe_up",
        "_rto_recovery",
        "_send_quantum",
        "_started",
        "_state",
        "_undo_bw_shortterm",
        "_undo_inflight_longterm",
        "_undo_inflight_shortterm",
        "_undo_state",
    )

    def __init__(
        self,
        *,
        mss: int = 1460,
        profile: BbrProfile | str = "draft",
        initial_window: int | None = None,
        offload_quanta: int = 1,
        has_selective_acks: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self._mss = positive_int("mss", mss)
        if isinstance(profile, str):
            if profile not in PROFILES:
                raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
            profile = PROFILES[profile]
        elif not isinstance(profile, BbrProfile):
            raise ValueError(f"profile must be a BbrProfile or a name, got {profile!r}")
        self._profile = p = profile
        if initial_window is None:
            # RFC 6928 section 2: min(10*MSS, max(2*MSS, 14600)).
            initial_window = min(10 * mss, max(2 * mss, 14600))
        self._initial_cwnd = positive_int("initial_window", initial_window)
        self._offload_quanta = non_negative_int("offload_quanta", offload_quanta)
        self._has_selective_acks = bool(has_selective_acks)
        self._rng = rng if rng is not None else random.Random()
        self._min_pipe_cwnd = p.min_pipe_cwnd_packets * mss
        self._pacing_margin = 100.0 - p.pacing_margin_percent  # SetPacingRateWithGain()'s factor
        self._clock = Clock()
        self._started = False
        self._has_seen_rtt = False
        # OnInit() (section 5.2.1); the stamps are set by the first event's `now`.
        window = p.max_bw_filter_len if p.max_bw_filter_in_rounds else p.max_bw_filter_len - 1
        # draft: "the current cycle and the previous full cycle"; the filter
        # expires a sample once `t - t_sample > window`, so 2 cycles is window 1.
        self._max_bw_filter = WindowedMaxFilter(max(window, 1))
        self._max_bw = 0.0
        self._bw = 0.0
        self._bdp = 0.0
        self._min_rtt = INF
        self._probe_rtt_min_delay = INF
        self._probe_rtt_min_floor = INF  # BBR.probe_rtt_min_delay - RTT_RESOLUTION
        # BBR.min_rtt_stamp + MinRTTFilterLen, and BBR.probe_rtt_min_stamp + ProbeRTTInterval
        # (section 5.3.4.3): the deadlines UpdateMinRTT() checks on every ACK, kept as values.
        self._min_rtt_expiry = p.min_rtt_filter_len
        self._set_probe_rtt_min_stamp(0.0)
        self._probe_rtt_done_stamp = 0.0
        self._probe_rtt_round_done = False
        self._prior_cwnd = 0.0
        self._undo_state: str | None = None
        self._undo_bw_shortterm = 0.0
        self._undo_inflight_shortterm = 0.0
        self._undo_inflight_longterm = 0.0
        self._idle_restart = False
        self._extra_acked_interval_start = 0.0
        self._extra_acked_delivered = 0
        self._extra_acked_filter = WindowedMaxFilter(1)  # 1 round while in Startup (5.5.9)
        self._extra_acked_steady = False
        self._extra_acked = 0.0
        self._full_bw_reached = False
        self._set_inflight_longterm(INF)
        self._probe_up_acked_per_inc = INF
        self._bw_probe_up_acked = 0
        self._bw_probe_up_rounds = 0
        self._rounds_since_probe_up = 0
        self._is_bw_probe_sample = False
        self._prev_probe_too_high = False
        self._prev_probe_precautionary = False
        self._ack_phase = _ACKS_INIT
        self._cycle_stamp = 0.0
        self._cycle_count = 0
        self._cycle_idx = 0
        self._bw_probe_wait = 0.0
        self._bw_probe_due = 0.0  # BBR.cycle_stamp + BBR.bw_probe_wait (section 5.3.3.8.3)
        self._drain_start_round = 0
        # Connection state the controller keeps itself (C.delivered, C.lost, C.cwnd).
        self._delivered = 0
        self._lost = 0
        self._cwnd = float(self._initial_cwnd)
        # int(C.cwnd), what the public cwnd reports: every write of _cwnd writes it too.
        self._cwnd_bytes = self._initial_cwnd
        self._cwnd_limited_cur = False
        self._cwnd_limited_prev = False
        self._in_recovery = False
        self._rto_recovery = False
        self._recovery_start = 0.0
        self._recovery_round = 0
        self._loss_events_in_round = 0
        self._last_loss_time = -INF
        self._app_limited_lo = 1
        self._app_limited_hi = 0
        self._max_inflight = float(self._initial_cwnd)
        self._loss_round_delivered = 0
        self._is_loss_in_round = False
        self._bw_latest = 0.0
        self._inflight_latest = 0
        self._bw_shortterm = INF
        self._inflight_shortterm = INF
        # InitRoundCounting(), ResetFullBW(), InitPacingRate(), EnterStartup().
        self._next_round_delivered = 0
        self._round_start = False
        self._round_count = 0
        self._full_bw = 0.0
        self._full_bw_count = 0
        self._full_bw_now = False
        # InitPacingRate (section 5.6.2): no RTT yet, so a nominal 1 ms.
        self._pacing_rate = p.startup_pacing_gain * self._initial_cwnd / 0.001
        self._send_quantum = 2.0 * mss
        self._state = STARTUP
        self._pacing_gain = p.startup_pacing_gain
        self._cwnd_gain = p.startup_cwnd_gain
        # What the pacing rate, send quantum and max_inflight were last computed from.
        self._control_inputs: tuple[object, ...] | None = None

    # ----------------------------------------------------------------- helpers

    def _probe_rtt_cwnd(self) -> float:
        """ProbeRTTCwnd() (section 5.6.4.5)."""
        return max(self._bdp_multiple(self._profile.probe_rtt_cwnd_gain), self._min_pipe_cwnd)

    def _start(self, now: float) -> None:
        self._started = True
        self._min_rtt_expiry = now + self._profile.min_rtt_filter_len
        self._set_probe_rtt_min_stamp(now)
        self._extra_acked_interval_start = now

    def _set_probe_rtt_min_stamp(self, now: float) -> None:
        """Set BBR.probe_rtt_min_stamp, and the time it expires (section 5.3.4.3)."""
        self._probe_rtt_min_stamp = now
        self._probe_rtt_expiry = now + self._profile.probe_rtt_interval

    def _is_probing_bw(self) -> bool:
        state = self._state
        return state in (STARTUP, PROBE_BW_REFILL, PROBE_BW_UP)

    def _is_inflight_too_high(self, lost: int, tx_in_flight: int) -> bool:
        """IsInflightTooHigh() (section 5.5.10.2)."""
        if not self._has_selective_acks:
            return lost > 0
        return lost > tx_in_flight * self._profile.loss_thresh

    def _handle_inflight_too_high(self, tx_in_flight: float, app_limited: bool, now: float) -> None:
        """HandleInflightTooHigh() (section 5.5.10.2)."""
        self._prev_probe_too_high = True
        self._is_bw_probe_sample = False
        if not app_limited:
            target = min(self._bdp, self._cwnd)  # TargetInflight()
            self._set_inflight_longterm(max(tx_in_flight, target * self._profile.beta))
        if self._state == PROBE_BW_UP:
            self._undo_state = PROBE_BW_UP
            self._start_probe_bw_down(now)

    def _reset_congestion_signals(self) -> None:
        self._is_loss_in_round = False
        self._bw_latest = 0.0
        self._inflight_latest = 0

    def _reset_full_bw(self) -> None:
        self._full_bw = 0.0
        self._full_bw_count = 0
        self._full_bw_now = False

    def _enter_recovery(self, now: float) -> None:
        self._in_recovery = True
        self._recovery_start = now
        self._recovery_round = self._round_count

    def _save_cwnd(self) -> None:
        """SaveCwnd() (section 5.6.4.4)."""
        if (not self._in_recovery and self._state != PROBE_RTT) or self._cwnd > self._prior_cwnd:
            self._prior_cwnd = self._cwnd

    def _save_state_upon_loss(self) -> None:
        """SaveStateUponLoss() (section 5.5.11.1)."""
        self._save_cwnd()
        self._undo_state = None
        self._undo_bw_shortterm = self._bw_shortterm
        self._undo_inflight_shortterm = self._inflight_shortterm
        self._undo_inflight_longterm = self._inflight_longterm

    def _set_pacing_rate_with_gain(self, gain: float) -> None:
        """SetPacingRateWithGain() (section 5.6.2)."""
        rate = gain * self._bw * self._pacing_margin / 100.0
        if self._full_bw_reached or rate > self._pacing_rate:
            self._pacing_rate = rate

    def _bdp_multiple(self, gain: float) -> float:
        """BDPMultiple() (section 5.6.4.2): also refreshes BBR.bdp."""
        if self._min_rtt == INF:
            return float(self._initial_cwnd)
        self._bdp = self._bw * self._min_rtt
        return gain * self._bdp

    def _quantization_budget(self, inflight_cap: float) -> float:
        """QuantizationBudget() (section 5.6.4.2)."""
        offload_budget = self._offload_quanta * self._send_quantum
        if offload_budget > inflight_cap:
            inflight_cap = offload_budget
        if self._min_pipe_cwnd > inflight_cap:
            inflight_cap = self._min_pipe_cwnd
        if self._state == PROBE_BW_UP:
            inflight_cap += 2 * self._mss
        return inflight_cap

    def _inflight(self, bw: float, gain: float) -> float:
        """Inflight(bw, gain) (section 5.6.4.2) for a given bandwidth."""
        min_rtt = self._min_rtt
        cap = float(self._initial_cwnd) if min_rtt == INF else gain * bw * min_rtt
        return self._quantization_budget(cap)

    def _set_inflight_longterm(self, inflight_longterm: float) -> None:
        """Set BBR.inflight_longterm, and InflightWithHeadroom() (section 5.3.3.9) with it.

        InflightWithHeadroom() depends on nothing else that changes, and
        SetCwnd() reads it on every ACK in ProbeBW_CRUISE, so it is kept as a value.
        """
        self._inflight_longterm = inflight_longterm
        if inflight_longterm == INF:
            self._inflight_with_headroom = INF
            return
        headroom = max(self._mss, self._profile.headroom * inflight_longterm)
        self._inflight_with_headroom = max(inflight_longterm - headroom, self._min_pipe_cwnd)

    def _widen_extra_acked_filter(self) -> None:
        """Leaving Startup: widen the extra_acked window to ExtraAckedFilterLen rounds (5.5.9)."""
        self._extra_acked_steady = True
        current = self._extra_acked_filter.get() or 0.0
        self._extra_acked_filter = WindowedMaxFilter(self._profile.extra_acked_filter_len)
        self._extra_acked_filter.reset(current, self._round_count)

    def _check_full_bw_reached(self, rs: RateSample) -> None:
        """CheckFullBWReached() (section 5.3.1.2).

        The caller checks the draft's guard: a round start, not BBR.full_bw_now,
        and a sample that is not application-limited.
        """
        p = self._profile
        sample = self._max_bw if p.full_bw_uses_max_bw else rs.delivery_rate
        if sample >= self._full_bw * p.full_bw_threshold:
            self._reset_full_bw()
            self._full_bw = sample
            return
        self._full_bw_count += 1
        if self._full_bw_count >= p.full_bw_count:
            self._full_bw_now = True
            self._full_bw_reached = True

    def _check_startup_done(self, rs: RateSample) -> None:
        """CheckStartupDone() with CheckStartupHighLoss() (5.3.1.1, 5.3.1.3), in Startup."""
        p = self._profile
        if (
            not self._full_bw_reached
            and p.loss_response
            and p.startup_full_loss_count
            and self._in_recovery
            and self._round_count > self._recovery_round
        ):
            if self._has_selective_acks:
                high_loss = self._loss_events_in_round >= p.startup_full_loss_count and (
                    rs.lost > rs.tx_in_flight * p.loss_thresh
                )
            else:
                high_loss = rs.lost > 0
            if high_loss:
                self._undo_state = STARTUP
                self._full_bw_reached = True
                self._full_bw_now = True
                self._bdp_multiple(1.0)
                self._set_inflight_longterm(max(self._bdp, float(self._inflight_latest)))
        if self._full_bw_reached:
            self._state = DRAIN  # EnterDrain() (5.3.2)
            self._pacing_gain = p.drain_pacing_gain
            self._cwnd_gain = p.drain_cwnd_gain
            self._drain_start_round = self._round_count

    def _enter_startup(self) -> None:
        p = self._profile
        self._state = STARTUP
        self._pacing_gain = p.startup_pacing_gain
        self._cwnd_gain = p.startup_cwnd_gain

    def _enter_probe_bw(self, now: float) -> None:
        """EnterProbeBW() (section 5.3.3.9); BBRv1 starts at a random gain-cycle phase."""
        p = self._profile
        self._cwnd_gain = p.default_cwnd_gain
        if p.gain_cycle is None:
            self._start_probe_bw_down(now)
            return
        # BBRv1 (Linux bbr_reset_probe_bw_mode): any phase but the one that drains.
        length = len(p.gain_cycle)
        self._cycle_idx = (length - 1 - self._rng.randrange(length - 1) + 1) % length
        self._set_v1_phase(now)

    def _set_v1_phase(self, now: float) -> None:
        gains = self._profile.gain_cycle
        assert gains is not None
        gain = gains[self._cycle_idx]
        self._pacing_gain = gain
        self._cycle_stamp = now
        if gain > 1.0:
            self._state = PROBE_BW_UP
        elif gain < 1.0:
            self._state = PROBE_BW_DOWN
        else:
            self._state = PROBE_BW_CRUISE

    def _update_v1_cycle_phase(self, now: float, inflight: int, losses: bool) -> None:
        """BBRv1 gain cycling (draft-cardwell-iccrg-bbr-congestion-control-00 section 4.3.4.3)."""
        gain = self._pacing_gain
        is_full_length = now - self._cycle_stamp > self._min_rtt
        if gain > 1.0:
            advance = is_full_length and (losses or inflight >= self._inflight(self._max_bw, gain))
        elif gain < 1.0:
            advance = is_full_length or inflight <= self._inflight(self._max_bw, 1.0)
        else:
            advance = is_full_length
        if advance:
            gains = self._profile.gain_cycle
            assert gains is not None
            self._cycle_idx = (self._cycle_idx + 1) % len(gains)
            self._set_v1_phase(now)

    def _start_round(self) -> None:
        self._next_round_delivered = self._delivered

    def _pick_probe_wait(self) -> None:
        """PickProbeWait() (section 5.3.3.8.3)."""
        p = self._profile
        self._rounds_since_probe_up = self._rng.randrange(p.bw_probe_rand_rounds)
        self._bw_probe_wait = p.bw_probe_base_wait + self._rng.random() * p.bw_probe_rand_wait

    def _start_probe_bw_down(self, now: float) -> None:
        self._reset_congestion_signals()
        self._probe_up_acked_per_inc = INF
        self._pick_probe_wait()
        self._cycle_stamp = now
        self._bw_probe_due = now + self._bw_probe_wait
        self._ack_phase = _ACKS_PROBE_STOPPING
        self._start_round()
        self._state = PROBE_BW_DOWN
        self._pacing_gain = self._profile.probe_bw_down_pacing_gain
        self._cwnd_gain = self._profile.default_cwnd_gain

    def _start_probe_bw_cruise(self) -> None:
        self._state = PROBE_BW_CRUISE
        self._pacing_gain = self._profile.probe_bw_cruise_pacing_gain
        self._cwnd_gain = self._profile.default_cwnd_gain

    def _start_probe_bw_refill(self) -> None:
        self._bw_shortterm = INF  # ResetShortTermModel()
        self._inflight_shortterm = INF
        self._bw_probe_up_rounds = 0
        self._bw_probe_up_acked = 0
        self._prev_probe_precautionary = False
        self._ack_phase = _ACKS_REFILLING
        self._start_round()
        self._state = PROBE_BW_REFILL
        self._pacing_gain = self._profile.probe_bw_refill_pacing_gain
        self._cwnd_gain = self._profile.default_cwnd_gain

    def _start_probe_bw_up(self, rs_rate: float) -> None:
        self._ack_phase = _ACKS_PROBE_STARTING
        self._start_round()
        self._reset_full_bw()
        self._full_bw = rs_rate
        self._state = PROBE_BW_UP
        self._pacing_gain = self._profile.probe_bw_up_pacing_gain
        self._cwnd_gain = self._profile.probe_bw_up_cwnd_gain
        self._raise_inflight_longterm_slope()

    def _raise_inflight_longterm_slope(self) -> None:
        growth_this_round = 1 << self._bw_probe_up_rounds
        self._bw_probe_up_rounds = min(self._bw_probe_up_rounds + 1, 30)
        self._probe_up_acked_per_inc = max(self._cwnd / growth_this_round, float(self._mss))

    def _update_probe_bw_cycle_phase(
        self,
        now: float,
        app_limited: bool,
        inflight: int,
        acked: int,
        rate: float,
        tx_in_flight: int,
        lost: int,
    ) -> None:
        """UpdateProbeBWCyclePhase() with AdaptLongTermModel() (section 5.3.3.9).

        The ACK's newly acknowledged bytes (RS.newly_acked) and the rate sample's
        fields it reads come as arguments: RS.delivery_rate, RS.tx_in_flight, RS.lost.
        """
        state = self._state
        in_probe_bw = state in PROBE_BW_STATES
        # AdaptLongTermModel().
        if self._round_start:
            if self._ack_phase == _ACKS_PROBE_STARTING:
                self._ack_phase = _ACKS_PROBE_FEEDBACK
            elif self._ack_phase == _ACKS_PROBE_STOPPING:
                self._is_bw_probe_sample = False
                self._ack_phase = _ACKS_INIT
                if in_probe_bw and not app_limited:
                    self._cycle_count += 1  # AdvanceMaxBwFilter()
                if in_probe_bw and self._prev_probe_precautionary and not self._prev_probe_too_high:
                    self._start_probe_bw_refill()
                    return
        longterm = self._inflight_longterm
        if longterm != INF and self._profile.loss_response:
            # IsInflightTooHigh() (5.5.10.2).
            if self._has_selective_acks:
                too_high = lost > tx_in_flight * self._profile.loss_thresh
            else:
                too_high = lost > 0
            if not too_high:
                # The loss rate is safe: raise the upper bound towards what was sent.
                if tx_in_flight > longterm:
                    self._set_inflight_longterm(tx_in_flight)
                if state == PROBE_BW_UP:
                    self._probe_inflight_longterm_upward(acked)
        if not in_probe_bw:
            return
        if state in (PROBE_BW_DOWN, PROBE_BW_CRUISE):
            # IsTimeToProbeBW() with IsRenoCoexistenceProbeTime() (section 5.3.3.8.3), on
            # every ACK in DOWN and CRUISE: written out here rather than called.
            if now > self._bw_probe_due:
                self._start_probe_bw_refill()
                return
            # rounds >= min(BBRBwProbeMaxRounds, reno_rounds), where reno_rounds is
            # TargetInflight() = min(BBR.bdp, C.cwnd) in whole packets as Linux counts it,
            # int(target / mss); for a whole number of rounds, rounds >= int(q) is q < rounds + 1.
            bdp = self._bdp
            cwnd = self._cwnd
            rounds = self._rounds_since_probe_up
            if (
                rounds >= self._profile.bw_probe_max_rounds
                or (cwnd if cwnd < bdp else bdp) / self._mss < rounds + 1
            ):
                self._start_probe_bw_refill()
                return
            # IsTimeToCruise().
            if (
                state == PROBE_BW_DOWN
                and inflight <= self._inflight_with_headroom
                and inflight <= self._inflight(self._max_bw, 1.0)
            ):
                self._start_probe_bw_cruise()
        elif state == PROBE_BW_REFILL:
            if self._round_start:
                self._is_bw_probe_sample = True
                self._start_probe_bw_up(rate)
        elif self._is_time_to_go_down(inflight, rate):
            self._prev_probe_too_high = False
            self._start_probe_bw_down(now)

    def _is_time_to_go_down(self, inflight: int, rs_rate: float) -> bool:
        """IsTimeToGoDown() (section 5.3.3.9)."""
        if self._prev_probe_too_high and inflight >= self._inflight_longterm:
            self._prev_probe_precautionary = True
            return True
        is_cwnd_limited = self._cwnd_limited_cur or self._cwnd_limited_prev
        if is_cwnd_limited and self._cwnd >= self._inflight_longterm:
            self._reset_full_bw()
            self._full_bw = rs_rate
        elif self._full_bw_now:
            return True
        return False

    def _probe_inflight_longterm_upward(self, newly_acked: int) -> None:
        """ProbeInflightLongtermUpward() (section 5.3.3.9)."""
        is_cwnd_limited = self._cwnd_limited_cur or self._cwnd_limited_prev
        if not is_cwnd_limited or self._cwnd < self._inflight_longterm:
            return
        self._bw_probe_up_acked += newly_acked  # RS.newly_acked
        per_inc = self._probe_up_acked_per_inc
        if self._bw_probe_up_acked >= per_inc:
            delta = int(self._bw_probe_up_acked // per_inc)
            self._bw_probe_up_acked -= int(delta * per_inc)
            self._set_inflight_longterm(self._inflight_longterm + delta * self._mss)
        if self._round_start:
            self._raise_inflight_longterm_slope()

    def _check_probe_rtt(self, now: float, expired: bool, inflight: int) -> None:
        """CheckProbeRTT() and HandleProbeRTT() (section 5.3.4.3), when BBR.probe_rtt_expired
        or in ProbeRTT; the caller then clears BBR.idle_restart on a delivery."""
        if self._state != PROBE_RTT and expired and not self._idle_restart:
            self._state = PROBE_RTT  # EnterProbeRTT()
            self._pacing_gain = 1.0
            self._cwnd_gain = self._profile.probe_rtt_cwnd_gain
            self._save_cwnd()
            self._probe_rtt_done_stamp = 0.0
            self._ack_phase = _ACKS_PROBE_STOPPING
            self._start_round()
            self._app_limited_lo = self._delivered
        if self._state == PROBE_RTT:
            # MarkConnectionAppLimited(): samples of sends from now on are app-limited.
            self._app_limited_hi = self._delivered + inflight
            if self._probe_rtt_done_stamp == 0.0 and inflight <= self._probe_rtt_cwnd():
                self._probe_rtt_done_stamp = now + self._profile.probe_rtt_duration
                self._probe_rtt_round_done = False
                self._start_round()
            elif self._probe_rtt_done_stamp != 0.0:
                if self._round_start:
                    self._probe_rtt_round_done = True
                if self._probe_rtt_round_done:
                    self._check_probe_rtt_done(now)

    def _check_probe_rtt_done(self, now: float) -> None:
        """CheckProbeRTTDone() and ExitProbeRTT() (sections 5.3.4.3, 5.3.4.4)."""
        if self._probe_rtt_done_stamp == 0.0 or now <= self._probe_rtt_done_stamp:
            return
        self._set_probe_rtt_min_stamp(now)
        if self._prior_cwnd > self._cwnd:
            self._cwnd = self._prior_cwnd  # RestoreCwnd()
            self._cwnd_bytes = int(self._prior_cwnd)
        self._bw_shortterm = INF  # ResetShortTermModel()
        self._inflight_shortterm = INF
        if not self._full_bw_reached:
            self._enter_startup()
        elif self._profile.gain_cycle is not None:
            self._enter_probe_bw(now)
        else:
            self._start_probe_bw_down(now)
            self._start_probe_bw_cruise()
