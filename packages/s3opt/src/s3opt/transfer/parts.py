"""Pure arithmetic of multipart transfers: S3's limits, part sizes, part plans, ETags.

Nothing here does I/O, so all of it is unit-tested without a server.

S3's limits (Amazon S3 User Guide, "Amazon S3 multipart upload limits"):
a part is 5 MiB to 5 GiB except the last, which may be smaller; at most
10,000 parts; an object is at most 5 TiB; a single PUT at most 5 GiB.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from netalgo.bdp import part_size as bdp_part_size

__all__ = [
    "MAX_OBJECT_SIZE",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MAX_PUT_SIZE",
    "MIN_PART_SIZE",
    "MIN_RANGE_SIZE",
    "PARTS_IN_FLIGHT",
    "STREAM_TIER_PARTS",
    "PartDigest",
    "PartSpan",
    "choose_part_size",
    "digest_part",
    "multipart_etag",
    "plan_parts",
    "plan_ranges",
    "range_size",
    "split_tail",
    "stream_part_size",
]

MIB: Final = 2**20
MIN_PART_SIZE: Final = 5 * MIB
MAX_PART_SIZE: Final = 5 * 2**30
MAX_PARTS: Final = 10_000
MAX_OBJECT_SIZE: Final = 5 * 2**40
MAX_PUT_SIZE: Final = 5 * 2**30

PARTS_IN_FLIGHT: Final = 16
"""Parts that together should hold the measured BDP (``netalgo.bdp.part_size``).

The limiter's "RTT" is a whole part's duration, which grows with the part
size; with few parts per BDP the estimate would feed back into ever larger
parts. Sixteen keeps the fixed point near the path's real needs (parts grow
only when more than 16 are in flight) and leaves the limiter fine-grained units.
"""

MIN_RANGE_SIZE: Final = MIB
"""The smallest ranged GET a download plans: below it, the request's round trip
outweighs its bytes on any path worth parallelising."""

STREAM_TIER_PARTS: Final = 800
"""A stream of unknown length doubles its part size every this many parts, so
10,000 parts reach S3's 5 TiB object limit from any minimum >= 5 MiB (doubling
every 1,000 would stop at 4.9 TiB from 5 MiB)."""


@dataclass(frozen=True, slots=True)
class PartSpan:
    """Part ``number`` (1-based) covers ``length`` bytes from ``offset``."""

    number: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class PartDigest:
    """The digests that travel with a part: MD5 (Content-MD5, the ETag) and SHA-256."""

    md5: bytes
    sha256: bytes

    @property
    def content_md5(self) -> str:
        """Base64 MD5, the ``Content-MD5`` header S3 verifies."""
        return base64.b64encode(self.md5).decode("ascii")

    @property
    def checksum_sha256(self) -> str:
        """Base64 SHA-256, the ``x-amz-checksum-sha256`` header S3 verifies."""
        return base64.b64encode(self.sha256).decode("ascii")

    @property
    def etag(self) -> str:
        """The ETag S3 gives a part (or a single-PUT object) with these bytes: hex MD5."""
        return self.md5.hex()


def digest_part(data: bytes | memoryview) -> PartDigest:
    """MD5 and SHA-256 of ``data`` (hashlib releases the GIL: call it in a thread)."""
    return PartDigest(hashlib.md5(data).digest(), hashlib.sha256(data).digest())


def multipart_etag(md5s: Sequence[bytes]) -> str:
    """The ETag S3 gives a multipart object: ``hex(md5(md5_1 + ... + md5_n)) + "-n"``."""
    if not md5s:
        raise ValueError("a multipart ETag needs at least one part")
    return f"{hashlib.md5(b''.join(md5s)).hexdigest()}-{len(md5s)}"


def choose_part_size(
    total_size: int,
    *,
    min_part: int,
    max_part: int,
    estimate: tuple[float, float] | None = None,
) -> int:
    """The part size for a ``total_size``-byte object within S3's limits.

    With a path ``estimate`` (bandwidth bytes/s, min RTT s) the parts are
    sized so :data:`PARTS_IN_FLIGHT` of them hold the BDP
    (:func:`netalgo.bdp.part_size`); without one, the smallest size that
    keeps the count under 10,000. ``min_part``/``max_part`` (the config's
    bounds) are clamped into 5 MiB..5 GiB. ``ValueError`` above 5 TiB.
    """
    if total_size < 0:
        raise ValueError(f"total_size must be >= 0, got {total_size}")
    if total_size > MAX_OBJECT_SIZE:
        raise ValueError(f"an S3 object is at most 5 TiB, got {total_size} bytes")
    low = min(max(min_part, MIN_PART_SIZE), MAX_PART_SIZE)
    high = max(min(max_part, MAX_PART_SIZE), low)
    if total_size > high * MAX_PARTS:
        high = MAX_PART_SIZE  # the config's ceiling cannot reach 5 TiB; S3's can
    bandwidth, rtt = estimate if estimate is not None else (1.0, 1.0)
    size = bdp_part_size(
        total_size,
        bandwidth,
        rtt,
        min_part=low,
        max_part=high,
        max_parts=MAX_PARTS,
        parts_in_flight=PARTS_IN_FLIGHT,
    )
    return size


def plan_parts(total_size: int, part_size: int) -> list[PartSpan]:
    """The parts of a ``total_size``-byte object cut every ``part_size`` bytes (>= 1 part)."""
    if part_size <= 0:
        raise ValueError(f"part_size must be > 0, got {part_size}")
    if total_size <= 0:
        return [PartSpan(1, 0, 0)]
    return [
        PartSpan(index + 1, offset, min(part_size, total_size - offset))
        for index, offset in enumerate(range(0, total_size, part_size))
    ]


def plan_ranges(total_size: int, chunk_size: int) -> list[tuple[int, int]]:
    """``(offset, length)`` byte ranges covering ``total_size`` in ``chunk_size`` steps."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be > 0, got {chunk_size}")
    return [
        (offset, min(chunk_size, total_size - offset))
        for offset in range(0, total_size, chunk_size)
    ]


def split_tail(ranges: Sequence[tuple[int, int]], count: int) -> list[tuple[int, int]]:
    """``ranges`` with each of the last ``count`` cut in two halves (see below).

    A download's ranges start one after another as slots free, so when the last
    is sent those in flight hold anything from nothing to a whole range still to
    come, and they end one by one. Once fewer are left than the path needs to
    stay full (its aggregate rate over one connection's rate: 15 on the
    benchmark's ``far`` path), it idles while the last ones run at one
    connection's rate. Halving the ranges of the last window halves what the
    last ones hold: in a fluid model of ``far`` (60 MB/s shared, 4 MB/s a
    connection) with 24 ranges of 7.3 MB in flight, the idle tail falls from
    0.54 s to about 0.27 s. Measured, 1 GiB through ``far`` with 16-24 ranges in
    flight (``bbr``'s flight bound, :class:`s3opt.control.UnpacedBBR`): 53.4-54.2 MB/s
    before, 55.0-55.5 after, in three pairs.

    Only a download of more than two such windows is cut (in one or two waves
    the ranges start together and end together), and no half is shorter than
    :data:`MIN_RANGE_SIZE`. The halves are meant to be fetched as many at a time
    as whole ranges were, not twice as many: a throttling service counts requests.
    """
    if count <= 0 or len(ranges) <= 2 * count:
        return list(ranges)
    split = list(ranges[:-count])
    for offset, length in ranges[-count:]:
        if length < 2 * MIN_RANGE_SIZE:
            split.append((offset, length))
            continue
        half = length // 2
        split += [(offset, half), (offset + half, length - half)]
    return split


def range_size(total_size: int, chunk_size: int, streams: int) -> int:
    """The length of each ranged GET of a ``total_size``-byte download: at most
    ``chunk_size``, and balanced so the ranges fill whole waves of ``streams``.

    Ranges may be any size (unlike parts), and a download is done when its last
    range is: with ``ceil(total / chunk)`` ranges of ``chunk`` bytes over
    ``streams`` connections, the last wave may hold a few ranges while the other
    connections idle (32 ranges over 20 connections: a second wave of 12). Here
    the count is rounded up to a whole number of waves,
    ``streams * ceil(total / (streams * chunk))``, and the object split evenly
    among them, so every wave keeps every connection busy to its end and all
    ranges have about one size (what the controller's duration samples assume).
    Never below :data:`MIN_RANGE_SIZE` (nor above ``chunk_size``).
    """
    if chunk_size <= 0 or streams <= 0:
        raise ValueError(f"chunk_size and streams must be > 0, got {chunk_size}, {streams}")
    if total_size <= 0:
        return chunk_size
    waves = -(-total_size // (streams * chunk_size))
    balanced = -(-total_size // (streams * waves))
    return min(chunk_size, max(balanced, min(MIN_RANGE_SIZE, chunk_size)))


def stream_part_size(part_number: int, min_part: int) -> int:
    """The size of part ``part_number`` (1-based) of a stream of unknown length.

    ``min_part`` for the first :data:`STREAM_TIER_PARTS` parts, doubling every
    as many after (capped at 5 GiB): 10,000 parts from a 5 MiB minimum then
    hold over 5 TiB, while a small stream keeps small parts and bounded memory.
    """
    base = min(max(min_part, MIN_PART_SIZE), MAX_PART_SIZE)
    tier = (part_number - 1) // STREAM_TIER_PARTS
    return min(base << tier, MAX_PART_SIZE)
