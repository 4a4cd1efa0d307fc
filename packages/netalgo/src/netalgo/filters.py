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

from netalgo._validate import finite, positive

__all__ = ["WindowedMaxFilter", "WindowedMinFilter"]


class _WindowedFilter:
    __slots__ = ("_last_t", "_samples", "_window")

    def __init__(self, window: float) -> None:
        self._window = positive("window", window)
        # Three (t, value) pairs: best, second best, third best.
        self._samples: list[tuple[float, float]] = []
        # The latest t given, stored or not: t must never decrease.
        self._last_t = -math.inf

    @staticmethod
    def _better(a: float, b: float) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def window(self) -> float:
        return self._window

    def get(self) -> float | None:
        """The best value in the window, or ``None`` before the first sample."""
        return self._samples[0][1] if self._samples else None

    def reset(self, value: float, t: float) -> float:
        """Forget everything and start over from one sample."""
        sample = (finite("t", t), finite("value", value))
        self._samples = [sample, sample, sample]
        self._last_t = t
        return value

    def update(self, value: float, t: float) -> float:
        """Add a sample taken at ``t`` (never decreasing) and return the best in the window."""
        finite("value", value)
        finite("t", t)
        if t < self._last_t:
            raise ValueError(f"t went backwards: {t!r} < {self._last_t!r}")
        self._last_t = t
        s = self._samples
        if not s or self._better(value, s[0][1]) or value == s[0][1] or t - s[2][0] > self._window:
            return self.reset(value, t)
        sample = (t, value)
        if self._better(value, s[1][1]) or value == s[1][1]:
            s[1] = s[2] = sample
        elif self._better(value, s[2][1]) or value == s[2][1]:
            s[2] = sample
        return self._subwin_update(sample)

    def _subwin_update(self, sample: tuple[float, float]) -> float:
        """Age out samples as the window moves (``minmax_subwin_update``)."""
        s = self._samples
        dt = sample[0] - s[0][0]
        if dt > self._window:
            # The best sample left the window: promote the others.
            s[0], s[1], s[2] = s[1], s[2], sample
            if sample[0] - s[0][0] > self._window:
                s[0], s[1], s[2] = s[1], s[2], sample
        elif s[1][0] == s[0][0] and dt > self._window / 4:
            # A quarter of the window passed with no second choice: take one.
            s[1] = s[2] = sample
        elif s[2][0] == s[1][0] and dt > self._window / 2:
            # Half the window passed with no third choice: take one.
            s[2] = sample
        return s[0][1]


class WindowedMaxFilter(_WindowedFilter):
    """The largest value seen over the last ``window`` units of ``t``."""

    __slots__ = ()

    @staticmethod
    def _better(a: float, b: float) -> bool:
        return a > b


class WindowedMinFilter(_WindowedFilter):
    """The smallest value seen over the last ``window`` units of ``t``."""

    __slots__ = ()

    @staticmethod
    def _better(a: float, b: float) -> bool:
        return a < b
