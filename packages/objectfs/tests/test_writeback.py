"""Write-back staging against a real store (s3opt.LocalStore on a temporary folder)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from objectfs.meta import Attributes
from objectfs.writeback import WriteBack
from s3opt import LocalStore

ATTRS = Attributes(mode=stat.S_IFREG | 0o640, uid=1, gid=2, mtime_ns=1_000_000_000)


async def body(store: LocalStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.get(key)])


@pytest.mark.asyncio
async def test_staging_folder_is_private_and_leftovers_go(
    tmp_path: Path, local_store: LocalStore
) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "00000001.stage").write_bytes(b"from a killed daemon")
    writeback = WriteBack(local_store, staging)
    assert list(staging.iterdir()) == []
    assert stat.S_IMODE(staging.stat().st_mode) == 0o700
    staged = writeback.open("f", size=0, attributes=ATTRS, source=None)
    assert stat.S_IMODE(os.stat(staged.path).st_mode) == 0o600
    writeback.close()
    assert list(staging.iterdir()) == []


@pytest.mark.asyncio
async def test_new_file_is_uploaded_with_its_headers(
    tmp_path: Path, local_store: LocalStore
) -> None:
    writeback = WriteBack(local_store, tmp_path / "staging")
    staged = writeback.open("dir/new.txt", size=0, attributes=ATTRS, source=None)
    assert writeback.new_under("dir/") == ["dir/new.txt"]
    assert writeback.new_under("") == []
    await staged.write(0, b"hello ")
    await staged.write(6, b"world")
    info = await writeback.release(staged)
    assert info is not None
    assert info.size == 11
    assert await body(local_store, "dir/new.txt") == b"hello world"
    head = await local_store.head("dir/new.txt")
    assert head.metadata["mode"] == str(stat.S_IFREG | 0o640)
    assert head.metadata["uid"] == "1"
    assert writeback.get("dir/new.txt") is None  # dropped once clean and released
    assert not any((tmp_path / "staging").iterdir())


@pytest.mark.asyncio
async def test_random_write_fetches_the_object_first(
    tmp_path: Path, local_store: LocalStore
) -> None:
    await local_store.put("f", b"0123456789")
    writeback = WriteBack(local_store, tmp_path / "staging")
    staged = writeback.open("f", size=10, attributes=ATTRS, source=lambda: local_store.get("f"))
    assert (staged.loaded, staged.dirty) == (False, False)
    await staged.write(3, b"abc")
    assert (staged.loaded, staged.dirty) == (True, True)
    assert staged.read(0, 100) == b"012abc6789"
    await staged.write(12, b"Z")  # past the end: a hole of zeros
    assert staged.size == 13
    info = await staged.upload(local_store)
    assert info is not None
    assert await body(local_store, "f") == b"012abc6789\x00\x00Z"
    assert await staged.upload(local_store) is None  # clean: nothing sent
    await staged.write(13, b"more")  # keeps growing after an fsync
    await staged.upload(local_store)
    assert await body(local_store, "f") == b"012abc6789\x00\x00Zmore"
    writeback.close()


@pytest.mark.asyncio
async def test_truncate_fetches_only_what_it_keeps(tmp_path: Path, local_store: LocalStore) -> None:
    await local_store.put("f", b"abcdefgh")
    writeback = WriteBack(local_store, tmp_path / "staging")
    staged = writeback.open("f", size=8, attributes=ATTRS, source=lambda: local_store.get("f"))
    await staged.truncate(3)
    await staged.truncate(5)  # growing again adds zeros (POSIX ftruncate)
    await writeback.release(staged)
    assert await body(local_store, "f") == b"abc\x00\x00"


@pytest.mark.asyncio
async def test_unlinked_and_renamed_files(tmp_path: Path, local_store: LocalStore) -> None:
    writeback = WriteBack(local_store, tmp_path / "staging")
    gone = writeback.open("gone", size=0, attributes=ATTRS, source=None)
    await gone.write(0, b"x")
    writeback.unlinked("gone")
    assert await writeback.release(gone) is None
    moved = writeback.open("a/b", size=0, attributes=ATTRS, source=None)
    await moved.write(0, b"y")
    writeback.renamed("a", "c")
    assert moved.key == "c/b"
    assert writeback.get("c/b") is moved
    assert await writeback.flush_all() == 0
    assert await body(local_store, "c/b") == b"y"
    names = [info.key async for info in local_store.list("")]
    assert names == ["c/b"]
    writeback.close()
