"""Windowed min and max filters (Kathleen Nichols' algorithm).

The filter keeps the best, second-best and third-best samples seen in
successive sub-windows of one window, so it answers "the largest (or
smallest) value seen in the last ``window`` units" in O(1) time and space.
This is the algorithm of Linux's ``lib/win_minmax.c``, which BBR uses for its
max-bandwidth filter (draft-ietf-ccwg-bbr §4.5.2.2) and min-RTT estimates
(§4.5.3). The window is measured in whatever unit the caller feeds as ``t``:
seconds for min-RTT, round trips or ProbeBW cycles for bandwidth.
"""

from __future__ import annotations

import math

from netalgo._validate import EARLIEST, finite, positive

_INF = math.inf
_NEG_INF = -math.inf

__all__ = ["WindowedMaxFilter", "WindowedMinFilter"]


class _WindowedFilter:
    """The algorithm, written once for a maximum over "keys".

    :class:`WindowedMaxFilter` keys a sample by its value and
    :class:`WindowedMinFilter` by its negated value (negation is exact, so the
    smallest value is exactly the largest key). The three samples are six
    plain slots (best, second and third choice: ``(t0, k0)``, ``(t1, k1)``,
    ``(t2, k2)``) rather than a list of pairs, so an update allocates nothing:
    BBR updates two filters on every ACK. An empty filter holds times of
    ``-inf``, which every later sample finds more than a window old, so the
    first update resets it.
    """

    __slots__ = ("_half", "_k0", "_k1", "_k2", "_last_t", "_quarter", "_t0", "_t1", "_t2",
                 "_window")  # fmt: skip

    def __init__(self, window: float) -> None:
        self._window = positive("window", window)
        self._quarter = window / 4
        self._half = window / 2
        self._t0 = self._t1 = self._t2 = _NEG_INF
        self._k0 = self._k1 = self._k2 = 0.0
        # The latest t given, stored or not: t must never decrease. Starting at
        # the earliest finite time, `last_t <= t < inf` checks t completely.
        self._last_t: float = EARLIEST

    @property
    def window(self) -> float:
        return self._window

    def _check(self, value: float, t: float) -> None:
        """Raise the named error for a sample that failed the inline check of ``update``."""
        finite("value", value)
        finite("t", t)
        raise ValueError(f"t went backwards: {t!r} < {self._last_t!r}")

    def _reset(self, key: float, t: float) -> float:
        self._t0 = self._t1 = self._t2 = t
        self._k0 = self._k1 = self._k2 = key
        self._last_t = t
        return key

    def _update(self, key: float, t: float) -> float:
        """Add a sample (``minmax_running_max``) and return the best key in the window.

        The caller has checked ``key`` (finite) and ``t`` (finite, never
        decreasing): :meth:`update` does, and BBR passes rates it has checked
        with its own round and cycle counters. It leaves ``_last_t`` to :meth:`update`.
        """
        if key >= self._k0 or t - self._t2 > self._window:
            # A new best (or an equal one), or nothing left in the window: start over.
            self._t0 = self._t1 = self._t2 = t
            self._k0 = self._k1 = self._k2 = key
            return key
        if key >= self._k1:
            self._t1 = self._t2 = t
            self._k1 = self._k2 = key
        elif key >= self._k2:
            self._t2 = t
            self._k2 = key
        # Age out samples as the window moves (``minmax_subwin_update``).
        dt = t - self._t0
        if dt <= self._quarter:
            pass  # no sub-window boundary passed
        elif dt > self._window:
            # The best sample left the window: promote the others.
            self._t0, self._k0 = self._t1, self._k1
            self._t1, self._k1 = self._t2, self._k2
            self._t2, self._k2 = t, key
            if t - self._t0 > self._window:
                self._t0, self._k0 = self._t1, self._k1
                self._t1, self._k1 = t, key
        elif self._t1 == self._t0:
            # A quarter of the window passed with no second choice: take one.
            self._t1 = self._t2 = t
            self._k1 = self._k2 = key
        elif self._t2 == self._t1 and dt > self._half:
            # Half the window passed with no third choice: take one.
            self._t2 = t
            self._k2 = key
        return self._k0


class WindowedMaxFilter(_WindowedFilter):
    """The largest value seen over the last ``window`` units of ``t``."""

    __slots__ = ()

    def get(self) -> float | None:
        """The best value in the window, or ``None`` before the first sample."""
        return None if self._t0 == _NEG_INF else self._k0

    def reset(self, value: float, t: float) -> float:
        """Forget everything and start over from one sample."""
        finite("t", t)
        return self._reset(finite("value", value), t)

    def update(self, value: float, t: float) -> float:
        """Add a sample taken at ``t`` (never decreasing) and return the best in the window."""
        if not (_NEG_INF < value < _INF and self._last_t <= t < _INF):
            self._check(value, t)
        self._last_t = t
        return self._update(value, t)


class WindowedMinFilter(_WindowedFilter):
    """The smallest value seen over the last ``window`` units of ``t``."""

    __slots__ = ()

    def get(self) -> float | None:
        """The best value in the window, or ``None`` before the first sample."""
        return None if self._t0 == _NEG_INF else -self._k0

    def reset(self, value: float, t: float) -> float:
        """Forget everything and start over from one sample."""
        finite("t", t)
        return -self._reset(-finite("value", value), t)

    def update(self, value: float, t: float) -> float:
        """Add a sample taken at ``t`` (never decreasing) and return the best in the window."""
        if not (_NEG_INF < value < _INF and self._last_t <= t < _INF):
            self._check(value, t)
        self._last_t = t
        return -self._update(-value, t)
