"""Adaptive codec choice: compress a bounded probe of the data and measure.

:func:`choose` never guesses from file names. It takes a probe of the sample
(the first, middle and last 256 KiB), compresses it with each candidate codec
of the goal, and times it on the calling thread. Data that is already
compressed (a known magic number, or byte entropy near 8 bits per byte) is
first tried with the fastest codec only; unless that saves at least
:data:`MIN_SAVING`, the choice is ``"none"``.

The goals:

- ``"ratio"``: the best measured ratio among zstd -19, gzip -9 and lz4 -12.
- ``"balanced"``: among lz4 -1, zstd -3 and gzip -6, the fastest whose ratio
  is within 10 % of the best of them (so text gets zstd, while data that every
  codec squeezes equally goes to the fastest).
- ``"speed"``: the fastest of lz4 -1 and zstd -1.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from blobcodec.registry import get_codec

__all__ = [
    "MIN_SAVING",
    "PROBE_PART",
    "Choice",
    "Goal",
    "Measurement",
    "choose",
    "detect_compressed",
    "probe_of",
]

Goal = Literal["ratio", "speed", "balanced"]

PROBE_PART = 256 * 1024
"""Bytes taken from the start, middle and end of a sample."""

MIN_SAVING = 0.05
"""The least fraction of bytes a codec must save to be worth using (ratio >= 1/0.95)."""

_HIGH_ENTROPY_BITS = 7.9  # bits per byte; compressed or encrypted data sits near 8

_CANDIDATES: dict[str, tuple[tuple[str, int], ...]] = {
    "ratio": (("zstd", 19), ("gzip", 9), ("lz4", 12)),
    "balanced": (("lz4", 1), ("zstd", 3), ("gzip", 6)),
    "speed": (("lz4", 1), ("zstd", 1)),
}
# The fastest candidate within this fraction of the best ratio wins ("ratio" takes the best).
_RATIO_TOLERANCE: dict[str, float] = {"balanced": 0.9, "speed": 0.0}
_FASTEST = ("lz4", 1)

# (name, offset, magic) of formats whose content is already compressed.
_MAGIC_NUMBERS: tuple[tuple[str, int, bytes], ...] = (
    ("JPEG", 0, b"\xff\xd8\xff"),
    ("PNG", 0, b"\x89PNG\r\n\x1a\n"),
    ("GIF", 0, b"GIF8"),
    ("MP4/QuickTime", 4, b"ftyp"),
    ("zip", 0, b"PK\x03\x04"),
    ("gzip", 0, b"\x1f\x8b"),
    ("zstd", 0, b"\x28\xb5\x2f\xfd"),
    ("xz", 0, b"\xfd7zXZ\x00"),
    ("bzip2", 0, b"BZh"),
    ("lz4", 0, b"\x04\x22\x4d\x18"),
    ("7z", 0, b"7z\xbc\xaf\x27\x1c"),
)


@dataclass(frozen=True)
class Measurement:
    """One candidate compressed on the probe: ``ratio = probe_size / compressed_size``."""

    codec: str
    level: int | None
    ratio: float
    mb_per_s: float
    """Compression speed in MB/s (10**6 bytes of input per second), one thread."""


@dataclass(frozen=True)
class Choice:
    """The chosen codec and level, the numbers measured for it, and why."""

    codec: str
    level: int | None
    measured_ratio: float
    measured_mb_per_s: float
    reason: str
    probe_size: int
    """How many bytes of the sample were compressed (see :func:`probe_of`)."""
    measurements: tuple[Measurement, ...]
    """Every candidate measured, in the order tried."""


def probe_of(sample: bytes) -> bytes:
    """The bytes :func:`choose` compresses: all of a small sample, else start + middle + end."""
    if len(sample) <= 3 * PROBE_PART:
        return bytes(sample)
    middle = (len(sample) - PROBE_PART) // 2
    return sample[:PROBE_PART] + sample[middle : middle + PROBE_PART] + sample[-PROBE_PART:]


def _entropy_bits_per_byte(data: bytes) -> float:
    """Shannon entropy of the byte histogram (0 for one repeated byte, 8 for uniform)."""
    total = len(data)
    return -sum(n / total * math.log2(n / total) for n in Counter(data).values())


def detect_compressed(data: bytes) -> str | None:
    """Name the compressed format ``data`` starts with, "high entropy", or None."""
    for name, offset, magic in _MAGIC_NUMBERS:
        if data[offset : offset + len(magic)] == magic:
            return name
    if data and _entropy_bits_per_byte(data) >= _HIGH_ENTROPY_BITS:
        return "high entropy"
    return None


def _measure(probe: bytes, name: str, level: int | None) -> Measurement:
    codec = get_codec(name, level)
    start = time.perf_counter()
    compressed = codec.compress(probe)
    elapsed = max(time.perf_counter() - start, 1e-9)
    return Measurement(name, level, len(probe) / len(compressed), len(probe) / elapsed / 1e6)


def _label(m: Measurement) -> str:
    level = "" if m.level is None else f" -{m.level}"
    return f"{m.codec}{level} {m.ratio:.2f}x at {m.mb_per_s:.0f} MB/s"


def _choice(m: Measurement, reason: str, probe: bytes, measured: list[Measurement]) -> Choice:
    return Choice(m.codec, m.level, m.ratio, m.mb_per_s, reason, len(probe), tuple(measured))


def choose(sample: bytes, goal: Goal = "balanced") -> Choice:
    """Pick a codec and level for data like ``sample`` by compressing a probe of it."""
    if goal not in _CANDIDATES:
        raise ValueError(f"goal={goal!r}: use one of {', '.join(_CANDIDATES)}")
    if not sample:
        raise ValueError("sample is empty: there is nothing to measure")
    probe = probe_of(sample)
    least_ratio = 1 / (1 - MIN_SAVING)
    measured: list[Measurement] = []
    kind = detect_compressed(probe)
    if kind is not None:
        fastest = _measure(probe, *_FASTEST)
        measured.append(fastest)
        if fastest.ratio < least_ratio:
            stored = _measure(probe, "none", None)
            measured.append(stored)
            reason = (
                f"already compressed ({kind}): {_label(fastest)} saves less than "
                f"{MIN_SAVING:.0%}, so the data is stored as it is"
            )
            return _choice(stored, reason, probe, measured)
    goal_codecs = _CANDIDATES[goal]
    for name, level in goal_codecs:
        if not any((m.codec, m.level) == (name, level) for m in measured):
            measured.append(_measure(probe, name, level))
    candidates = [m for m in measured if (m.codec, m.level) in goal_codecs]
    best_ratio = max(m.ratio for m in candidates)
    if best_ratio < least_ratio:
        stored = _measure(probe, "none", None)
        measured.append(stored)
        reason = f"no codec saves {MIN_SAVING:.0%}: " + "; ".join(_label(m) for m in candidates)
        return _choice(stored, reason, probe, measured)
    if goal == "ratio":
        chosen = max(candidates, key=lambda m: (m.ratio, m.mb_per_s))
    else:
        floor = max(best_ratio * _RATIO_TOLERANCE[goal], least_ratio)
        chosen = max((m for m in candidates if m.ratio >= floor), key=lambda m: m.mb_per_s)
    prefix = f"{kind}, but it still compresses; " if kind is not None else ""
    reason = (
        f"{prefix}{goal}: {_label(chosen)} (measured: "
        + "; ".join(_label(m) for m in candidates)
        + ")"
    )
    return _choice(chosen, reason, probe, measured)
