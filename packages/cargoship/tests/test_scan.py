"""scan(): order, lstat fields, links not followed, special files and unreadable entries."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

from cargoship.errors import UnreadableFilesError
from cargoship.inventory import EntryType
from cargoship.scan import BATCH_SIZE, SourceEntry, scan


def _scan(root: Path) -> tuple[list[SourceEntry], list[tuple[Path, OSError]]]:
    problems: list[tuple[Path, OSError]] = []
    entries = list(scan(root, on_unreadable=lambda path, error: problems.append((path, error))))
    return entries, problems


def test_order_is_by_name_bytes_with_directories_before_their_contents(tmp_path: Path) -> None:
    for name in ("a/x", "a/B", "a.b", "B", "b/c/d"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    (tmp_path / os.fsdecode(b"\xe9t\xe9")).write_bytes(b"")
    entries, problems = _scan(tmp_path)
    # b"." (0x2e) < b"/" (0x2f), but "a" comes with its contents before "a.b" all the same.
    expected = ["B", "a", "a/B", "a/x", "a.b", "b", "b/c", "b/c/d", os.fsdecode(b"\xe9t\xe9")]
    assert [entry.name for entry in entries] == expected
    assert problems == []
    assert os.fsencode(entries[-1].name) == b"\xe9t\xe9"


def test_entries_carry_the_lstat_fields(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"12345")
    data.chmod(0o4751)
    os.utime(data, ns=(0, 1_700_000_000_123_456_789))
    os.link(data, tmp_path / "hard")
    target = tmp_path / "dir"
    target.mkdir()
    (target / "inside").write_bytes(b"x")
    (tmp_path / "link").symlink_to("dir")
    entries = {entry.name: entry for entry in _scan(tmp_path)[0]}
    info = os.lstat(data)
    assert entries["data.bin"] == SourceEntry(
        fspath=os.fsencode(data),
        name="data.bin",
        type=EntryType.FILE,
        size=5,
        mode=0o4751,
        mtime_ns=1_700_000_000_123_456_789,
        uid=info.st_uid,
        gid=info.st_gid,
        inode=(info.st_dev, info.st_ino),
        nlink=2,
        link=None,
    )
    assert entries["hard"].inode == entries["data.bin"].inode
    assert entries["link"].type is EntryType.SYMLINK
    assert entries["link"].link == "dir"
    assert entries["link"].size == 0
    assert "link/inside" not in entries  # symlinks are never followed
    assert entries["dir"].type is EntryType.DIRECTORY
    assert entries["dir"].path.is_absolute()


def test_special_files_are_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "plain").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="cargoship.scan"):
        entries, problems = _scan(tmp_path)
    assert [entry.name for entry in entries] == ["plain"]
    assert problems == []
    assert "pipe is a FIFO" in caplog.text


def test_a_root_that_is_not_a_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(UnreadableFilesError, match=r"cannot read .*file") as caught:
        _scan(tmp_path / "file")
    assert caught.value.paths == (str(tmp_path / "file"),)


_SCAN_AS_UNPRIVILEGED = """
import json, sys
from pathlib import Path
from cargoship.scan import scan
problems = []
names = [e.name for e in scan(Path(sys.argv[1]), on_unreadable=lambda p, e: problems.append(
    [str(p), e.errno]))]
print(json.dumps({"names": names, "problems": problems}))
"""


def test_unreadable_files_and_directories_are_reported_and_left_out(tmp_path: Path) -> None:
    """Permissions bind root only without CAP_DAC_OVERRIDE: run the scan without it."""
    command = [sys.executable, "-c", _SCAN_AS_UNPRIVILEGED, str(tmp_path)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and util-linux setpriv is missing: cannot drop privileges")
        drop = "-dac_override,-dac_read_search"
        command = [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}", *command]
    (tmp_path / "closed").mkdir()
    (tmp_path / "closed" / "hidden").write_bytes(b"")
    (tmp_path / "locked").write_bytes(b"secret")
    (tmp_path / "open").write_bytes(b"")
    (tmp_path / "closed").chmod(0)
    (tmp_path / "locked").chmod(0)
    try:
        result = subprocess.run(command, capture_output=True, check=True, timeout=60)
    finally:
        (tmp_path / "closed").chmod(0o755)
    report = json.loads(result.stdout)
    assert report["names"] == ["open"]
    assert report["problems"] == [
        [str(tmp_path / "closed"), 13],
        [str(tmp_path / "locked"), 13],
    ]


def test_a_tree_of_many_batches_comes_whole_in_order_and_an_early_stop_ends_the_walk(
    tmp_path: Path,
) -> None:
    """Names examined in the walk's thread, many batches of them: the entries are every
    path ``os.walk`` finds, depth first by name bytes; closing the scan early stops the
    walk's thread."""
    root = tmp_path / "tree"
    for top in range(6):
        for sub in range(5):
            folder = root / f"d{top}" / f"s{sub}"
            folder.mkdir(parents=True)
            for number in range(BATCH_SIZE // 6):
                (folder / f"f{number:03d}").write_bytes(b"%d" % number)
    expected: list[str] = []

    def walk(folder: Path, prefix: str) -> None:
        for name in sorted(os.listdir(folder)):
            expected.append(prefix + name)
            if (folder / name).is_dir():
                walk(folder / name, prefix + name + "/")

    walk(root, "")
    assert len(expected) > 4 * BATCH_SIZE
    entries, problems = _scan(root)
    assert [entry.name for entry in entries] == expected
    assert problems == []
    threads = threading.active_count()
    walk_entries = scan(root, on_unreadable=lambda path, error: pytest.fail(str(path)))
    assert isinstance(walk_entries, types.GeneratorType)
    assert next(walk_entries).name == "d0"
    assert threading.active_count() == threads + 1
    walk_entries.close()
    assert threading.active_count() == threads
