"""Estimates: sampling, compressibility measured against the zstd tool, duplicates, prices.

Prices are the published ones (aws.amazon.com/s3/pricing, as in s3opt's price file):
STANDARD $0.023 per GB-month; DEEP_ARCHIVE $0.00099 plus, per object, 32 KiB at
that price and 8 KiB at STANDARD's; a GB is 2^30 bytes.
"""

from __future__ import annotations

import io
import math
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blobcodec.errors import UnknownCodecError
from cargoship.errors import UnreadableFilesError
from cargoship.estimate import estimate
from cargoship.pack import TarPacker, plan_duplicates
from cargoship.sample import (
    TAR_SAMPLE_FRAME,
    TarLayout,
    measure_ratio,
    read_sample,
    sample_blocks,
)
from cargoship.scan import SourceEntry, scan
from cargoship.ship import ShipOptions, ship
from s3opt import LocalStore

GB = 2**30
KIB = 1024
MTIME_NS = 1_700_000_000_000_000_000


def _write(path: Path, data: bytes, *, mtime_ns: int = MTIME_NS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def _packed(source: Path) -> tuple[list[SourceEntry], TarPacker, bytes]:
    """The scan of ``source``, and the packer that wrote it uncompressed, with its stream."""
    entries = list(scan(source, on_unreadable=lambda path, exc: None))
    written = io.BytesIO()
    packer = TarPacker(written, compression="none", archived_at=datetime.now(UTC))
    packer.plan(entries)
    for entry in entries:
        packer.add(entry)
    packer.close()
    return entries, packer, written.getvalue()


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
    # The tar stream: a 512-byte header per file (whole blocks of data), two end blocks.
    assert result.tar_bytes == 300 * KIB + 3 * 512 + 2 * 512
    assert result.sampled_bytes == result.tar_bytes  # small enough to be read whole
    assert result.dedup_bytes == 0
    assert 0.98 < result.ratio < 1.02
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
    _write(tmp_path / "a.log", _text(3 << 20))
    _write(tmp_path / "b.bin", os.urandom(3 << 20))
    # Two of the tar stream's four frames of 2 MiB: the first (text) and the third (random).
    first = estimate(tmp_path, sample_bytes=4 << 20)
    assert first.sampled_bytes == 4 << 20
    assert first.bytes_in == 6 << 20
    assert estimate(tmp_path, sample_bytes=4 << 20) == first
    # Half text, half random: the ratio lies between theirs.
    assert 1.1 < first.ratio < 5
    # A budget below one frame takes one frame.
    assert estimate(tmp_path, sample_bytes=512 * KIB).sampled_bytes == TAR_SAMPLE_FRAME


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

    entries, packer, _ = _packed(tmp_path)
    assert packer.dedup_bytes == result.dedup_bytes
    files = [entry for entry in entries if entry.type.value == "file"]
    assert plan_duplicates(files).copies(files) == {
        "b/copy.bin": "a/original.bin",
        "c-hardlink.bin": "a/original.bin",
    }


def test_projected_cost_is_size_times_the_published_price(tmp_path: Path) -> None:
    _write(tmp_path / "data.bin", os.urandom(256 * KIB))
    result = estimate(tmp_path, compression="none")
    assert result.ratio == 1.0
    assert result.projected_bytes == result.tar_bytes == 256 * KIB + 512 + 2 * 512
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
    assert (result.files, result.bytes_in, result.tar_bytes) == (0, 0, 2 * 512)
    assert 0 < result.projected_bytes < 64  # two zero blocks, compressed
    assert estimate(tmp_path, compression="none").projected_bytes == 2 * 512


def _varied_tree(root: Path) -> None:
    """Members of every kind and header shape the packer writes."""
    _write(root / "plain.txt", _text(3000))
    _write(root / "blocks.bin", os.urandom(1024))  # data ending on a block boundary
    _write(root / ("long-" * 30 + ".txt"), b"a name past 100 bytes: a pax path record")
    _write(root / "ünïcode" / "naïve.txt", b"a name that is not ASCII: a pax path record")
    _write(root / "fraction.txt", b"sub-second mtime", mtime_ns=MTIME_NS + 123_456_789)
    _write(root / "empty", b"")
    copy = _text(5000)
    _write(root / "a" / "first.txt", copy)
    _write(root / "b" / "copy.txt", copy)  # a copy: a hard-link member
    os.link(root / "plain.txt", root / "z-link.txt")  # the same inode: a hard-link member
    (root / "a" / "up").symlink_to("../plain.txt")
    (root / "a" / ("s" * 120)).symlink_to("t" * 120)  # pax path and linkpath


def test_the_tar_layout_is_the_packer_s_stream_byte_for_byte(tmp_path: Path) -> None:
    source = tmp_path / "source"
    _varied_tree(source)
    entries, packer, stream = _packed(source)

    links = plan_duplicates(entries).copies(entries)
    assert set(links) == {"b/copy.txt", "z-link.txt"}
    layout = TarLayout(entries, links)
    assert layout.size == packer.tar_size == len(stream)
    frames = [b"".join(frame) for frame in layout.frames(1 << 30)]  # read whole
    assert b"".join(frames) == stream
    assert {len(frame) for frame in frames[:-1]} <= {TAR_SAMPLE_FRAME}
    result = estimate(source, compression="none")
    assert result.tar_bytes == result.projected_bytes == packer.tar_size


def test_a_sample_of_the_tar_stream_is_its_frames_at_evenly_spaced_places(tmp_path: Path) -> None:
    source = tmp_path / "source"
    for number in range(9000):  # ~5.8 MB of tar: blocks start inside headers, data, padding
        _write(source / f"d{number // 50}" / f"f{number}.txt", _text(100 + number % 900))
    entries, _, stream = _packed(source)

    layout = TarLayout(entries, plan_duplicates(entries).copies(entries))  # sizes repeat
    assert layout.size == len(stream)
    frame = TAR_SAMPLE_FRAME
    count = -(-len(stream) // frame)
    assert count >= 3
    middle = count // 2 * frame  # two frames sampled: numbers 0 and count // 2
    sampled = [b"".join(pieces) for pieces in layout.frames(2 * frame)]
    assert sampled == [stream[:frame], stream[middle : middle + frame]]


@pytest.mark.asyncio
async def test_a_tree_of_tiny_files_is_projected_with_its_headers(
    tmp_path: Path, local_store: LocalStore
) -> None:
    # 3,000 files of ~150 bytes: each member is a 512-byte header and a padded block, so
    # the headers weigh more than the data. A projection from the data alone (what estimate
    # gave before) lands near half of what ship stores.
    source = tmp_path / "source"
    words = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf"]
    for number in range(3000):
        line = b" ".join(words[(number * 7 + k * 3) % 7] for k in range(5 + number % 30))
        _write(source / f"d{number // 100:02d}" / f"note-{number:04d}.txt", line)
    result = estimate(source)
    shipped = await ship(local_store, source, ShipOptions())
    assert shipped.archive is not None
    stored = shipped.archive.size
    assert 0.9 * stored <= result.projected_bytes <= 1.1 * stored, (result, stored)
    data_only = math.ceil(
        result.bytes_in
        / measure_ratio(
            [list(read_sample(list(scan(source, on_unreadable=lambda path, exc: None)), 1 << 30))],
            "zstd",
            None,
        )[1]
    )
    assert data_only < 0.7 * stored
