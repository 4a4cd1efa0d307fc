"""ReadAhead: small files read and hashed in a thread ahead of the packer, in order, bounded."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cargoship.errors import UnreadableFilesError
from cargoship.inventory import EntryType
from cargoship.pack import READ_SIZE, SmallFile, TarPacker, read_small
from cargoship.scan import SourceEntry, scan
from cargoship.ship import _read_ahead
from cargoship.ship._read_ahead import BATCH_ENTRIES, QUEUE_BATCHES, ReadAhead
from cargoship.source_table import SourceTable

WHEN_NS = 1_700_000_000_000_000_000


def _table(root: Path) -> SourceTable:
    return SourceTable(root, scan(root, on_unreadable=lambda path, error: pytest.fail(str(path))))


def _tree(root: Path) -> None:
    (root / "dir").mkdir(parents=True)
    (root / "dir/small.txt").write_bytes(b"small file\n")
    (root / "empty").write_bytes(b"")
    (root / "exactly-read-size").write_bytes(b"r" * READ_SIZE)
    (root / "large").write_bytes(b"L" * (READ_SIZE + 1))
    (root / "link").symlink_to("dir/small.txt")
    (root / "skipped.txt").write_bytes(b"carried by an incremental ship")
    (root / "z-first").write_bytes(b"two paths, one inode")
    os.link(root / "z-first", root / "z-second")


def test_small_files_come_read_and_hashed_and_the_rest_unread(tmp_path: Path) -> None:
    root = tmp_path / "src"
    _tree(root)
    table = _table(root)
    with ReadAhead(table, skip={"skipped.txt"}) as reads:
        paired = list(reads)
    assert [entry for entry, _ in paired] == list(table)
    got = {entry.name: read for entry, read in paired}
    for name in ("dir/small.txt", "empty", "exactly-read-size", "z-first"):
        data = (root / name).read_bytes()
        assert got[name] == SmallFile(data, "sha256:" + hashlib.sha256(data).hexdigest())
    for name in ("dir", "large", "link", "skipped.txt", "z-second"):
        assert got[name] is None, name


def test_a_file_gone_since_the_scan_comes_as_its_error(tmp_path: Path) -> None:
    root = tmp_path / "src"
    _tree(root)
    table = _table(root)
    (root / "dir/small.txt").unlink()
    (root / "empty").write_bytes(b"grown")
    with ReadAhead(table) as reads:
        got = {entry.name: read for entry, read in reads}
    for name in ("dir/small.txt", "empty"):
        error = got[name]
        assert isinstance(error, UnreadableFilesError)
        assert error.paths == (name,)


def test_packing_what_was_read_ahead_reads_each_small_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The packer takes the bytes read ahead instead of opening the file again, and writes
    the same tar bytes as a packer reading for itself."""
    root = tmp_path / "src"
    _tree(root)
    for number in range(3):  # copies: linked, and still opened once each
        (root / f"copy-{number}").write_bytes(b"the same bytes")
        os.utime(root / f"copy-{number}", ns=(WHEN_NS, WHEN_NS))
    table = _table(root)

    def pack(ahead: bool) -> bytes:
        sink = io.BytesIO()
        packer = TarPacker(sink, compression="none", archived_at=datetime(2026, 1, 1, tzinfo=UTC))
        packer.plan(table)
        if ahead:
            with ReadAhead(table) as reads:
                for entry, read in reads:
                    packer.add(entry, read)
        else:
            for entry in table:
                packer.add(entry)
        packer.close()
        return sink.getvalue()

    plain = pack(ahead=False)
    opened: list[bytes] = []
    real_open = os.open

    def counting_open(path: bytes, flags: int, mode: int = 0o777) -> int:
        opened.append(os.fsencode(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", counting_open)
    assert pack(ahead=True) == plain
    monkeypatch.undo()
    small = sorted(os.fsencode(root / name) for name in _small_files(table))
    assert sorted(path for path in opened if path in small) == small


def _small_files(table: SourceTable) -> Iterator[str]:
    for entry in table:
        if entry.type is EntryType.FILE and entry.size <= READ_SIZE and entry.name != "z-second":
            yield entry.name


def test_the_reader_stays_a_bounded_number_of_files_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the packer stalled, the reader stops after the queue's batches (and the one in
    its hands) instead of reading the whole tree into memory; leaving the block stops it."""
    root = tmp_path / "src"
    root.mkdir()
    count = (QUEUE_BATCHES + 4) * BATCH_ENTRIES * 2
    for number in range(count):
        (root / f"f{number:05d}").write_bytes(b"x")
    table = _table(root)
    reads = 0

    def counting_read(entry: SourceEntry) -> SmallFile:
        nonlocal reads
        reads += 1
        return read_small(entry)

    monkeypatch.setattr(_read_ahead, "read_small", counting_read)
    before = threading.active_count()
    with ReadAhead(table) as ahead:
        first = next(iter(ahead))
        assert first[0].name == "f00000"
        settled = -1
        while settled != reads:  # until the reader waits for room
            settled = reads
            time.sleep(0.3)
        assert reads <= (QUEUE_BATCHES + 3) * BATCH_ENTRIES < count
    assert threading.active_count() == before  # the reader ended with the block


def test_an_error_of_the_reader_reaches_the_packer(tmp_path: Path) -> None:
    root = tmp_path / "src"
    _tree(root)
    entries = list(_table(root))

    class Failing:
        def __iter__(self) -> Iterator[SourceEntry]:
            yield from entries[:2]
            raise RuntimeError("entries broke")

    seen: list[SourceEntry] = []
    with pytest.raises(RuntimeError, match="entries broke"), ReadAhead(Failing()) as reads:
        seen.extend(entry for entry, _ in reads)
    assert seen == entries[:2]
