"""Argument checks shared by every module: bad input raises ``ValueError`` naming the parameter.

NaN and infinities are rejected everywhere a finite number is expected, so a
bad sample can never slip into an estimator's state and corrupt it silently.
"""

from __future__ import annotations

import math
import sys

EARLIEST = -sys.float_info.max
"""The earliest finite time: where a :class:`Clock` starts.

Starting there rather than at ``-inf`` makes ``clock.last <= now < inf`` a
complete check of ``now`` (finite, not earlier), so a hot path can test it
inline and call :meth:`Clock.advance` only to raise the error.
"""


def finite(name: str, value: float) -> float:
    """Return ``value`` if it is a finite number, else raise ``ValueError``."""
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def positive(name: str, value: float) -> float:
    """Return ``value`` if it is finite and > 0, else raise ``ValueError``."""
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def non_negative(name: str, value: float) -> float:
    """Return ``value`` if it is finite and >= 0, else raise ``ValueError``."""
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def fraction(name: str, value: float, *, closed: bool = False) -> float:
    """Return ``value`` if it lies in [0, 1) ([0, 1] when ``closed``), else raise ``ValueError``."""
    upper_ok = value <= 1 if closed else value < 1
    if not (math.isfinite(value) and value >= 0 and upper_ok):
        bound = "]" if closed else ")"
        raise ValueError(f"{name} must lie in [0, 1{bound}, got {value!r}")
    return value


def positive_int(name: str, value: int) -> int:
    """Return ``value`` if it is an ``int`` > 0 (``bool`` excluded), else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be an integer > 0, got {value!r}")
    return value


def non_negative_int(name: str, value: int) -> int:
    """Return ``value`` if it is an ``int`` >= 0 (``bool`` excluded), else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


class Clock:
    """Guards a component against time going backwards.

    ``advance(now)`` raises ``ValueError`` naming ``now`` if it is not finite
    or is earlier than the last time seen; equal times are fine (many events
    share one instant). Hot paths may inline the check::

        if clock.last <= now < INF:
            clock.last = now
        else:
            clock.advance(now)  # raises
    """

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: float = EARLIEST

    def advance(self, now: float) -> float:
        if not math.isfinite(now):
            raise ValueError(f"now must be a finite number, got {now!r}")
        if now < self.last:
            raise ValueError(f"now went backwards: {now!r} < {self.last!r}")
        self.last = now
        return now
