"""Adaptive choice on real data made in the test: random bytes, a zip, a PNG, Python source."""

from __future__ import annotations

import io
import os
import struct
import sysconfig
import zipfile
import zlib
from pathlib import Path

import pytest

from blobcodec.choose import PROBE_PART, Goal, choose, detect_compressed
from blobcodec.registry import get_codec

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def python_source(size: int) -> bytes:
    """The first ``size`` bytes of the standard library's own modules, in name order."""
    out = bytearray()
    for path in sorted(STDLIB.glob("*.py")):
        out += path.read_bytes()
        if len(out) >= size:
            break
    return bytes(out[:size])


def deflated_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(STDLIB.glob("*.py"))[:25]:
            archive.write(path, path.name)
    return buffer.getvalue()


def stored_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted(STDLIB.glob("*.py"))[:25]:
            archive.write(path, path.name)
    return buffer.getvalue()


def noise_png(width: int, height: int) -> bytes:
    """A valid 8-bit RGB PNG of random pixels (PNG spec: signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    rows = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))  # filter type 0
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def test_random_bytes_are_stored() -> None:
    choice = choose(os.urandom(500_000))
    assert choice.codec == "none"
    assert choice.level is None
    assert choice.measured_ratio == 1.0
    assert choice.measured_mb_per_s > 0
    assert "high entropy" in choice.reason
    assert any(m.codec == "lz4" for m in choice.measurements)  # it really tried


def test_a_deflated_zip_is_stored() -> None:
    data = deflated_zip()
    assert detect_compressed(data) == "zip"
    choice = choose(data)
    assert choice.codec == "none"
    assert "zip" in choice.reason


def test_a_png_is_stored() -> None:
    data = noise_png(256, 256)
    assert detect_compressed(data) == "PNG"
    assert choose(data, "ratio").codec == "none"


def test_a_stored_zip_still_gets_compressed() -> None:
    # The magic number says zip, but the members are stored: measuring wins.
    choice = choose(stored_zip())
    assert choice.codec == "zstd"
    assert "zip, but it still compresses" in choice.reason
    assert choice.measured_ratio > 2


@pytest.mark.parametrize("goal", ["balanced", "ratio"])
def test_source_text_gets_zstd(goal: Goal) -> None:
    choice = choose(python_source(300_000), goal)
    assert choice.codec == "zstd"
    assert choice.measured_ratio > 2.5


def test_speed_goal_picks_the_fastest_candidate_that_saves() -> None:
    choice = choose(python_source(300_000), "speed")
    assert choice.codec in {"lz4", "zstd"}
    assert choice.measured_mb_per_s == max(m.mb_per_s for m in choice.measurements)


def test_reported_ratio_can_be_recomputed() -> None:
    sample = python_source(200_000)
    choice = choose(sample)
    assert choice.probe_size == len(sample)
    compressed = get_codec(choice.codec, choice.level).compress(sample)
    assert choice.measured_ratio == len(sample) / len(compressed)


def test_large_samples_are_probed_at_start_middle_and_end() -> None:
    sample = python_source(2_000_000)
    choice = choose(sample, "speed")
    middle = (len(sample) - PROBE_PART) // 2
    probe = sample[:PROBE_PART] + sample[middle : middle + PROBE_PART] + sample[-PROBE_PART:]
    assert choice.probe_size == 3 * PROBE_PART == len(probe)
    compressed = get_codec(choice.codec, choice.level).compress(probe)
    assert choice.measured_ratio == len(probe) / len(compressed)


def test_text_is_not_mistaken_for_compressed_data() -> None:
    assert detect_compressed(python_source(100_000)) is None
    assert detect_compressed(zlib.compress(python_source(100_000), wbits=31)) == "gzip"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="goal"):
        choose(b"abc", "smallest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        choose(b"")
