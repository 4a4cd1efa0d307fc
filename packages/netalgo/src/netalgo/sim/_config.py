"""What a simulation is made of: the bottleneck :class:`Link` and the :class:`Flow` s sharing it."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Literal

from netalgo._validate import fraction, non_negative, positive, positive_int
from netalgo.protocols import CongestionController

__all__ = ["Flow", "Link"]

LossPattern = Literal["random", "periodic"]


class Link:
    """One bottleneck: a drop-tail FIFO queue in front of a link of ``rate`` bytes/s.

    ``base_rtt`` is the two-way propagation delay: a packet's last bit leaves
    the link, reaches the receiver ``base_rtt / 2`` later, and its ACK reaches
    the sender another ``base_rtt / 2`` later (ACKs are never queued or
    dropped). ``buffer`` is the queue capacity in bytes and counts the packet
    being serialised: a packet arriving when ``queued + size > buffer`` is
    dropped (drop-tail).

    ``loss`` drops each packet arriving at the link with that probability
    (``loss_pattern="random"``, drawn from the simulation's seeded generator),
    or drops exactly every ``round(1 / loss)``-th packet arriving at the link
    (``"periodic"``, the deterministic loss model of RFC 9438 section 5.1's
    response-function analysis). ``rate_schedule`` holds ``(time, rate)``
    steps; a step changes the rate of the remaining bytes of the packet in
    service too.
    """

    __slots__ = ("_schedule_rates", "_schedule_times", "base_rtt", "buffer", "loss",
                 "loss_pattern", "rate", "rate_schedule")  # fmt: skip

    def __init__(
        self,
        rate: float,
        base_rtt: float,
        buffer: int,
        loss: float = 0.0,
        loss_pattern: LossPattern = "random",
        rate_schedule: Sequence[tuple[float, float]] = (),
    ) -> None:
        self.rate = float(positive("rate", rate))
        self.base_rtt = float(positive("base_rtt", base_rtt))
        self.buffer = positive_int("buffer", buffer)
        self.loss = float(fraction("loss", loss))
        if loss_pattern not in ("random", "periodic"):
            raise ValueError(f"loss_pattern must be 'random' or 'periodic', got {loss_pattern!r}")
        self.loss_pattern: LossPattern = loss_pattern
        steps: list[tuple[float, float]] = []
        for item in rate_schedule:
            if len(item) != 2:
                raise ValueError(f"rate_schedule entries must be (time, rate) pairs, got {item!r}")
            when = float(non_negative("rate_schedule time", item[0]))
            new_rate = float(positive("rate_schedule rate", item[1]))
            if steps and when < steps[-1][0]:
                raise ValueError(
                    f"rate_schedule times must not decrease, got {when!r} after {steps[-1][0]!r}"
                )
            steps.append((when, new_rate))
        self.rate_schedule: tuple[tuple[float, float], ...] = tuple(steps)
        self._schedule_times = [t for t, _ in steps]
        self._schedule_rates = [r for _, r in steps]

    def rate_at(self, t: float) -> float:
        """The link rate (bytes/s) in force at time ``t`` (a step at ``t`` counts)."""
        i = bisect.bisect_right(self._schedule_times, t)
        return self.rate if i == 0 else self._schedule_rates[i - 1]

    def capacity(self, start: float, end: float) -> float:
        """Bytes the link can carry in ``[start, end]``: the integral of its rate."""
        if end <= start:
            return 0.0
        total = 0.0
        t = start
        rate = self.rate_at(start)
        for when, new_rate in self.rate_schedule:
            if when <= start:
                continue
            if when >= end:
                break
            total += rate * (when - t)
            t, rate = when, new_rate
        return total + rate * (end - t)

    def bdp(self) -> float:
        """Bandwidth-delay product at the initial rate, in bytes: ``rate * base_rtt``."""
        return self.rate * self.base_rtt

    def __repr__(self) -> str:
        return (
            f"Link(rate={self.rate!r}, base_rtt={self.base_rtt!r}, buffer={self.buffer!r}, "
            f"loss={self.loss!r}, loss_pattern={self.loss_pattern!r}, "
            f"rate_schedule={self.rate_schedule!r})"
        )


class Flow:
    """One sender: a controller, its packet size, when it runs and how much it has to send.

    A bulk sender (``app_rate=None``) always has data. With ``app_rate`` the
    application hands the sender ``app_rate`` bytes/s from ``start`` on, and
    the sender reports the gaps to its delivery-rate estimator as
    application-limited (draft-cheng-iccrg-delivery-rate-estimation section
    3.4). The flow sends no new data at or after ``stop``.
    """

    __slots__ = ("app_rate", "controller", "mss", "start", "stop")

    def __init__(
        self,
        controller: CongestionController,
        *,
        mss: int = 1460,
        start: float = 0.0,
        stop: float | None = None,
        app_rate: float | None = None,
    ) -> None:
        if not isinstance(controller, CongestionController):
            raise ValueError(
                f"controller must satisfy netalgo.protocols.CongestionController, "
                f"got {type(controller).__name__}"
            )
        self.controller = controller
        self.mss = positive_int("mss", mss)
        self.start = float(non_negative("start", start))
        if stop is not None:
            positive("stop", stop)
            if stop <= self.start:
                raise ValueError(f"stop must be later than start ({self.start!r}), got {stop!r}")
        self.stop = None if stop is None else float(stop)
        self.app_rate = None if app_rate is None else float(positive("app_rate", app_rate))

    def __repr__(self) -> str:
        return (
            f"Flow({type(self.controller).__name__}, mss={self.mss!r}, start={self.start!r}, "
            f"stop={self.stop!r}, app_rate={self.app_rate!r})"
        )


def periodic_interval(loss: float) -> int:
    """Packets between periodic drops: ``round(1 / loss)`` (0 means no loss)."""
    return 0 if loss == 0 else max(1, round(1.0 / loss))
