"""cargoship.extract on the real filesystem: member checks and the writes they guard."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cargoship.errors import CargoshipError, IntegrityError
from cargoship.extract import HOLE_BLOCK, Extractor, data_runs, member_parts
from cargoship.inventory import EntryType, InventoryEntry


@pytest.mark.parametrize(
    ("path", "why"),
    [("/etc/passwd", "absolute"), ("a/../../b", "'..'"), ("..", "'..'"), ("a\x00b", "NUL")],
)
def test_unsafe_paths_are_named(path: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        member_parts(path)


def test_dot_and_empty_segments_are_dropped() -> None:
    assert member_parts("./a//b/") == ("a", "b")
    assert member_parts(".") == ()


def test_a_damaged_file_never_takes_its_name(
    make_entry: Callable[..., InventoryEntry], tmp_path: Path
) -> None:
    entry = make_entry("dir/file.bin", EntryType.FILE, b"expected bytes")
    extractor = Extractor(tmp_path, overwrite=False)
    try:
        with pytest.raises(IntegrityError, match=r"dir/file\.bin"):
            extractor.write_file(entry, [b"expected byteS"])
        extractor.write_file(entry, [b"expected ", b"bytes"])
    finally:
        extractor.close()
    assert os.listdir(tmp_path / "dir") == ["file.bin"]
    restored = tmp_path / "dir" / "file.bin"
    assert restored.read_bytes() == b"expected bytes"
    assert restored.stat().st_mtime_ns == entry.mtime_ns
    assert restored.stat().st_mode & 0o7777 == 0o640
    assert extractor.verified == 1


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(
    make_entry: Callable[..., InventoryEntry], tiny_tmpfs: Path
) -> None:
    data = os.urandom(3 << 20)
    entry = make_entry("big.bin", EntryType.FILE, data)
    extractor = Extractor(tiny_tmpfs, overwrite=False)
    try:
        with pytest.raises(CargoshipError) as caught:
            extractor.write_file(entry, (data[i : i + 65536] for i in range(0, len(data), 65536)))
    finally:
        extractor.close()
    message = str(caught.value)
    assert "'big.bin'" in message
    assert "No space left on device" in message
    assert "\n" not in message
    assert os.listdir(tiny_tmpfs) == []


def test_files_in_one_directory_reuse_its_descriptor(
    make_entry: Callable[..., InventoryEntry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restoring 200 files six directories deep opens each directory once after creating it
    (not once per file and path segment), and closing the extractor releases every
    descriptor it kept."""
    directory_opens = 0
    real_open = os.open

    def counting_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        nonlocal directory_opens
        if flags & os.O_DIRECTORY:
            directory_opens += 1
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    fds_before = len(os.listdir("/proc/self/fd"))
    extractor = Extractor(tmp_path / "dest", overwrite=False)
    monkeypatch.setattr(os, "open", counting_open)
    try:
        for number in range(200):
            data = b"%d" % number
            extractor.write_file(
                make_entry(f"a/b/c/d/e/f/{number}.txt", EntryType.FILE, data), [data]
            )
    finally:
        monkeypatch.undo()
        extractor.close()
    assert directory_opens <= 2 * 6, directory_opens  # a failed open, mkdir, open: once each
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert (tmp_path / "dest/a/b/c/d/e/f/199.txt").read_bytes() == b"199"


B = HOLE_BLOCK


@pytest.mark.parametrize(
    ("data", "offset", "runs"),
    [
        (bytes(3 * B), 0, []),  # all zeros: nothing to write
        (b"x" * (3 * B), 0, [(0, 3 * B)]),
        (b"x" + bytes(3 * B - 2) + b"y", 0, [(0, B), (2 * B, 3 * B)]),  # the middle block is a hole
        (bytes(B) + b"x" + bytes(B), 0, [(B, 2 * B)]),  # the zero after 2B: a hole at the end
        (bytes(2 * B) + b"x", 0, [(2 * B, 2 * B + 1)]),  # a cut last block is written whole
        # At offset B - 10 the first block ends after 10 bytes: the zeros from there to the
        # next boundary are a hole, the x in the block after it is written with its block.
        (b"a" * 10 + bytes(B) + b"x" + bytes(5), B - 10, [(0, 10), (10 + B, 16 + B)]),
    ],
)
def test_data_runs_are_the_blocks_with_a_byte_other_than_zero(
    data: bytes, offset: int, runs: list[tuple[int, int]]
) -> None:
    assert list(data_runs(data, offset)) == runs


@pytest.mark.parametrize("sparse", [False, True])
def test_a_sparse_restore_leaves_zeros_as_holes(
    make_entry: Callable[..., InventoryEntry], tmp_path: Path, sparse: bool
) -> None:
    mib = 1 << 20
    content = b"head" + bytes(8 * mib) + b"middle" + bytes(8 * mib)  # ends in zeros
    entry = make_entry("disk.img", EntryType.FILE, content)
    extractor = Extractor(tmp_path, overwrite=False, sparse=sparse)
    try:
        chunks = [content[at : at + mib] for at in range(0, len(content), mib)]
        extractor.write_file(entry, chunks)
    finally:
        extractor.close()
    restored = tmp_path / "disk.img"
    assert restored.read_bytes() == content
    allocated = restored.stat().st_blocks * 512
    if sparse:
        assert allocated <= 64 * B  # two written blocks, and what the file system adds
    else:
        assert allocated >= len(content) - mib
