"""Shared fixtures for netalgo's tests: feeding a window-based controller by hand.

``ack`` and ``lose`` drive a :class:`~netalgo.reno.NewReno` (or its subclass
:class:`~netalgo.cubic.Cubic`) one ACK or one lost segment at a time, in units of
the controller's own ``mss``; ``test_reno.py`` and ``test_cubic.py`` check the RFCs'
rules with them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from netalgo.protocols import AckSample, LossEvent
from netalgo.reno import NewReno

__all__ = ["ack", "lose"]


def _ack(
    ctl: NewReno,
    now: float,
    *,
    sent_time: float,
    acked: int | None = None,
    in_flight: int | None = None,
    rtt: float | None = 0.1,
) -> None:
    if acked is None:
        acked = ctl.mss
    if in_flight is None:
        in_flight = max(ctl.cwnd - acked, 0)
    ctl.on_ack(AckSample(now, acked, in_flight, sent_time, rtt))


def _lose(
    ctl: NewReno, now: float, *, sent_time: float, flight: int, timeout: bool = False
) -> None:
    ctl.on_loss(LossEvent(now, ctl.mss, flight - ctl.mss, sent_time, None, timeout))


@pytest.fixture
def ack() -> Callable[..., None]:
    """``ack(ctl, now, *, sent_time, acked=ctl.mss, in_flight=None, rtt=0.1)``: one ACK of
    ``acked`` bytes; by default the flight before it filled cwnd (a bulk sender)."""
    return _ack


@pytest.fixture
def lose() -> Callable[..., None]:
    """``lose(ctl, now, *, sent_time, flight, timeout=False)``: one MSS declared lost out
    of ``flight`` bytes outstanding (lost bytes included)."""
    return _lose
