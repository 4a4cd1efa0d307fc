"""Estimates: sampling, compressibility measured against the zstd tool, duplicates, prices.

Prices are the published ones (aws.amazon.com/s3/pricing, as in s3opt's price file):
STANDARD $0.023 per GB-month; DEEP_ARCHIVE $0.00099 plus, per object, 32 KiB at
that price and 8 KiB at STANDARD's; a GB is 2^30 bytes.
"""

from __future__ import annotations

import io
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blobcodec.errors import UnknownCodecError
from cargoship.errors import UnreadableFilesError
from cargoship.estimate import estimate
from cargoship.pack import TarPacker, plan_duplicates
from cargoship.sample import sample_blocks
from cargoship.scan import scan

GB = 2**30
KIB = 1024
MTIME_NS = 1_700_000_000_000_000_000


def _write(path: Path, data: bytes, *, mtime_ns: int = MTIME_NS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def _text(size: int) -> bytes:
    lines = b"".join(b"record %06d: status=ok region=eu-west-1\n" % i for i in range(size // 30))
    return lines[:size]


def test_sample_blocks_are_spread_evenly_and_cut_at_file_ends() -> None:
    # 400 bytes in all, 4 blocks of 10: starts at 0, 100, 200 and 300 of the concatenation.
    assert list(sample_blocks([100, 0, 300], 40, block=10)) == [
        (0, 0, 10),
        (2, 0, 10),
        (2, 100, 10),
        (2, 200, 10),
    ]
    # Starts at 0 and 100: a block starting 5 bytes before its file's end goes on into the next
    # file, as the tar stream does; the last file's end cuts the last block.
    assert list(sample_blocks([105, 95], 20, block=10)) == [(0, 0, 10), (0, 100, 5), (1, 0, 5)]
    assert list(sample_blocks([3, 0, 4, 2, 191], 20, block=10)) == [
        (0, 0, 3),
        (2, 0, 4),
        (3, 0, 2),
        (4, 0, 1),
        (4, 91, 10),
    ]
    assert list(sample_blocks([100, 5], 20, block=10)) == [(0, 0, 10), (0, 52, 10)]
    assert list(sample_blocks([95, 105], 20, block=10)) == [(0, 0, 10), (1, 5, 10)]
    # Small trees are read whole, a block at a time.
    assert list(sample_blocks([25, 0, 3], 1000, block=10)) == [
        (0, 0, 10),
        (0, 10, 10),
        (0, 20, 5),
        (2, 0, 3),
    ]


def test_random_data_does_not_compress(tmp_path: Path) -> None:
    for number in range(3):
        _write(tmp_path / f"r{number}.bin", os.urandom(100 * KIB))
    result = estimate(tmp_path)
    assert result.files == 3
    assert result.bytes_in == 300 * KIB
    assert result.sampled_bytes == 300 * KIB
    assert result.dedup_bytes == 0
    assert 0.98 < result.ratio <= 1.0
    assert 300 * KIB <= result.projected_bytes < 300 * KIB * 1.02


def test_text_ratio_matches_the_zstd_tool(tmp_path: Path) -> None:
    parts = [_text(200 * KIB), _text(300 * KIB)[::-1], _text(50 * KIB).upper()]
    for number, data in enumerate(parts):
        _write(tmp_path / "logs" / f"{number}.log", data)
    result = estimate(tmp_path, level=3)
    reference = subprocess.run(
        ["zstd", "-3", "-c", "-q"], input=b"".join(parts), capture_output=True, check=True
    ).stdout
    assert result.ratio > 10
    assert result.projected_bytes == pytest.approx(len(reference), rel=0.05)


def test_sampling_stays_within_its_budget_and_is_deterministic(tmp_path: Path) -> None:
    _write(tmp_path / "a.log", _text(700 * KIB))
    _write(tmp_path / "b.bin", os.urandom(900 * KIB))
    first = estimate(tmp_path, sample_bytes=512 * KIB)
    assert first.sampled_bytes <= 512 * KIB
    assert first.bytes_in == 1600 * KIB
    assert estimate(tmp_path, sample_bytes=512 * KIB) == first
    # Half text, half random: the ratio lies between theirs.
    assert 1.1 < first.ratio < 5


def test_duplicates_are_counted_exactly_as_ship_stores_them(tmp_path: Path) -> None:
    content = os.urandom(100 * KIB)
    _write(tmp_path / "a" / "original.bin", content)
    _write(tmp_path / "b" / "copy.bin", content)  # same bytes and metadata: linked
    os.link(tmp_path / "a" / "original.bin", tmp_path / "c-hardlink.bin")  # same inode: linked
    _write(tmp_path / "d" / "newer.bin", content, mtime_ns=MTIME_NS + 1)  # mtime differs: stored
    _write(tmp_path / "e" / "other.bin", os.urandom(100 * KIB))  # same size only: stored
    _write(tmp_path / "empty1", b"")
    _write(tmp_path / "empty2", b"")  # empty files are never linked by content
    result = estimate(tmp_path)
    assert result.files == 7
    assert result.dedup_bytes == 200 * KIB
    assert result.bytes_in == 500 * KIB

    entries = list(scan(tmp_path, on_unreadable=lambda path, exc: None))
    packer = TarPacker(io.BytesIO(), compression="none", archived_at=datetime.now(UTC))
    packer.plan(entries)
    for entry in entries:
        packer.add(entry)
    packer.close()
    assert packer.dedup_bytes == result.dedup_bytes
    files = [entry for entry in entries if entry.type.value == "file"]
    assert plan_duplicates(files).copies(files) == {"b/copy.bin", "c-hardlink.bin"}


def test_projected_cost_is_size_times_the_published_price(tmp_path: Path) -> None:
    _write(tmp_path / "data.bin", os.urandom(256 * KIB))
    result = estimate(tmp_path, compression="none")
    assert result.ratio == 1.0
    assert result.projected_bytes == 256 * KIB
    size = result.projected_bytes
    assert result.monthly_cost["STANDARD"] == pytest.approx(size / GB * 0.023)
    assert result.monthly_cost["DEEP_ARCHIVE"] == pytest.approx(
        (size + 32 * KIB) / GB * 0.00099 + 8 * KIB / GB * 0.023
    )
    assert {"STANDARD", "GLACIER", "DEEP_ARCHIVE"} <= set(result.monthly_cost)


def test_bad_arguments(tmp_path: Path) -> None:
    _write(tmp_path / "f", b"x")
    with pytest.raises(UnknownCodecError):
        estimate(tmp_path, compression="brotli")
    with pytest.raises(ValueError, match="level"):
        estimate(tmp_path, compression="none", level=3)
    with pytest.raises(ValueError, match="sample_bytes"):
        estimate(tmp_path, sample_bytes=0)
    with pytest.raises(UnreadableFilesError):
        estimate(tmp_path / "missing")


def test_an_empty_tree(tmp_path: Path) -> None:
    result = estimate(tmp_path)
    assert (result.files, result.bytes_in, result.projected_bytes, result.ratio) == (0, 0, 0, 1.0)
