"""cargoship.extract on the real filesystem: member checks and the writes they guard."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cargoship.errors import CargoshipError, IntegrityError
from cargoship.extract import Extractor, member_parts
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
