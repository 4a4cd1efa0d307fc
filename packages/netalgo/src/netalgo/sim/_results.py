"""What a simulation reports: per-flow goodput and state over time, the link's queue, fairness."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from netalgo._validate import finite, non_negative

if TYPE_CHECKING:
    from netalgo.sim._config import Link

__all__ = [
    "FlowResult",
    "FlowSample",
    "LinkResult",
    "LinkSample",
    "SimResult",
    "jain_index",
]


class FlowSample(NamedTuple):
    """A flow's controller and sender state at time ``t``.

    ``delivery_rate`` is the most recent valid delivery-rate sample (bytes/s,
    draft-cheng-iccrg-delivery-rate-estimation section 3.3) the sender handed
    its controller, or 0.0 before the first one.
    """

    t: float
    cwnd: int
    pacing_rate: float | None
    delivery_rate: float
    srtt: float | None
    bytes_in_flight: int
    state: str


class LinkSample(NamedTuple):
    """The bottleneck queue at time ``t``: bytes held (including the packet being serialised)
    and the delay they add, ``queue_bytes / rate``."""

    t: float
    queue_bytes: int
    queue_delay: float


def _window(start: float, end: float | None, duration: float) -> tuple[float, float]:
    non_negative("start", start)
    stop = duration if end is None else finite("end", end)
    if not start < stop <= duration + 1e-12:
        raise ValueError(
            f"need 0 <= start < end <= duration ({duration!r}), got start={start!r}, end={stop!r}"
        )
    return start, min(stop, duration)


class FlowResult:
    """One flow's totals and time series.

    ``delivered_bytes`` counts bytes acknowledged at the sender (goodput: a
    send declared lost and sent again counts once). ``lost_packets`` counts
    this flow's packets the link dropped (drop-tail or injected loss), and
    ``loss_rate`` is ``lost_packets / sent_packets``. ``declared_lost_packets``
    counts what the sender declared lost, including every packet in flight at
    a retransmission timeout (``timeouts``).
    """

    __slots__ = ("_cum_delivered", "_cum_times", "declared_lost_packets", "delivered_bytes",
                 "duration", "lost_packets", "samples", "sent_packets", "timeouts",
                 "transitions")  # fmt: skip

    def __init__(
        self,
        *,
        delivered_bytes: int,
        sent_packets: int,
        lost_packets: int,
        declared_lost_packets: int,
        timeouts: int,
        samples: list[FlowSample],
        transitions: list[tuple[float, str]],
        cum_times: list[float],
        cum_delivered: list[int],
        duration: float,
    ) -> None:
        self.delivered_bytes = delivered_bytes
        self.sent_packets = sent_packets
        self.lost_packets = lost_packets
        self.declared_lost_packets = declared_lost_packets
        self.timeouts = timeouts
        self.samples = samples
        self.transitions = transitions
        self.duration = duration
        self._cum_times = cum_times
        self._cum_delivered = cum_delivered

    @property
    def loss_rate(self) -> float:
        """Fraction of this flow's packets the link dropped (0.0 if it sent none)."""
        return self.lost_packets / self.sent_packets if self.sent_packets else 0.0

    def delivered_at(self, t: float) -> float:
        """Bytes acknowledged by time ``t``, interpolated linearly between samples."""
        times, values = self._cum_times, self._cum_delivered
        i = bisect.bisect_right(times, t)
        if i == 0:
            return 0.0
        if i == len(times):
            return float(values[-1])
        t0, t1 = times[i - 1], times[i]
        v0, v1 = values[i - 1], values[i]
        return v0 + (v1 - v0) * ((t - t0) / (t1 - t0)) if t1 > t0 else float(v1)

    def goodput(self, start: float = 0.0, end: float | None = None) -> float:
        """Bytes/s acknowledged over ``[start, end]`` (``end`` defaults to the duration).

        Exact at sample instants and at the ends of the run; linear in between.
        """
        start, stop = _window(start, end, self.duration)
        return (self.delivered_at(stop) - self.delivered_at(start)) / (stop - start)

    def __repr__(self) -> str:
        return (
            f"FlowResult(delivered_bytes={self.delivered_bytes}, sent_packets={self.sent_packets}, "
            f"lost_packets={self.lost_packets}, timeouts={self.timeouts})"
        )


class LinkResult:
    """The bottleneck's queue over time and its drop counts.

    ``samples`` are taken every ``sample_interval``; ``max_queue_delay`` also
    sees the peak between samples (tracked at every enqueue).
    """

    __slots__ = ("_peaks", "buffer_drops", "dropped_packets", "duration", "loss_drops",
                 "samples", "transmitted_bytes")  # fmt: skip

    def __init__(
        self,
        *,
        samples: list[LinkSample],
        peaks: list[float],
        buffer_drops: int,
        loss_drops: int,
        transmitted_bytes: int,
        duration: float,
    ) -> None:
        self.samples = samples
        self._peaks = peaks
        self.buffer_drops = buffer_drops
        self.loss_drops = loss_drops
        self.dropped_packets = buffer_drops + loss_drops
        self.transmitted_bytes = transmitted_bytes
        self.duration = duration

    def _indices(self, start: float, end: float | None) -> range:
        start, stop = _window(start, end, self.duration)
        times = [s.t for s in self.samples]
        return range(bisect.bisect_left(times, start), bisect.bisect_right(times, stop))

    def mean_queue_delay(self, start: float = 0.0, end: float | None = None) -> float:
        """Mean of the sampled queueing delays in ``[start, end]``, in seconds (0.0 if none)."""
        idx = self._indices(start, end)
        if not idx:
            return 0.0
        return math.fsum(self.samples[i].queue_delay for i in idx) / len(idx)

    def max_queue_delay(self, start: float = 0.0, end: float | None = None) -> float:
        """Largest queueing delay in ``[start, end]``, including peaks between samples."""
        idx = self._indices(start, end)
        if not idx:
            return 0.0
        return max(max(self.samples[i].queue_delay, self._peaks[i]) for i in idx)

    def __repr__(self) -> str:
        return (
            f"LinkResult(dropped_packets={self.dropped_packets}, "
            f"transmitted_bytes={self.transmitted_bytes}, samples={len(self.samples)})"
        )


class SimResult:
    """Everything one :meth:`netalgo.sim.Simulation.run` produced.

    ``events`` counts packet events: each send, each packet leaving the link
    (arriving at the receiver), and each ACK arriving at the sender.
    """

    __slots__ = ("_link_config", "duration", "events", "flows", "link")

    def __init__(
        self,
        *,
        flows: list[FlowResult],
        link: LinkResult,
        duration: float,
        events: int,
        link_config: Link,
    ) -> None:
        self.flows = flows
        self.link = link
        self.duration = duration
        self.events = events
        self._link_config = link_config

    def utilisation(self, start: float = 0.0, end: float | None = None) -> float:
        """All flows' goodput over ``[start, end]`` as a fraction of the link's capacity then
        (the capacity follows ``Link.rate_schedule``)."""
        start, stop = _window(start, end, self.duration)
        delivered = math.fsum(f.delivered_at(stop) - f.delivered_at(start) for f in self.flows)
        return delivered / self._link_config.capacity(start, stop)

    def __repr__(self) -> str:
        return (
            f"SimResult(duration={self.duration!r}, events={self.events}, flows={len(self.flows)})"
        )


def jain_index(values: Sequence[float]) -> float:
    """Jain's fairness index, ``(sum x)^2 / (n * sum x^2)``: 1 when all equal, 1/n when one has all.

    R. Jain, D. Chiu, W. Hawe, DEC-TR-301 (1984), equation 1. All-zero input
    counts as equal shares (1.0); empty or negative input raises ``ValueError``.
    """
    if len(values) == 0:
        raise ValueError("values must not be empty")
    for v in values:
        non_negative("values", v)
    total = math.fsum(values)
    squares = math.fsum(v * v for v in values)
    if squares == 0:
        return 1.0
    return total * total / (len(values) * squares)
