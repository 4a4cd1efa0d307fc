"""Real mounts (/dev/fuse) of a ``file://`` bucket: what other clients see, and what the
mount answers (negative TTL, ETag-pinned attribute changes, the kernel's page cache kept
across opens while the object is unchanged, expected errnos in stats, the kernel's read-ahead).

The bucket is an :class:`s3opt.LocalStore` folder, so "another client" is a
second LocalStore on the same folder, and conditional copies are enforced
(moto ignores ``x-amz-copy-source-if-match``; LocalStore answers it like S3).
Each test mounts ``python -m objectfs -f`` in a subprocess, uses the mount
with ordinary file calls and always unmounts in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from objectfs.mount import mount_device
from objectfs.testing import ForegroundMount
from s3opt import LocalStore

pytestmark = [
    pytest.mark.fuse,
    pytest.mark.skipif(not Path("/dev/fuse").exists(), reason="/dev/fuse is missing"),
]


@contextlib.contextmanager
def mounted(bucket: Path, where: Path, *options: str) -> Iterator[Path]:
    """``objectfs -f file://BUCKET WHERE OPTIONS...``; unmounted (and the daemon gone) after."""
    cache = where.parent / f"{where.name}-cache"
    with ForegroundMount(f"file://{bucket}", where, "--cache-dir", str(cache), *options):
        yield where


def put(bucket: Path, key: str, data: bytes, metadata: dict[str, str] | None = None) -> str:
    """Write an object as another client would; its ETag."""
    return asyncio.run(LocalStore(bucket).put(key, data, metadata=metadata)).etag


def metadata_of(bucket: Path, key: str) -> dict[str, str]:
    return dict(asyncio.run(LocalStore(bucket).head(key)).metadata)


def stats(mountpoint: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(os.getxattr(mountpoint, "user.objectfs.stats"))
    return found


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    root = tmp_path / "bucket"
    root.mkdir()
    return root


# -- negative answers ----------------------------------------------------------------------


@pytest.mark.parametrize(("negative_ttl", "visible"), [("1", True), ("300", False)])
def test_a_file_created_elsewhere_shows_after_the_negative_ttl(
    bucket: Path, tmp_path: Path, negative_ttl: str, visible: bool
) -> None:
    """With attributes trusted for 300 s, a "no such file" answer (the daemon's and the
    kernel's negative dentry) lasts only ``--negative-ttl``."""
    with mounted(bucket, tmp_path / "mnt", "--metadata-ttl", "300", "--negative-ttl", negative_ttl):
        late = tmp_path / "mnt" / "late.txt"
        assert not late.exists()
        put(bucket, "late.txt", b"written by another client\n")
        assert not late.exists()  # within the negative TTL: the cached answer
        time.sleep(1.5)
        assert late.exists() is visible
        if visible:
            assert late.read_bytes() == b"written by another client\n"


# -- attribute changes pinned to the ETag ----------------------------------------------------


def test_chmod_of_an_object_replaced_elsewhere_applies_to_the_new_object(
    bucket: Path, tmp_path: Path
) -> None:
    """The self-copy is pinned to the ETag the mount knows: against a replaced object it
    answers ESTALE and drops the cached attributes; the kernel retries a path-based call
    once on ESTALE (VFS ``retry_estale``), so chmod lands on the new object's own headers
    (its owner, its mtime), not on the stale ones. Without the pin the copy would have
    put the first version's headers on the second version's bytes."""
    mode = str(stat.S_IFREG | 0o644)
    put(bucket, "f.txt", b"first version\n", {"mode": mode, "uid": "1111", "mtime": "1000000000"})
    with mounted(bucket, tmp_path / "mnt", "--metadata-ttl", "300") as mnt:
        target = mnt / "f.txt"
        assert target.stat().st_uid == 1111  # the mount knows this ETag now
        second = {"mode": mode, "uid": "2222", "mtime": "2000000000"}
        put(bucket, "f.txt", b"second version, longer\n", second)
        os.chmod(target, 0o600)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert target.stat().st_uid == 2222
        setattr_calls = stats(mnt)["operations"]["setattr"]
    assert (setattr_calls["count"], setattr_calls["errors"]) == (2, 1)  # ESTALE, then the retry
    headers = metadata_of(bucket, "f.txt")
    assert (headers["mode"], headers["uid"]) == (str(stat.S_IFREG | 0o600), "2222")
    assert headers["mtime"].split(".")[0] == "2000000000"
    assert (bucket / "f.txt").read_bytes() == b"second version, longer\n"


# -- the kernel's page cache across opens ---------------------------------------------------


def fuse_reads(mountpoint: Path) -> int:
    """FUSE read requests the daemon has answered so far."""
    operations: dict[str, dict[str, int]] = stats(mountpoint)["operations"]
    return operations.get("read", {}).get("count", 0)


def test_a_reread_of_an_unchanged_file_comes_from_the_kernel(bucket: Path, tmp_path: Path) -> None:
    """The second open keeps the pages the first one read: no read request reaches the daemon,
    also once the metadata TTL has passed (the open's HEAD finds the same ETag)."""
    data = os.urandom(300_000)
    put(bucket, "same.bin", data)
    with mounted(bucket, tmp_path / "mnt", "--metadata-ttl", "1") as mnt:
        assert (mnt / "same.bin").read_bytes() == data
        first = fuse_reads(mnt)
        assert (mnt / "same.bin").read_bytes() == data
        again = fuse_reads(mnt)
        time.sleep(1.2)
        assert (mnt / "same.bin").read_bytes() == data
        after_ttl = stats(mnt)
    assert first > 0
    assert again == first
    assert after_ttl["operations"]["read"]["count"] == first
    assert after_ttl["requests"]["GET"] == 1


def test_an_object_replaced_elsewhere_is_read_anew_at_the_next_open(
    bucket: Path, tmp_path: Path
) -> None:
    """Same size, same mtime header: only the ETag tells the versions apart (the kernel's own
    check of size and mtime would keep the old pages). The next open sees the new bytes,
    before the metadata TTL has passed and after it."""
    headers = {"mtime": "1000000000"}
    first, second, third = (os.urandom(200_000) for _ in range(3))
    put(bucket, "v.bin", first, headers)
    with mounted(bucket, tmp_path / "mnt", "--metadata-ttl", "1") as mnt:
        target = mnt / "v.bin"
        assert target.read_bytes() == first
        put(bucket, "v.bin", second, headers)
        assert target.read_bytes() == second
        put(bucket, "v.bin", third, headers)
        time.sleep(1.2)
        assert target.read_bytes() == third
        assert target.read_bytes() == third


def test_pages_read_through_a_handle_of_the_old_version_are_not_kept(
    bucket: Path, tmp_path: Path
) -> None:
    """A handle opened before the object was replaced goes on reading the old version (from
    the daemon's memory cache); those pages must not be taken for the new version's."""
    old, new = os.urandom(100_000), os.urandom(100_000)
    put(bucket, "h.bin", old)
    with mounted(bucket, tmp_path / "mnt", "--metadata-ttl", "300") as mnt:
        target = mnt / "h.bin"
        stale = os.open(target, os.O_RDONLY)
        try:
            assert os.pread(stale, len(old), 0) == old
            put(bucket, "h.bin", new)
            fresh = os.open(target, os.O_RDONLY)  # sees the new ETag: the pages are dropped
            try:
                assert os.pread(stale, len(old), 0) == old  # refilled with the old bytes
            finally:
                os.close(fresh)
        finally:
            os.close(stale)
        assert target.read_bytes() == new


def test_changes_through_the_mount_are_read_back(bucket: Path, tmp_path: Path) -> None:
    """Every way this mount changes a file whose pages the kernel holds: a write in the
    middle, a write, fsync and a second write, truncate, O_TRUNC, a rename over it, and a
    delete and re-create with the same size."""
    data, other = bytearray(os.urandom(150_000)), os.urandom(150_000)
    put(bucket, "f.bin", bytes(data))
    put(bucket, "g.bin", other)
    with mounted(bucket, tmp_path / "mnt", "--metadata-ttl", "300") as mnt:
        target = mnt / "f.bin"
        assert target.read_bytes() == data
        with open(target, "r+b") as changed:
            changed.seek(70_000)
            changed.write(b"x" * 100)
        data[70_000:70_100] = b"x" * 100
        assert target.read_bytes() == data
        fd = os.open(target, os.O_RDWR)
        try:
            os.pwrite(fd, b"first", 10)
            os.fsync(fd)
            assert target.read_bytes()[10:15] == b"first"
            os.pwrite(fd, b"second", 20)
        finally:
            os.close(fd)
        data[10:15], data[20:26] = b"first", b"second"
        assert target.read_bytes() == data
        assert (bucket / "f.bin").read_bytes() == data
        os.truncate(target, 50_000)
        assert target.read_bytes() == data[:50_000]
        target.write_bytes(b"short")  # O_TRUNC
        assert target.read_bytes() == b"short"
        assert (mnt / "g.bin").read_bytes() == other
        os.rename(target, mnt / "g.bin")
        assert (mnt / "g.bin").read_bytes() == b"short"
        os.unlink(mnt / "g.bin")
        (mnt / "g.bin").write_bytes(b"SHORT")
        assert (mnt / "g.bin").read_bytes() == b"SHORT"
    assert (bucket / "g.bin").read_bytes() == b"SHORT"


# -- objectfs stats --------------------------------------------------------------------------


def test_stats_count_expected_answers_apart_from_failures(bucket: Path, tmp_path: Path) -> None:
    put(bucket, "f.txt", b"data\n")
    with mounted(bucket, tmp_path / "mnt") as mnt:
        target = mnt / "f.txt"
        for name, code in (("security.selinux", errno.ENOTSUP), ("user.absent", errno.ENODATA)):
            with pytest.raises(OSError, match=os.strerror(code)) as answered:
                os.getxattr(target, name)
            assert answered.value.errno == code
        with pytest.raises(OSError, match="No space") as failed:
            os.setxattr(target, "user.big", b"x" * 4000)  # beyond S3's 2 KiB of metadata
        assert failed.value.errno == errno.ENOSPC
        operations = stats(mnt)["operations"]
        shown = subprocess.run(
            [sys.executable, "-m", "objectfs", "stats", str(mnt)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    getxattr = operations["getxattr"]
    assert (getxattr["errors"], getxattr["expected"]) == (0, 2)
    assert getxattr["count"] >= 2
    assert (operations["setxattr"]["errors"], operations["setxattr"]["expected"]) == (1, 0)
    rows = dict(line.split("  ", 1) for line in shown.splitlines())
    assert "(0 failed, 2 expected errors)" in rows["operation getxattr"]


# -- the kernel's read-ahead -----------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may set a device's read_ahead_kb")
def test_sequential_reads_come_as_whole_blocks(bucket: Path, tmp_path: Path) -> None:
    """The mount raises its own read_ahead_kb to 1 MiB: ``cat`` of a 4 MiB file is a few
    1 MiB FUSE reads (the kernel's default, 128 KiB, would make 32)."""
    data = os.urandom(4 << 20)
    put(bucket, "big.bin", data)
    with mounted(bucket, tmp_path / "mnt") as mnt:
        with open("/proc/self/mountinfo") as table:
            device = mount_device(table.read(), str(mnt))
        assert device is not None
        assert Path(f"/sys/class/bdi/{device}/read_ahead_kb").read_text().strip() == "1024"
        copied = subprocess.run(["cat", str(mnt / "big.bin")], capture_output=True, check=True)
        assert copied.stdout == data
        reads = stats(mnt)["operations"]["read"]["count"]
    assert reads <= 8


def test_mount_device_reads_mountinfo_escapes_and_takes_the_last_mount() -> None:
    mountinfo = "\n".join(
        (
            "22 1 0:21 / /proc rw,nosuid - proc proc rw",
            r"40 22 0:39 / /mnt/my\040data rw - fuse.objectfs s3://b/ rw,user_id=0",
            r"41 40 0:40 / /mnt/my\040data rw - fuse.objectfs s3://c/ rw,user_id=0",
            "42 22 0:41 / /mnt/other rw shared:5 - fuse.rclone r: rw",
        )
    )
    assert mount_device(mountinfo, "/mnt/my data") == "0:40"
    assert mount_device(mountinfo, "/mnt/other") is None  # not an objectfs mount
    assert mount_device(mountinfo, "/mnt/absent") is None
