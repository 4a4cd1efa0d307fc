"""HyStart++ (RFC 9406): slow start that leaves early on a rise in round-trip delay.

:class:`HyStartPlusPlus` is the per-connection state of RFC 9406 section 4.2,
with the tuning constants of section 4.3 as keyword defaults. A loss-based
controller (:class:`netalgo.reno.NewReno`, :class:`netalgo.cubic.Cubic`) owns
``cwnd`` and ``ssthresh``; while its ``cwnd < ssthresh`` it asks this object how
much each ACK may grow the window, and reads :attr:`HyStartPlusPlus.done` to
learn that Conservative Slow Start (CSS) has run its ``CSS_ROUNDS`` rounds, at
which point the controller sets ``ssthresh = cwnd`` (section 4.2) and enters
congestion avoidance.

Rounds (section 4.2): a round ends when the ACK of ``windowEnd`` arrives, where
``windowEnd`` is ``SND.NXT`` when the round began, i.e. the first send after the
round began. The controller has no sequence numbers, only times, so this module
remembers the *send time* of that first send (``on_sent``) and ends the round at
the first ACK whose ``sent_time`` is at or after it. Sends that share the very
same timestamp as ``windowEnd`` but were made before it are indistinguishable;
the sender's clock resolution bounds that error.

Counting CSS rounds: a round is counted towards ``CSS_ROUNDS`` when it ends in
CSS, so the (partial) round in which CSS began counts as the first one.
"""

from __future__ import annotations

import math

from netalgo._validate import positive, positive_int

__all__ = [
    "CSS_GROWTH_DIVISOR",
    "CSS_ROUNDS",
    "MAX_RTT_THRESH",
    "MIN_RTT_DIVISOR",
    "MIN_RTT_THRESH",
    "NON_PACED_L",
    "N_RTT_SAMPLE",
    "HyStartPlusPlus",
]

# RFC 9406 section 4.3, "Tuning Constants and Other Considerations".
MIN_RTT_THRESH = 0.004
"""Lower clamp of the delay-increase threshold ``RttThresh``: 4 ms."""
MAX_RTT_THRESH = 0.016
"""Upper clamp of the delay-increase threshold ``RttThresh``: 16 ms."""
MIN_RTT_DIVISOR = 8
"""``RttThresh`` is ``lastRoundMinRTT / MIN_RTT_DIVISOR`` before clamping."""
N_RTT_SAMPLE = 8
"""RTT samples a round needs before its minimum RTT is trusted."""
CSS_GROWTH_DIVISOR = 4
"""CSS grows the window this many times slower than slow start."""
CSS_ROUNDS = 5
"""Rounds of CSS before entering congestion avoidance."""
NON_PACED_L = 8
"""``L`` for a non-paced sender: the most segments one ACK may grow the window by (paced: inf)."""

_INF = math.inf


class HyStartPlusPlus:
    """HyStart++ state for one connection's initial slow start (RFC 9406 section 4.2).

    ``mss`` is SMSS in bytes; ``paced`` selects ``L`` (8 segments when not paced,
    infinity when paced, section 4.3) unless ``limit_segments`` gives it
    explicitly. All RTTs and thresholds are in seconds.
    """

    __slots__ = (
        "_css_baseline_min_rtt",
        "_css_growth_divisor",
        "_css_rounds",
        "_css_rounds_done",
        "_current_round_min_rtt",
        "_done",
        "_in_css",
        "_last_round_min_rtt",
        "_limit_bytes",
        "_max_rtt_thresh",
        "_min_rtt_divisor",
        "_min_rtt_thresh",
        "_n_rtt_sample",
        "_rtt_sample_count",
        "_window_end_time",
        "mss",
    )

    def __init__(
        self,
        *,
        mss: int = 1460,
        paced: bool = False,
        limit_segments: float | None = None,
        min_rtt_thresh: float = MIN_RTT_THRESH,
        max_rtt_thresh: float = MAX_RTT_THRESH,
        min_rtt_divisor: int = MIN_RTT_DIVISOR,
        n_rtt_sample: int = N_RTT_SAMPLE,
        css_growth_divisor: int = CSS_GROWTH_DIVISOR,
        css_rounds: int = CSS_ROUNDS,
    ) -> None:
        self.mss = positive_int("mss", mss)
        if limit_segments is None:
            limit_segments = _INF if paced else NON_PACED_L
        elif limit_segments != _INF:
            positive("limit_segments", limit_segments)
        self._limit_bytes = limit_segments * mss
        self._min_rtt_thresh = positive("min_rtt_thresh", min_rtt_thresh)
        self._max_rtt_thresh = positive("max_rtt_thresh", max_rtt_thresh)
        if max_rtt_thresh < min_rtt_thresh:
            raise ValueError(
                "max_rtt_thresh must be >= min_rtt_thresh, "
                f"got {max_rtt_thresh!r} < {min_rtt_thresh!r}"
            )
        self._min_rtt_divisor = positive_int("min_rtt_divisor", min_rtt_divisor)
        self._n_rtt_sample = positive_int("n_rtt_sample", n_rtt_sample)
        self._css_growth_divisor = positive_int("css_growth_divisor", css_growth_divisor)
        self._css_rounds = positive_int("css_rounds", css_rounds)
        # Section 4.2 initialisation.
        self._last_round_min_rtt = _INF
        self._current_round_min_rtt = _INF
        self._css_baseline_min_rtt = _INF
        self._rtt_sample_count = 0
        self._window_end_time: float | None = None
        self._in_css = False
        self._css_rounds_done = 0
        self._done = False

    # -- read-only state -------------------------------------------------------------------

    @property
    def in_css(self) -> bool:
        """Whether the connection is in Conservative Slow Start."""
        return self._in_css

    @property
    def done(self) -> bool:
        """Whether HyStart++ has ended (CSS finished, loss, or timeout)."""
        return self._done

    @property
    def limit_bytes(self) -> float:
        """``L * SMSS``: the most one ACK may grow the window in slow start."""
        return self._limit_bytes

    @property
    def last_round_min_rtt(self) -> float:
        """``lastRoundMinRTT`` (``inf`` until a round with samples has ended)."""
        return self._last_round_min_rtt

    @property
    def current_round_min_rtt(self) -> float:
        """``currentRoundMinRTT`` (``inf`` until this round's first sample)."""
        return self._current_round_min_rtt

    @property
    def css_baseline_min_rtt(self) -> float:
        """``cssBaselineMinRtt``: the round minimum that triggered CSS (``inf`` outside CSS)."""
        return self._css_baseline_min_rtt

    @property
    def rtt_sample_count(self) -> int:
        """``rttSampleCount``: RTT samples taken in the current round."""
        return self._rtt_sample_count

    @property
    def css_rounds_done(self) -> int:
        """CSS rounds completed so far."""
        return self._css_rounds_done

    def rtt_thresh(self, last_round_min_rtt: float) -> float:
        """``RttThresh``, section 4.2.

        ``max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH))``.
        """
        return max(
            self._min_rtt_thresh,
            min(last_round_min_rtt / self._min_rtt_divisor, self._max_rtt_thresh),
        )

    # -- events ----------------------------------------------------------------------------

    def on_sent(self, now: float) -> None:
        """A send at ``now``: if no round is open, it is ``windowEnd`` and opens one."""
        if self._window_end_time is None:
            self._window_end_time = now

    def on_ack(self, now: float, acked_bytes: int, sent_time: float, rtt: float | None) -> float:
        """An ACK in slow start or CSS: return how many bytes ``cwnd`` grows by (section 4.2).

        ``acked_bytes`` is N, the newly acknowledged bytes; ``sent_time`` the send
        time of the newest send it acknowledges (ends the round when at or after
        ``windowEnd``); ``rtt`` the RTT sample, or ``None`` if the ACK gives none.
        After the call, :attr:`done` tells the caller to set ``ssthresh = cwnd``.
        """
        if self._done:
            return 0.0
        growth = float(acked_bytes) if acked_bytes < self._limit_bytes else self._limit_bytes
        if rtt is not None:
            if rtt < self._current_round_min_rtt:
                self._current_round_min_rtt = rtt
            self._rtt_sample_count += 1
        if self._in_css:
            growth /= self._css_growth_divisor
            if (
                self._rtt_sample_count >= self._n_rtt_sample
                and self._current_round_min_rtt < self._css_baseline_min_rtt
            ):
                # The exit was spurious: the delay fell back. Resume slow start.
                self._css_baseline_min_rtt = _INF
                self._in_css = False
                self._css_rounds_done = 0
        elif (
            self._rtt_sample_count >= self._n_rtt_sample
            and self._current_round_min_rtt != _INF
            and self._last_round_min_rtt != _INF
        ):
            last = self._last_round_min_rtt
            if self._current_round_min_rtt >= last + self.rtt_thresh(last):
                self._css_baseline_min_rtt = self._current_round_min_rtt
                self._in_css = True
                self._css_rounds_done = 0
        window_end = self._window_end_time
        if window_end is not None and sent_time >= window_end:
            self._end_round()
        return growth

    def on_congestion(self) -> None:
        """Loss, ECN or a timeout in slow start or CSS: HyStart++ ends (section 4.2).

        The controller applies its own reduction; later slow starts use the
        standard algorithm (section 4.3: HyStart++ is for the initial slow start).
        """
        self._done = True
        self._in_css = False

    def _end_round(self) -> None:
        if self._in_css:
            self._css_rounds_done += 1
            if self._css_rounds_done >= self._css_rounds:
                # "If CSS_ROUNDS rounds are complete, enter congestion avoidance."
                self._done = True
                self._in_css = False
        # Start of the next round.
        self._last_round_min_rtt = self._current_round_min_rtt
        self._current_round_min_rtt = _INF
        self._rtt_sample_count = 0
        self._window_end_time = None
