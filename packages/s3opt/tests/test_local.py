"""LocalStore's own promises: key safety, the on-disk layout, atomic writes, crash leftovers.

The behaviour it shares with S3Store is pinned in test_conformance.py; these
tests look at the directory underneath.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import s3opt.local
from s3opt.errors import InvalidS3UrlError, NoSuchKeyError, S3OptError, SourceChangedError
from s3opt.local import InvalidKeyError, InvalidMetadataError, LocalStore
from s3opt.stores import open_store
from s3opt.url import LocalUrl


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def read_all(store: LocalStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.get(key)])


async def keys_of(store: LocalStore, prefix: str = "") -> list[str]:
    return [info.key async for info in store.list(prefix)]


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "root")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "..", ".", "../escape", "a/../../b", "a/./b", "a/..", "nul\x00byte",
     "x" * 1025, "\ud800surrogate"],
)  # fmt: skip
async def test_keys_that_could_escape_the_root_are_refused(
    store: LocalStore, tmp_path: Path, key: str
) -> None:
    with pytest.raises(InvalidKeyError) as caught:
        await store.put(key, b"data")
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, InvalidS3UrlError | S3OptError)
    assert caught.value.key == key
    assert "\n" not in str(caught.value)
    for call in (store.head(key), store.get_range(key, 0, 1), store.delete([key])):
        with pytest.raises(InvalidKeyError):
            await call
    assert list(tmp_path.rglob("*")) == []


@pytest.mark.asyncio
async def test_longest_key_s3_allows_is_accepted(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    key = "/".join(["d" * 200] * 5) + "/" + "e" * 19  # 1024 UTF-8 bytes
    assert len(key.encode()) == 1024
    await store.put(key, b"long")
    assert await read_all(store, key) == b"long"


def test_bad_prefix_is_refused(tmp_path: Path) -> None:
    for prefix in ["/abs", "../up", "a/../b"]:
        with pytest.raises(InvalidKeyError):
            LocalStore(tmp_path, prefix=prefix)


@pytest.mark.asyncio
async def test_layout_is_plain_files_under_the_prefix(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, prefix="backups/2025")
    assert str(store) == f"{tmp_path.as_uri()}/backups/2025/"  # how messages name it
    assert str(LocalStore(tmp_path)) == tmp_path.as_uri()
    await store.put("dir/file.txt", b"hello", metadata={"a": "1"})
    data_file = tmp_path / "backups" / "2025" / "dir" / "file.txt"
    assert data_file.read_bytes() == b"hello"
    assert (tmp_path / "backups/2025/dir/.%meta/file.txt.json").is_file()
    assert [info.key async for info in store.list()] == ["dir/file.txt"]
    other = LocalStore(tmp_path, prefix="backups/2026/")
    assert [info async for info in other.list()] == []


@pytest.mark.asyncio
async def test_reserved_looking_keys_are_escaped(store: LocalStore) -> None:
    keys = [".%meta", ".%self", ".%tmp-x", "a.%mig", "%", "%00", "%25", "x/.%meta/y"]
    for key in keys:
        await store.put(key, key.encode())
    assert await keys_of(store) == sorted(keys)
    for key in keys:
        assert await read_all(store, key) == key.encode()
    names = {p.name for p in store.root.iterdir()}
    assert {".%25meta", "%2500", "%25"} <= names


@pytest.mark.asyncio
async def test_object_and_prefix_of_the_same_name_coexist(store: LocalStore) -> None:
    await store.put("a", b"object a")
    await store.put("a/b", b"object a/b")  # "a" moves into the directory as a/.%self
    assert (store.root / "a" / ".%self").read_bytes() == b"object a"
    assert await read_all(store, "a") == b"object a"
    assert (await store.head("a")).etag == md5(b"object a")
    await store.put("a", b"new a")  # written straight into a/.%self
    assert await read_all(store, "a") == b"new a"
    await store.delete(["a/b"])
    assert await keys_of(store) == ["a"]
    await store.delete(["a"])
    assert list(store.root.iterdir()) == []  # empty directories are pruned


@pytest.mark.asyncio
async def test_interrupted_move_aside_is_found_and_finished(store: LocalStore) -> None:
    """A crash between the renames of a move leaves the object in a.%mig: nothing is lost."""
    await store.put("a", b"parked", metadata={"m": "1"})
    parked = store.root / "a.%mig"
    parked.mkdir()
    os.replace(store.root / "a", parked / ".%self")
    assert await read_all(store, "a") == b"parked"
    assert dict((await store.head("a")).metadata) == {"m": "1"}
    assert await keys_of(store) == ["a"]
    await store.put("a/b", b"child")  # finishes the move
    assert not parked.exists()
    assert await keys_of(store) == ["a", "a/b"]
    assert await read_all(store, "a") == b"parked"


@pytest.mark.asyncio
async def test_stale_parked_copy_never_resurfaces(store: LocalStore) -> None:
    await store.put("a", b"old")
    parked = store.root / "a.%mig"
    parked.mkdir()
    os.replace(store.root / "a", parked / ".%self")
    await store.put("a", b"new")  # a newer object at the natural path
    assert await read_all(store, "a") == b"new"
    await store.delete(["a"])
    with pytest.raises(NoSuchKeyError):
        await store.head("a")


@pytest.mark.asyncio
async def test_sidecar_that_does_not_match_the_file_is_ignored(store: LocalStore) -> None:
    await store.put("k", b"original", metadata={"m": "1"})
    (store.root / "k").write_bytes(b"edited by hand")
    info = await store.head("k")
    assert (info.size, info.etag, dict(info.metadata)) == (14, md5(b"edited by hand"), {})
    assert info.checksum == "sha256:" + hashlib.sha256(b"edited by hand").hexdigest()


@pytest.mark.asyncio
async def test_files_placed_by_hand_are_objects_and_litter_is_not(store: LocalStore) -> None:
    store.root.mkdir()
    (store.root / "hand.txt").write_bytes(b"by hand")
    (store.root / ".%tmp-abandoned").write_bytes(b"half written")
    (store.root / "bad%zzname").write_bytes(b"not a name the store writes")
    (store.root / "empty-dir").mkdir()
    os.symlink("/etc/hostname", store.root / "link")
    assert await keys_of(store) == ["hand.txt"]
    assert [i async for i in store.list_dir()] == [await store.head("hand.txt")]
    assert (await store.head("hand.txt")).etag == md5(b"by hand")
    with pytest.raises(NoSuchKeyError):
        await store.head("link")


@pytest.mark.asyncio
async def test_failed_upload_leaves_no_temporary_file(store: LocalStore) -> None:
    await store.put("d/keep", b"v1")

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * 1000
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await store.upload("d/keep", broken())
    with pytest.raises(RuntimeError, match="boom"):
        await store.upload("e/new", broken())
    assert files_under(store.root) == ["d/.%meta/keep.json", "d/keep"]


@pytest.mark.asyncio
async def test_cancelled_upload_stores_nothing(store: LocalStore) -> None:
    started = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        while True:
            started.set()
            yield b"y" * 4096
            await asyncio.sleep(0.001)

    task = asyncio.create_task(store.upload("c/k", endless()))
    await started.wait()
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_under(store.root) == []
    with pytest.raises(NoSuchKeyError):
        await store.head("c/k")


@pytest.mark.asyncio
async def test_source_file_changing_during_upload_stores_nothing(
    store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"a" * 64)
    monkeypatch.setattr(s3opt.local, "CHUNK_SIZE", 16)
    write = s3opt.local._PendingWrite.write

    def write_then_touch(self: s3opt.local._PendingWrite, chunk: bytes) -> None:
        write(self, chunk)
        with source.open("ab") as out:  # the file grows while it is copied
            out.write(b"b")

    monkeypatch.setattr(s3opt.local._PendingWrite, "write", write_then_touch)
    with pytest.raises(SourceChangedError) as caught:
        await store.upload("changed", source)
    assert caught.value.key == "changed"
    assert files_under(store.root) == []


@pytest.mark.asyncio
async def test_get_reads_one_version_even_if_replaced_meanwhile(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3opt.local, "CHUNK_SIZE", 4)
    await store.put("v", b"old version bytes")
    chunks = store.get("v")
    first = await anext(chunks)
    await store.put("v", b"NEW")
    rest = b"".join([chunk async for chunk in chunks])
    assert first + rest == b"old version bytes"
    assert await read_all(store, "v") == b"NEW"


@pytest.mark.asyncio
async def test_concurrent_writers_of_one_key_leave_one_whole_version(store: LocalStore) -> None:
    versions = [bytes([n]) * (50_000 + n) for n in range(20)]
    await asyncio.gather(*(store.put("same", data) for data in versions))
    data = await read_all(store, "same")
    assert data in versions
    info = await store.head("same")
    assert (info.size, info.etag) == (len(data), md5(data))
    assert files_under(store.root) == [".%meta/same.json", "same"]


@pytest.mark.asyncio
async def test_invalid_metadata_is_refused(store: LocalStore) -> None:
    for metadata in ({"k": "caf\u00e9"}, {"": "v"}, {"k\u00e9": "v"}, {"k": 1}):
        with pytest.raises(InvalidMetadataError):
            await store.put("m", b"x", metadata=metadata)  # type: ignore[arg-type]
    assert files_under(store.root) == []


@pytest.mark.asyncio
async def test_upload_rejects_unknown_sources(store: LocalStore) -> None:
    with pytest.raises(TypeError):
        await store.upload("k", "a string is not a source")  # type: ignore[arg-type]

    async def strings() -> AsyncIterator[str]:
        yield "text"

    with pytest.raises(TypeError):
        await store.upload("k", strings())  # type: ignore[arg-type]
    assert files_under(store.root) == []


@pytest.mark.asyncio
async def test_page_size_must_be_positive(store: LocalStore) -> None:
    with pytest.raises(ValueError, match="page_size"):
        [info async for info in store.list(page_size=0)]


@pytest.mark.asyncio
async def test_open_store_gives_a_local_store_for_file_urls(tmp_path: Path) -> None:
    async with open_store(tmp_path.as_uri()) as opened:
        assert isinstance(opened, LocalStore)
        await opened.put("x/y", b"via url")
    async with open_store(LocalUrl(tmp_path)) as again:
        assert await again.get_range("x/y", 4, 3) == b"url"
    assert (tmp_path / "x" / "y").read_bytes() == b"via url"


@pytest.mark.parametrize("url", ["http://example.com/x", "s3://", "s3://Bad_Bucket/x", ""])
def test_open_store_refuses_bad_urls_at_once(url: str) -> None:
    with pytest.raises(InvalidS3UrlError):
        open_store(url)


def test_invalid_key_error_is_a_value_error() -> None:
    assert issubclass(InvalidKeyError, ValueError)
    assert issubclass(InvalidMetadataError, ValueError)
    assert issubclass(InvalidKeyError, S3OptError)


@pytest.mark.asyncio
async def test_a_read_cancelled_while_its_file_opens_closes_that_file(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stream started ahead and dropped (cargoship's restore refused by its checks) is
    # cancelled while its thread opens the file: the thread finishes, and what it opened
    # must be closed, not left to the garbage collector.
    await store.put("k", b"data")
    opening, opened = asyncio.Event(), []
    loop = asyncio.get_running_loop()
    real_open = LocalStore._open

    def slow_open(self: LocalStore, key: str) -> tuple[object, str]:
        loop.call_soon_threadsafe(opening.set)
        time.sleep(0.2)  # the open still under way when the cancel comes
        result = real_open(self, key)
        opened.append(result[0])
        return result

    monkeypatch.setattr(LocalStore, "_open", slow_open)
    reading = asyncio.ensure_future(anext(aiter(store.get("k"))))
    await opening.wait()
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    (file,) = opened
    assert file.closed
