"""The BBR congestion controller (draft-ietf-ccwg-bbr-06, with BBRv1 and Linux BBRv3 profiles).

Section numbers in this module are those of draft-ietf-ccwg-bbr-06. The
per-ACK work follows UpdateOnACK() of section 5.2.3 step by step; the hot
path reads the state in ``__slots__`` and calls few helpers.
"""

from __future__ import annotations

from netalgo._validate import non_negative_int, positive
from netalgo.bbr._model import (
    DRAIN,
    INF,
    PROBE_BW_CRUISE,
    PROBE_BW_STATES,
    PROBE_BW_UP,
    PROBE_RTT,
    RTT_RESOLUTION,
    STARTUP,
    BbrModel,
)
from netalgo.bbr._profiles import BbrProfile
from netalgo.protocols import AckSample, LossEvent

__all__ = ["BBR"]


class BBR(BbrModel):
    """BBR congestion control; satisfies :class:`netalgo.protocols.CongestionController`.

    ``profile`` picks the constants: ``"draft"`` (draft-ietf-ccwg-bbr-06,
    the default), ``"linux_v3"`` or ``"v1"``, or any :class:`BbrProfile`.
    Every :meth:`on_ack` needs ``sample.rate`` (a RateSample from
    :class:`netalgo.delivery.DeliveryRateEstimator`); :meth:`on_loss` uses
    ``event.packet`` for the per-loss inflight_longterm check (section 5.5.10.2).

    ``offload_quanta`` sizes BBR.offload_budget in send quanta: 1 for QUIC
    (section 5.5.8.2), 3 for TCP with TSO/GSO (section 5.5.8.1).
    ``has_selective_acks`` is C.has_selective_acks (section 2.2).
    ``rng`` drives the randomised probe timing of section 5.3.3.8 (pass a
    seeded ``random.Random`` for reproducible runs).
    """

    __slots__ = ()

    # ------------------------------------------------------------------ Protocol

    @property
    def cwnd(self) -> int:
        """C.cwnd in bytes."""
        return self._cwnd_bytes

    @property
    def pacing_rate(self) -> float:
        """C.pacing_rate in bytes/s (section 5.6.2)."""
        return self._pacing_rate

    @property
    def state(self) -> str:
        """BBR.state: "Startup", "Drain", "ProbeBW_DOWN" ... "ProbeRTT"."""
        return self._state

    def on_sent(self, now: float, sent_bytes: int, bytes_in_flight: int) -> None:
        """OnTransmit(): HandleRestartFromIdle() (section 5.4.1); also tracks C.is_cwnd_limited."""
        clock = self._clock
        if (
            clock.last <= now < INF
            and type(sent_bytes) is int
            and sent_bytes >= 0
            and type(bytes_in_flight) is int
            and bytes_in_flight >= 0
        ):
            clock.last = now
        else:
            self._check_sent(now, sent_bytes, bytes_in_flight)
        if not self._started:
            self._start(now)
        if bytes_in_flight == sent_bytes and self._delivered > 0 and not self._rto_recovery:
            # Nothing was in flight before this send and the sender was not
            # blocked by cwnd: it was application-limited (C.app_limited).
            self._idle_restart = True
            self._extra_acked_interval_start = now
            self._extra_acked_delivered = 0
            state = self._state
            if state in PROBE_BW_STATES:
                self._set_pacing_rate_with_gain(1.0)
            elif state == PROBE_RTT:
                self._check_probe_rtt_done(now)
        # inflight + 1 packet > C.cwnd; for whole bytes, comparing with int(C.cwnd) is the same.
        if bytes_in_flight + self._mss > self._cwnd_bytes:
            self._cwnd_limited_cur = True

    def _check_sent(self, now: float, sent_bytes: int, bytes_in_flight: int) -> None:
        """The checks of :meth:`on_sent` one by one: raise ``ValueError`` naming the bad one."""
        self._clock.advance(now)
        non_negative_int("sent_bytes", sent_bytes)
        non_negative_int("bytes_in_flight", bytes_in_flight)

    def on_ack(self, sample: AckSample) -> None:
        """UpdateOnACK() (section 5.2.3): update the model, the state machine, then the controls.

        The draft's steps run in its order; the short ones are written out here
        (each under its draft name) so one ACK costs few calls, and the longer
        ones are called only when their guard holds.
        """
        # One unpacking of each NamedTuple reads its fields faster than attribute lookups.
        now, acked, inflight, sent_time, rtt, rs, _ = sample
        if rs is None:
            raise ValueError("sample.rate must be a RateSample: BBR needs delivery-rate samples")
        (rate, rs_app_limited, _, rs_delivered, prior_delivered, _, _, _, tx_in_flight, rs_lost,
         _, rs_newly_lost) = rs  # fmt: skip
        clock = self._clock
        if (
            clock.last <= now < INF
            and type(acked) is int
            and acked >= 0
            and type(inflight) is int
            and inflight >= 0
            and (rtt is None or 0.0 < rtt < INF)
            and 0.0 <= rate < INF
        ):
            clock.last = now
        else:
            self._check_ack(now, acked, inflight, rtt, rate)
        if not self._started:
            self._start(now)
        p = self._profile
        # C.delivered: the controller's own count, kept in step with the estimator's.
        delivered = self._delivered + acked
        if prior_delivered + rs_delivered > delivered:
            delivered = prior_delivered + rs_delivered
        self._delivered = delivered
        # Samples from ProbeRTT count as application-limited (HandleProbeRTT, 5.3.4.3).
        app_limited = rs_app_limited or (
            self._app_limited_lo <= prior_delivered <= self._app_limited_hi
        )
        if self._in_recovery and sent_time > self._recovery_start:
            # Loss recovery ends when a send made after it began is acknowledged (5.6.4.4).
            self._in_recovery = False
            self._rto_recovery = False
            if self._prior_cwnd > self._cwnd:
                self._cwnd = self._prior_cwnd  # RestoreCwnd()
                self._cwnd_bytes = int(self._prior_cwnd)

        # UpdateLatestDeliverySignals() (5.5.10.3).
        if rate > self._bw_latest:
            self._bw_latest = rate
        if rs_delivered > self._inflight_latest:
            self._inflight_latest = rs_delivered
        loss_round_start = prior_delivered >= self._loss_round_delivered  # BBR.loss_round_start
        if loss_round_start:
            self._loss_round_delivered = delivered

        # UpdateCongestionSignals(): UpdateMaxBw() with UpdateRound() (5.5.1, 5.5.5).
        round_start = acked > 0 and prior_delivered >= self._next_round_delivered
        if round_start:
            self._next_round_delivered = delivered
            self._round_count += 1
            self._rounds_since_probe_up += 1
            self._cwnd_limited_prev = self._cwnd_limited_cur
            self._cwnd_limited_cur = False
        self._round_start = round_start
        if rate > 0.0 and (rate >= self._max_bw or not app_limited):
            t = self._round_count if p.max_bw_filter_in_rounds else self._cycle_count
            # rate was checked on entry and t is a counter: the filter's unchecked update.
            self._max_bw = self._max_bw_filter._update(rate, t)
        if loss_round_start:
            # AdaptLowerBoundsFromCongestion(): once per round (5.5.10.3).
            if self._is_loss_in_round and p.loss_response and not self._is_probing_bw():
                if self._bw_shortterm == INF:
                    self._bw_shortterm = self._max_bw
                if self._inflight_shortterm == INF:
                    self._inflight_shortterm = self._cwnd
                beta = p.beta
                self._bw_shortterm = max(self._bw_latest, beta * self._bw_shortterm)
                self._inflight_shortterm = max(
                    self._inflight_latest, beta * self._inflight_shortterm
                )
            self._is_loss_in_round = False

        if p.extra_acked_filter_len:
            # UpdateACKAggregation() (5.5.9).
            if not self._extra_acked_steady and self._full_bw_reached:
                self._widen_extra_acked_filter()
            bw = self._bw
            expected = bw * (now - self._extra_acked_interval_start)
            extra_acked_delivered = self._extra_acked_delivered
            if extra_acked_delivered <= expected:
                extra_acked_delivered = 0
                self._extra_acked_interval_start = now
                expected = 0.0
            extra_acked_delivered += acked
            self._extra_acked_delivered = extra_acked_delivered
            extra = extra_acked_delivered - expected
            if extra > self._cwnd:
                extra = self._cwnd
            max_time = p.extra_acked_max_time
            if max_time is not None and bw * max_time < extra:  # min(extra, bw * max_time)
                extra = bw * max_time
            # extra is finite and the round count grows: the filter's unchecked update.
            self._extra_acked = self._extra_acked_filter._update(extra, self._round_count)
        if round_start and not self._full_bw_now and not app_limited:
            self._check_full_bw_reached(rs)
        if self._state == STARTUP:
            self._check_startup_done(rs)
        if self._state == DRAIN:
            # CheckDrainDone() (5.3.2).
            limit = p.drain_max_rounds
            if inflight <= self._inflight(self._bw, 1.0) or (
                limit is not None and self._round_count > self._drain_start_round + limit
            ):
                self._enter_probe_bw(now)
        if self._full_bw_reached:
            if p.gain_cycle is None:
                self._update_probe_bw_cycle_phase(
                    now, app_limited, inflight, acked, rate, tx_in_flight, rs_lost
                )
            elif self._state in PROBE_BW_STATES:
                self._update_v1_cycle_phase(now, inflight, rs_newly_lost > 0)

        # UpdateMinRTT() (5.3.4.3). A sample must be lower by the clock
        # resolution to count as lower: RTTs that differ only by floating-point
        # noise are equal (Linux keeps whole microseconds).
        # The deadlines (stamp + ProbeRTTInterval, stamp + MinRTTFilterLen) are kept as values.
        # BBR.min_rtt only exceeds BBR.probe_rtt_min_delay just after the latter is set.
        expired = now > self._probe_rtt_expiry  # BBR.probe_rtt_expired
        lower = False  # BBR.probe_rtt_min_delay < BBR.min_rtt
        if rtt is not None and (rtt < self._probe_rtt_min_floor or expired):
            self._probe_rtt_min_delay = rtt
            self._probe_rtt_min_floor = rtt - RTT_RESOLUTION
            self._set_probe_rtt_min_stamp(now)
            lower = rtt < self._min_rtt
        if lower or now > self._min_rtt_expiry:
            self._min_rtt = self._probe_rtt_min_delay
            self._min_rtt_expiry = self._probe_rtt_min_stamp + p.min_rtt_filter_len
        # CheckProbeRTT() (5.3.4.3).
        if expired or self._state == PROBE_RTT:
            self._check_probe_rtt(now, expired, inflight)
        if rs_delivered > 0:
            self._idle_restart = False

        if loss_round_start:
            # AdvanceLatestDeliverySignals() (5.5.10.3).
            self._bw_latest = rate
            self._inflight_latest = rs_delivered
            self._loss_events_in_round = 0
        # BoundBWForModel().
        bw = self._max_bw
        if self._bw_shortterm < bw:
            bw = self._bw_shortterm
        self._bw = bw

        # UpdateControlParameters() (5.6): SetPacingRate(), SetSendQuantum(), then SetCwnd().
        if rtt is not None and not self._has_seen_rtt:
            # InitPacingRate() with the first RTT sample as C.srtt (section 5.6.2).
            self._has_seen_rtt = True
            self._pacing_rate = p.startup_pacing_gain * self._initial_cwnd / rtt
        full_bw_reached = self._full_bw_reached
        state = self._state
        # The pacing rate, the send quantum and BBR.max_inflight are functions of these
        # inputs alone (and of the pacing rate they last set): they are recomputed only
        # when one of them changed, which in ProbeBW is under 1% of ACKs.
        inputs = (
            bw,
            self._pacing_gain,
            self._cwnd_gain,
            self._min_rtt,
            self._extra_acked,
            state,
            full_bw_reached,
            self._pacing_rate,
        )
        if inputs != self._control_inputs:
            self._update_control_parameters(bw, state, full_bw_reached)
        cap = self._max_inflight
        min_pipe_cwnd = self._min_pipe_cwnd
        # SetCwnd() (5.6.4.5).
        cwnd = prior_cwnd = self._cwnd
        if full_bw_reached:
            cwnd += acked
            if cwnd > cap:
                cwnd = cap
        elif cwnd < cap or self._delivered < self._initial_cwnd:
            cwnd += acked
        if cwnd < min_pipe_cwnd:
            cwnd = min_pipe_cwnd
        # BoundCwndForProbeRTT() (5.6.4.6) and BoundCwndForModel() (5.6.4.7).
        if state == PROBE_BW_CRUISE:
            bound = self._inflight_with_headroom
        elif state == PROBE_RTT:
            probe_rtt_cwnd = self._probe_rtt_cwnd()
            if cwnd > probe_rtt_cwnd:
                cwnd = probe_rtt_cwnd
            bound = self._inflight_with_headroom
        elif state in PROBE_BW_STATES:
            bound = self._inflight_longterm
        else:
            bound = INF
        if self._inflight_shortterm < bound:
            bound = self._inflight_shortterm
        if bound < cwnd:
            cwnd = bound if bound > min_pipe_cwnd else float(min_pipe_cwnd)
        self._cwnd = cwnd
        if cwnd != prior_cwnd:  # else int(cwnd) is what _cwnd_bytes holds
            self._cwnd_bytes = int(cwnd)

    def _check_ack(
        self, now: float, acked: int, inflight: int, rtt: float | None, rate: float
    ) -> None:
        """The checks of :meth:`on_ack` one by one: raise ``ValueError`` naming the bad one."""
        self._clock.advance(now)
        non_negative_int("sample.acked_bytes", acked)
        non_negative_int("sample.bytes_in_flight", inflight)
        if rtt is not None:
            positive("sample.rtt", rtt)
        if not 0.0 <= rate < INF:
            raise ValueError(f"sample.rate.delivery_rate must be finite and >= 0, got {rate!r}")

    def _update_control_parameters(self, bw: float, state: str, full_bw_reached: bool) -> None:
        """SetPacingRate(), SetSendQuantum() and BBR.max_inflight for SetCwnd() (section 5.6).

        :meth:`on_ack` calls it when an input changed, and records the inputs it
        saw (the pacing rate as this sets it).
        """
        p = self._profile
        # SetPacingRateWithGain(BBR.pacing_gain) (5.6.2).
        pacing_rate = self._pacing_gain * bw * self._pacing_margin / 100.0
        if full_bw_reached or pacing_rate > self._pacing_rate:
            self._pacing_rate = pacing_rate
        else:
            pacing_rate = self._pacing_rate
        # SetSendQuantum() (5.6.3).
        mss = self._mss
        quantum = pacing_rate * p.send_quantum_time
        if quantum > p.send_quantum_max:
            quantum = float(p.send_quantum_max)
        if quantum < 2 * mss:
            quantum = 2 * mss
        self._send_quantum = quantum
        # BBR.max_inflight is BDPMultiple(BBR.cwnd_gain) + BBR.extra_acked through
        # QuantizationBudget() (5.6.4.2).
        min_rtt = self._min_rtt
        if min_rtt == INF:
            cap = float(self._initial_cwnd)
        else:
            self._bdp = bdp = bw * min_rtt
            cap = self._cwnd_gain * bdp
        cap += self._extra_acked
        offload_budget = self._offload_quanta * quantum
        if offload_budget > cap:
            cap = offload_budget
        min_pipe_cwnd = self._min_pipe_cwnd
        if min_pipe_cwnd > cap:
            cap = min_pipe_cwnd
        if state == PROBE_BW_UP:
            cap += 2 * mss
        self._max_inflight = cap
        self._control_inputs = (
            bw,
            self._pacing_gain,
            self._cwnd_gain,
            min_rtt,
            self._extra_acked,
            state,
            full_bw_reached,
            self._pacing_rate,
        )

    def on_loss(self, event: LossEvent) -> None:
        """HandleLostPacket() (section 5.5.10.2) and the recovery cwnd steps of section 5.6.4.4."""
        now = event.now
        lost_bytes = event.lost_bytes
        inflight = event.bytes_in_flight
        clock = self._clock
        if (
            clock.last <= now < INF
            and type(lost_bytes) is int
            and lost_bytes >= 0
            and type(inflight) is int
            and inflight >= 0
        ):
            clock.last = now
        else:
            self._check_loss(now, lost_bytes, inflight)
        if not self._started:
            self._start(now)
        self._lost += lost_bytes
        if now != self._last_loss_time:
            # Losses marked by one ACK (or one timer) are one loss event (5.3.1.3).
            self._last_loss_time = now
            self._loss_events_in_round += 1
        if event.is_timeout:
            if not self._rto_recovery:
                self._save_cwnd()  # OnEnterRTO()
                self._save_state_upon_loss()
                self._rto_recovery = True
                self._enter_recovery(now)
            cap = float(inflight + self._mss)  # C.cwnd = C.inflight + 1 packet
            if cap < self._cwnd:
                self._cwnd = cap
                self._cwnd_bytes = int(cap)
        elif not self._in_recovery:
            self._save_cwnd()  # OnEnterFastRecovery()
            self._save_state_upon_loss()
            self._enter_recovery(now)
        # NoteLoss().
        if not self._is_loss_in_round:
            self._loss_round_delivered = self._delivered
            self._save_state_upon_loss()
        self._is_loss_in_round = True
        packet = event.packet
        if packet is None or not self._is_bw_probe_sample or not self._profile.loss_response:
            return
        tx_in_flight = packet.tx_in_flight
        lost = self._lost - packet.lost
        if self._is_inflight_too_high(lost, tx_in_flight):
            # InflightAtLoss(P): where, within P, losses crossed BBR.LossThresh.
            thresh = self._profile.loss_thresh
            inflight_prev = tx_in_flight - packet.size
            lost_prev = lost - packet.size
            lost_prefix = (thresh * inflight_prev - lost_prev) / (1.0 - thresh)
            self._handle_inflight_too_high(inflight_prev + lost_prefix, packet.is_app_limited, now)

    def _check_loss(self, now: float, lost_bytes: int, inflight: int) -> None:
        """The checks of :meth:`on_loss` one by one: raise ``ValueError`` naming the bad one."""
        self._clock.advance(now)
        non_negative_int("event.lost_bytes", lost_bytes)
        non_negative_int("event.bytes_in_flight", inflight)

    def on_spurious_loss(self, now: float) -> None:
        """HandleSpuriousLossDetection() (section 5.5.11.2): undo a loss recovery found spurious."""
        now = self._clock.advance(now)
        if self._prior_cwnd > self._cwnd:
            self._cwnd = self._prior_cwnd
            self._cwnd_bytes = int(self._prior_cwnd)
        self._in_recovery = False
        self._rto_recovery = False
        self._is_loss_in_round = False
        self._reset_full_bw()
        self._bw_shortterm = max(self._bw_shortterm, self._undo_bw_shortterm)
        self._inflight_shortterm = max(self._inflight_shortterm, self._undo_inflight_shortterm)
        self._set_inflight_longterm(max(self._inflight_longterm, self._undo_inflight_longterm))
        if self._undo_state == STARTUP and self._state != STARTUP:
            self._full_bw_reached = False
            if self._state != PROBE_RTT:
                self._enter_startup()
        elif self._undo_state == PROBE_BW_UP and self._state not in (PROBE_BW_UP, PROBE_RTT):
            self._start_probe_bw_refill()
        self._undo_state = None

    # ------------------------------------------------------------ model readout

    @property
    def profile(self) -> BbrProfile:
        return self._profile

    @property
    def max_bw(self) -> float:
        """BBR.max_bw, bytes/s (section 5.5.2)."""
        return self._max_bw

    @property
    def bw(self) -> float:
        """BBR.bw = min(max_bw, bw_shortterm), bytes/s."""
        return self._bw

    @property
    def min_rtt(self) -> float:
        """BBR.min_rtt, seconds (``inf`` before the first RTT sample)."""
        return self._min_rtt

    @property
    def bdp(self) -> float:
        """BBR.bdp = BBR.bw * BBR.min_rtt, bytes."""
        return self._bdp

    @property
    def pacing_gain(self) -> float:
        return self._pacing_gain

    @property
    def cwnd_gain(self) -> float:
        return self._cwnd_gain

    @property
    def inflight_longterm(self) -> float:
        """BBR.inflight_longterm ("inflight_hi"), bytes; ``inf`` when unset."""
        return self._inflight_longterm

    @property
    def inflight_shortterm(self) -> float:
        """BBR.inflight_shortterm ("inflight_lo"), bytes; ``inf`` when unset."""
        return self._inflight_shortterm

    @property
    def bw_shortterm(self) -> float:
        """BBR.bw_shortterm ("bw_lo"), bytes/s; ``inf`` when unset."""
        return self._bw_shortterm

    @property
    def extra_acked(self) -> float:
        """BBR.extra_acked, bytes (section 5.5.9)."""
        return self._extra_acked

    @property
    def send_quantum(self) -> float:
        """C.send_quantum, bytes (section 5.6.3)."""
        return self._send_quantum

    @property
    def full_bw_reached(self) -> bool:
        return self._full_bw_reached

    @property
    def full_bw_now(self) -> bool:
        return self._full_bw_now

    @property
    def round_count(self) -> int:
        return self._round_count

    @property
    def cycle_count(self) -> int:
        """BBR.cycle_count, the virtual time of the max_bw filter (section 5.5.6)."""
        return self._cycle_count

    @property
    def probe_rtt_cwnd(self) -> float:
        """ProbeRTTCwnd() (section 5.6.4.5), bytes."""
        return self._probe_rtt_cwnd()
