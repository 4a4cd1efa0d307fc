"""Bandwidth-delay product and the part sizes it implies for object transfers.

The BDP, bottleneck bandwidth times round-trip propagation time, is the
amount of data a path holds in flight when it is full and has no queue
(draft-ietf-ccwg-bbr section 2 and 4.6.4.2: ``BBR.bdp = BBR.bw * BBR.min_rtt``).
A sender that keeps less in flight leaves the path idle part of the time; more
only builds a queue.
"""

from __future__ import annotations

import math

from netalgo._validate import non_negative_int, positive, positive_int

__all__ = ["bdp", "inflight_for", "part_size"]


def bdp(bandwidth: float, rtt: float) -> int:
    """The bandwidth-delay product in bytes, rounded up: ``ceil(bandwidth * rtt)``.

    ``bandwidth`` is in bytes per second, ``rtt`` (the minimum RTT) in seconds;
    both must be finite and > 0.
    """
    positive("bandwidth", bandwidth)
    positive("rtt", rtt)
    return math.ceil(bandwidth * rtt)


def inflight_for(bandwidth: float, rtt: float, gain: float = 1.0) -> int:
    """Bytes to keep in flight: ``ceil(gain * bandwidth * rtt)``.

    This is BBR's ``BBRBDPMultiple(gain)`` without the quantization budget
    (draft-ietf-ccwg-bbr section 4.6.4.2); ``gain`` (finite, > 0) is e.g. 2 for
    BBR's cwnd_gain.
    """
    positive("bandwidth", bandwidth)
    positive("rtt", rtt)
    positive("gain", gain)
    return math.ceil(gain * bandwidth * rtt)


def part_size(
    total_size: int,
    bandwidth: float,
    rtt: float,
    *,
    min_part: int,
    max_part: int,
    max_parts: int,
    parts_in_flight: int = 4,
) -> int:
    """The size of each part of a ``total_size``-byte object sent over a path.

    The result is the smallest size that satisfies, in order of priority:

    1. at least ``min_part`` and at most ``max_part`` (S3: 5 MiB and 5 GiB);
    2. no more than ``max_parts`` parts: at least ``ceil(total_size / max_parts)``
       (S3: 10,000). If even ``max_part`` cannot do that, the object cannot be
       sent in parts at all and ``ValueError`` names ``total_size``;
    3. ``parts_in_flight`` parts hold the path's BDP: at least
       ``ceil(bdp / parts_in_flight)``, clamped into [``min_part``, ``max_part``].

    Why 3: each part is one request, and a request only moves data once it is
    sent, so a path is kept full only if the parts in flight together cover
    its BDP. Sizing parts at ``BDP / parts_in_flight`` lets a small number of
    concurrent requests fill the path, which keeps per-request overhead and
    connection count down, while leaving the limiter (:mod:`netalgo.limiter`)
    ``parts_in_flight`` units to steer with. Larger parts than that would only
    make each loss (a retried part) more expensive.

    A part never needs to exceed the object: the BDP term is capped at
    ``max(total_size, min_part)``, so a small object is one part. A 0-byte
    object gets ``min_part``.
    """
    non_negative_int("total_size", total_size)
    positive("bandwidth", bandwidth)
    positive("rtt", rtt)
    positive_int("min_part", min_part)
    positive_int("max_part", max_part)
    positive_int("max_parts", max_parts)
    positive_int("parts_in_flight", parts_in_flight)
    if max_part < min_part:
        raise ValueError(f"max_part must be >= min_part ({min_part}), got {max_part!r}")
    if total_size > max_part * max_parts:
        raise ValueError(
            f"total_size {total_size} exceeds max_parts * max_part = {max_parts * max_part}"
        )
    for_count = -(-total_size // max_parts)
    for_bdp = min(-(-bdp(bandwidth, rtt) // parts_in_flight), max(total_size, min_part))
    return min(max(min_part, for_count, for_bdp), max_part)
