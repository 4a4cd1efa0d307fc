"""CUBIC congestion control (RFC 9438), on the NewReno machinery of :mod:`netalgo.reno`.

What comes from where:

* Window increase (section 4.2): ``W_cubic(t) = C * (t - K)^3 + W_max`` with
  ``K = cbrt((W_max - cwnd_epoch) / C)``, which is ``cbrt(W_max * (1 - beta) / C)``
  right after a plain reduction. ``t`` runs from ``t_epoch``, the first ACK of the
  congestion avoidance stage (after recovery ends). Each new ACK computes
  ``target = W_cubic(t + RTT)`` bounded to ``[cwnd, 1.5 * cwnd]`` with RTT the
  smoothed RTT, and (sections 4.4 concave, 4.5 convex) grows ``cwnd`` by
  ``(target - cwnd) / cwnd`` per segment acknowledged.
* Reno-friendly region (section 4.3): ``W_est`` starts at ``cwnd_epoch`` and grows
  by ``alpha_cubic * segments_acked / cwnd`` per ACK, ``alpha_cubic = 3 * (1 -
  beta) / (1 + beta)``, and by 1 instead once ``W_est >= cwnd_prior``. When
  ``W_cubic(t) < W_est`` the window follows ``W_est``; we never *lower* cwnd to
  ``W_est`` on an ACK (section 4.2's bounds keep the increase non-negative).
* Multiplicative decrease (section 4.6): ``ssthresh = flight_size * beta``,
  ``cwnd_prior = cwnd``, ``cwnd = max(ssthresh, 2)``, ``ssthresh = max(ssthresh, 2)``.
  Fast convergence (section 4.7): ``W_max = cwnd * (1 + beta) / 2`` when
  ``cwnd < W_max``, else ``W_max = cwnd``.
* ECN (section 4.6, RFC 3168 section 6.1.2): an ACK with ``ce_marked`` set is a
  congestion event and gets the same multiplicative decrease with ``beta_cubic``
  (NewReno's once-per-window rule). RFC 8511's gentler ``beta_ecn`` (ABE) is an
  Experimental alternative this module does not take.
* Timeout (section 4.8): ``ssthresh`` as in 4.6, ``cwnd`` to one SMSS as Reno
  does (RFC 5681 LW); the first congestion avoidance stage afterwards uses
  ``K = 0``, ``W_max = W_est = cwnd_epoch``.
* Spurious congestion events (section 4.9): the state before each reduction is
  saved; :meth:`Cubic.undo_congestion_event` restores it when the caller's
  detector (DSACK, F-RTO, Eifel) proves the event spurious and ``cwnd <
  prior_cwnd``. Detection itself is the sender's job, not the controller's.
* Slow start (section 4.10): RFC 5681 slow start, or HyStart++ (RFC 9406) with
  ``hystart=True``; when HyStart++ exits without loss, ``cwnd_prior = cwnd`` and
  the stage starts with ``K = 0`` and ``W_max = cwnd_epoch``.
* Application-limited flows (section 5.8): an ACK that arrives while the flight
  did not fill ``cwnd`` grows neither ``cwnd`` nor ``W_est``, and the time since
  the previous ACK is taken out of ``t`` (``t_epoch`` moves forward), as is an idle
  period before a send that finds nothing in flight.
* One reduction per recovery episode, and recovery itself, are NewReno's
  (RFC 6582; RFC 9438 section 4.2 leaves fast recovery unchanged).

Units: the API is in bytes; the RFC's window quantities (``W_max``, ``W_est``,
``cwnd_epoch``, ``cwnd_prior``, ``target``) are kept in segments of ``mss`` bytes
as floats, and ``C`` is in segments per second cubed, exactly as the RFC counts.
"""

from __future__ import annotations

import math

from netalgo._validate import fraction, positive
from netalgo.reno import ABC_LIMIT, NewReno

__all__ = ["BETA_CUBIC", "C", "Cubic", "alpha_cubic"]

C = 0.4
"""RFC 9438 section 5.1: ``C`` (segments / second^3) SHOULD be 0.4."""
BETA_CUBIC = 0.7
"""RFC 9438 section 4.6: ``beta_cubic`` SHOULD be 0.7."""


def alpha_cubic(beta: float) -> float:
    """RFC 9438 section 4.3: ``alpha_cubic = 3 * (1 - beta) / (1 + beta)`` (0.5294... at 0.7)."""
    return 3 * (1 - beta) / (1 + beta)


class Cubic(NewReno):
    """RFC 9438 CUBIC; satisfies ``CongestionController``.

    ``fast_convergence`` follows section 4.7 (RFC: SHOULD be on with competing
    flows, SHOULD be off for a lone flow). Window properties ending in ``_segments``
    or named after RFC variables are in segments.
    """

    __slots__ = (
        "_alpha_cubic",
        "_beta",
        "_c",
        "_cwnd_epoch",
        "_cwnd_prior",
        "_epoch_clock",
        "_fast_convergence",
        "_k",
        "_prior",
        "_t_epoch",
        "_w_est",
        "_w_max",
        "_w_max_known",
    )

    def __init__(
        self,
        *,
        mss: int = 1460,
        initial_window: int | None = None,
        initial_ssthresh: int | None = None,
        c: float = C,
        beta: float = BETA_CUBIC,
        fast_convergence: bool = True,
        hystart: bool = False,
        paced: bool = False,
        abc_limit: float = ABC_LIMIT,
        grow_when_app_limited: bool = False,
    ) -> None:
        super().__init__(
            mss=mss,
            initial_window=initial_window,
            initial_ssthresh=initial_ssthresh,
            hystart=hystart,
            paced=paced,
            abc_limit=abc_limit,
            grow_when_app_limited=grow_when_app_limited,
        )
        self._c = positive("c", c)
        self._beta = fraction("beta", positive("beta", beta))
        self._alpha_cubic = alpha_cubic(beta)
        self._fast_convergence = fast_convergence
        self._w_max = 0.0
        self._w_max_known = False
        self._k = 0.0
        self._t_epoch: float | None = None
        self._epoch_clock = 0.0
        self._cwnd_epoch = 0.0
        self._w_est = 0.0
        self._cwnd_prior = 0.0
        self._prior: tuple[float, float, float, float, float | None, float, bool, float] | None = (
            None
        )

    # -- RFC 9438 variables ----------------------------------------------------------------

    @property
    def c(self) -> float:
        return self._c

    @property
    def beta(self) -> float:
        return self._beta

    @property
    def alpha_cubic(self) -> float:
        """``alpha_cubic`` for this ``beta`` (section 4.3)."""
        return self._alpha_cubic

    @property
    def w_max(self) -> float:
        """``W_max`` in segments (0 until defined)."""
        return self._w_max

    @property
    def k(self) -> float:
        """``K`` in seconds for the current congestion avoidance stage."""
        return self._k

    @property
    def w_est(self) -> float:
        """``W_est`` in segments (section 4.3)."""
        return self._w_est

    @property
    def cwnd_epoch(self) -> float:
        """``cwnd_epoch``: cwnd in segments when the current stage began."""
        return self._cwnd_epoch

    @property
    def cwnd_prior(self) -> float:
        """``cwnd_prior``: cwnd in segments when ``ssthresh`` was last set."""
        return self._cwnd_prior

    @property
    def t_epoch(self) -> float | None:
        """``t_epoch``: start of the current stage, moved forward past app-limited time."""
        return self._t_epoch

    def w_cubic(self, t: float) -> float:
        """``W_cubic(t) = C * (t - K)^3 + W_max`` in segments (section 4.2, figure 1)."""
        d = t - self._k
        return self._c * d * d * d + self._w_max

    # -- section 4.9 -----------------------------------------------------------------------

    def undo_congestion_event(self) -> bool:
        """The last congestion event was spurious: restore the saved state (section 4.9).

        Restores ``cwnd``, ``ssthresh``, ``W_max``, ``K``, ``t_epoch`` and ``W_est``
        (and ``cwnd_epoch``, ``cwnd_prior``) if ``cwnd < prior_cwnd``, ends recovery,
        and returns ``True``; otherwise keeps the current values and returns ``False``.
        """
        prior = self._prior
        if prior is None:
            return False
        self._prior = None
        cwnd, ssthresh, w_max, k, t_epoch, w_est, w_max_known, cwnd_epoch = prior
        if self._cwnd >= cwnd:
            return False
        self._cwnd = cwnd
        self._ssthresh = ssthresh
        self._w_max = w_max
        self._k = k
        self._t_epoch = t_epoch
        self._w_est = w_est
        self._w_max_known = w_max_known
        self._cwnd_epoch = cwnd_epoch
        self._in_recovery = False
        return True

    # -- NewReno hooks ---------------------------------------------------------------------

    def _start_epoch(self, now: float, cwnd: float) -> None:
        """Begin a congestion avoidance stage at ``now`` with ``cwnd`` segments (section 4.2)."""
        self._t_epoch = now
        self._epoch_clock = now
        self._cwnd_epoch = cwnd
        self._w_est = cwnd
        if self._w_max_known:
            self._k = math.cbrt((self._w_max - cwnd) / self._c)
        else:
            # Sections 4.8 and 4.10: no W_max from a loss; K = 0, W_max = cwnd_epoch.
            self._w_max = cwnd
            self._w_max_known = True
            self._k = 0.0
            if self._cwnd_prior == 0.0:  # CA entered without any reduction yet
                self._cwnd_prior = cwnd

    def _congestion_avoidance(self, now: float, acked: int) -> None:
        mss = self.mss
        cwnd = self._cwnd / mss
        t_epoch = self._t_epoch
        if t_epoch is None:
            self._start_epoch(now, cwnd)
            t_epoch = now
        self._epoch_clock = now
        c = self._c
        w_max = self._w_max
        d = now - t_epoch - self._k
        w_t = c * d * d * d + w_max
        srtt = self._srtt
        if srtt is not None:
            d += srtt
        target = c * d * d * d + w_max
        if target < cwnd:
            target = cwnd
        elif target > 1.5 * cwnd:
            target = 1.5 * cwnd
        segments_acked = acked / mss
        w_est = self._w_est
        alpha = 1.0 if w_est >= self._cwnd_prior else self._alpha_cubic
        w_est += alpha * segments_acked / cwnd
        self._w_est = w_est
        if w_t < w_est and w_est > cwnd:
            self._cwnd = w_est * mss  # Reno-friendly region (section 4.3)
        else:
            self._cwnd = (cwnd + (target - cwnd) / cwnd * segments_acked) * mss

    def _on_app_limited_ack(self, now: float) -> None:
        # Section 5.8: t must not include application-limited periods.
        if self._t_epoch is not None:
            self._t_epoch += now - self._epoch_clock
            self._epoch_clock = now

    _on_idle_restart = _on_app_limited_ack

    def _on_hystart_exit(self, now: float) -> None:
        # Section 4.10: cwnd_prior = cwnd; K = 0 and W_max = cwnd_epoch.
        cwnd = self._cwnd / self.mss
        self._cwnd_prior = cwnd
        self._w_max_known = False
        self._start_epoch(now, cwnd)

    def _save_prior(self) -> None:
        self._prior = (
            self._cwnd,
            self._ssthresh,
            self._w_max,
            self._k,
            self._t_epoch,
            self._w_est,
            self._w_max_known,
            self._cwnd_epoch,
        )

    def _on_congestion_event(self, now: float, flight_size: int) -> None:
        mss = self.mss
        beta = self._beta
        cwnd = self._cwnd / mss
        self._save_prior()
        # Section 4.7, fast convergence (before the reduction).
        if self._fast_convergence and self._w_max_known and cwnd < self._w_max:
            self._w_max = cwnd * (1 + beta) / 2
        else:
            self._w_max = cwnd
        self._w_max_known = True
        # Section 4.6, multiplicative decrease.
        ssthresh = flight_size / mss * beta
        self._cwnd_prior = cwnd
        self._cwnd = max(ssthresh, 2.0) * mss
        self._ssthresh = max(ssthresh, 2.0) * mss
        self._t_epoch = None

    def _on_timeout(self, now: float, flight_size: int, new_episode: bool) -> None:
        mss = self.mss
        if new_episode:
            # Section 4.8: ssthresh "using beta_cubic (same as in Section 4.6)".
            self._save_prior()
            self._cwnd_prior = self._cwnd / mss
            self._ssthresh = max(flight_size / mss * self._beta, 2.0) * mss
        self._cwnd = float(mss)
        # Section 4.8: the next stage uses K = 0, W_max = W_est = cwnd_epoch.
        self._w_max_known = False
        self._t_epoch = None
