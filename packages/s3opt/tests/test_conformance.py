"""One behavioural contract for every ObjectStore: LocalStore and S3Store must pass the same tests.

objectfs and cargoship are written against :class:`s3opt.ObjectStore`; these
tests pin what they may rely on. Each test runs twice: on a
:class:`s3opt.local.LocalStore` in a temporary directory, and on an
``S3Store`` talking real HTTP to the session's moto server (opened through
:func:`s3opt.stores.open_store`). Both stores sit under a key prefix, so
prefix handling is part of the contract. Content is compared by SHA-256.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from s3opt.config import S3Config
from s3opt.errors import InvalidStorageClassError, NoSuchKeyError
from s3opt.local import LocalStore
from s3opt.protocols import CommonPrefix, ObjectInfo, ObjectStore
from s3opt.stores import open_store

MiB = 1024 * 1024
EMPTY_MD5 = hashlib.md5(b"", usedforsecurity=False).hexdigest()

# Keys whose S3 order (UTF-8 bytes) differs from a directory walk's and from naive sorts.
ORDER_KEYS = ["a", "a/b", "a-b", "a.b", "ab", "a/", "a/b/c", "z", "~", "é", "日本", "A", "0"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest_asyncio.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    """The store under test, rooted at the key prefix ``conformance/``."""
    if request.param == "local":
        yield LocalStore(tmp_path / "root", prefix="conformance/", fsync=False)
        return
    bucket: str = request.getfixturevalue("bucket")
    config: S3Config = request.getfixturevalue("s3_config")
    async with open_store(f"s3://{bucket}/conformance/", config) as s3_store:
        yield s3_store


async def read_all(store: ObjectStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.get(key)])


async def keys_of(store: ObjectStore, prefix: str = "") -> list[str]:
    return [info.key async for info in store.list(prefix)]


async def one_level(store: ObjectStore, prefix: str = "") -> list[str]:
    """list_dir as strings: object keys as they are, common prefixes marked ``P:``."""
    found = []
    async for item in store.list_dir(prefix):
        found.append(f"P:{item.prefix}" if isinstance(item, CommonPrefix) else item.key)
    return found


def s3_sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda key: key.encode("utf-8"))


async def put_many(store: ObjectStore, keys: list[str], width: int = 32) -> None:
    semaphore = asyncio.Semaphore(width)

    async def one(key: str) -> None:
        async with semaphore:
            await store.put(key, key.encode())

    await asyncio.gather(*(one(key) for key in keys))


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_satisfies_the_protocol(store: ObjectStore) -> None:
    assert isinstance(store, ObjectStore)


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [0, 1, 1000, 3 * MiB + 7])
async def test_put_head_get_round_trip(store: ObjectStore, size: int) -> None:
    data = payload(size, seed=size)
    written = await store.put("dir/object.bin", data)
    assert (written.key, written.size, written.etag) == ("dir/object.bin", size, md5(data))

    info = await store.head("dir/object.bin")
    assert isinstance(info, ObjectInfo)
    assert (info.key, info.size, info.etag) == ("dir/object.bin", size, md5(data))
    assert info.last_modified is not None
    if info.checksum is not None and info.checksum.startswith("sha256:"):
        assert info.checksum == f"sha256:{sha(data)}"
    assert sha(await read_all(store, "dir/object.bin")) == sha(data)


@pytest.mark.asyncio
async def test_empty_object(store: ObjectStore) -> None:
    await store.put("empty", b"")
    info = await store.head("empty")
    assert (info.size, info.etag) == (0, EMPTY_MD5)
    assert await read_all(store, "empty") == b""
    assert await store.get_range("empty", 0, 0) == b""
    assert [(i.key, i.size) async for i in store.list("empty")] == [("empty", 0)]


@pytest.mark.asyncio
async def test_overwrite_replaces_bytes_and_metadata(store: ObjectStore) -> None:
    await store.put("k", b"first version", metadata={"old": "1"})
    await store.put("k", b"second", metadata={"new": "2"})
    info = await store.head("k")
    assert (info.size, info.etag, dict(info.metadata)) == (6, md5(b"second"), {"new": "2"})
    assert await read_all(store, "k") == b"second"


@pytest.mark.asyncio
async def test_get_streams_large_object_in_order(store: ObjectStore) -> None:
    data = payload(5 * MiB + 3, seed=5)
    await store.put("big", data)
    chunks = [chunk async for chunk in store.get("big")]
    assert all(chunks)
    assert sha(b"".join(chunks)) == sha(data)


# -- ranged reads -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_get_range_inside_and_at_the_end(store: ObjectStore) -> None:
    data = payload(10_000, seed=1)
    await store.put("r", data)
    assert await store.get_range("r", 0, 1) == data[:1]
    assert await store.get_range("r", 1234, 4321) == data[1234 : 1234 + 4321]
    assert await store.get_range("r", 0, 10_000) == data
    assert await store.get_range("r", 9_999, 1) == data[-1:]
    # A size past the end gives the bytes up to the end, as S3 does.
    assert await store.get_range("r", 9_000, 5_000) == data[9_000:]
    assert await store.get_range("r", 0, 1 << 40) == data
    assert await store.get_range("r", 500, 0) == b""


@pytest.mark.asyncio
@pytest.mark.parametrize("offset", [10_000, 10_001, 1 << 40])
async def test_get_range_from_the_end_on_is_empty(store: ObjectStore, offset: int) -> None:
    """Past the end a read is empty (as pread), not S3's raw 416 InvalidRange."""
    await store.put("r", payload(10_000))
    assert await store.get_range("r", offset, 10) == b""


@pytest.mark.asyncio
async def test_get_range_of_empty_object_is_empty(store: ObjectStore) -> None:
    await store.put("empty", b"")
    assert await store.get_range("empty", 0, 1) == b""
    assert await store.get_range("empty", 5, 100) == b""


@pytest.mark.asyncio
async def test_get_range_rejects_negative_arguments(store: ObjectStore) -> None:
    await store.put("r", b"abc")
    with pytest.raises(ValueError, match="offset"):
        await store.get_range("r", -1, 2)
    with pytest.raises(ValueError, match="size"):
        await store.get_range("r", 0, -2)


# -- metadata ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_metadata_round_trip(store: ObjectStore) -> None:
    metadata = {"colour": "blue", "x-origin": "host-1", "empty": "", "spaces": "a b  c"}
    await store.put("m", b"data", metadata=metadata)
    assert dict((await store.head("m")).metadata) == metadata


@pytest.mark.asyncio
async def test_metadata_names_are_lowercased_as_s3_does(store: ObjectStore) -> None:
    await store.put("m", b"data", metadata={"Mixed-Case": "Value Kept"})
    assert dict((await store.head("m")).metadata) == {"mixed-case": "Value Kept"}


@pytest.mark.asyncio
async def test_listing_carries_no_metadata(store: ObjectStore) -> None:
    await store.put("m", b"data", metadata={"colour": "blue"})
    listed = [info async for info in store.list("")]
    assert [(i.key, i.size, i.etag, dict(i.metadata)) for i in listed] == [
        ("m", 4, md5(b"data"), {})
    ]


# -- listing ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_list_is_in_utf8_byte_order(store: ObjectStore) -> None:
    shuffled = ORDER_KEYS[:]
    random.Random(7).shuffle(shuffled)
    for key in shuffled:
        await store.put(key, key.encode())
    listed = [info async for info in store.list()]
    assert [info.key for info in listed] == s3_sorted(ORDER_KEYS)
    assert [info.size for info in listed] == [len(k.encode()) for k in s3_sorted(ORDER_KEYS)]
    # Both a/b and a/b/c are objects: the "directory" and the "file" coexist, as on S3.
    assert await read_all(store, "a/b") == b"a/b"
    assert await read_all(store, "a/b/c") == b"a/b/c"
    assert await read_all(store, "a") == b"a"


@pytest.mark.asyncio
async def test_list_prefix_is_a_string_prefix(store: ObjectStore) -> None:
    await put_many(store, ORDER_KEYS)
    assert await keys_of(store, "a") == ["a", "a-b", "a.b", "a/", "a/b", "a/b/c", "ab"]
    assert await keys_of(store, "a/") == ["a/", "a/b", "a/b/c"]
    assert await keys_of(store, "a/b") == ["a/b", "a/b/c"]
    assert await keys_of(store, "a/b/") == ["a/b/c"]
    assert await keys_of(store, "日") == ["日本"]
    assert await keys_of(store, "nothing") == []
    assert await keys_of(store, "a/x/") == []


@pytest.mark.asyncio
async def test_list_dir_gives_objects_and_common_prefixes_in_key_order(
    store: ObjectStore,
) -> None:
    await put_many(store, ORDER_KEYS)
    assert await one_level(store, "") == [
        *["0", "A", "a", "a-b", "a.b", "P:a/", "ab", "z", "~", "é", "日本"]
    ]
    # The "directory marker" object named exactly like the prefix ("a/") is the directory
    # itself: list_dir leaves it out, list keeps it.
    assert await one_level(store, "a/") == ["a/b", "P:a/b/"]
    assert await keys_of(store, "a/") == ["a/", "a/b", "a/b/c"]
    assert await one_level(store, "a/b/") == ["a/b/c"]
    # A prefix that stops inside a name groups by the next "/"; "a" is an object, not a marker.
    assert await one_level(store, "a") == ["a", "a-b", "a.b", "P:a/", "ab"]
    assert await one_level(store, "missing/") == []


@pytest.mark.asyncio
async def test_list_dir_items_are_typed(store: ObjectStore) -> None:
    await store.put("d/x/1", b"1")
    await store.put("d/y", b"yy")
    items = [item async for item in store.list_dir("d/")]
    assert items[0] == CommonPrefix("d/x/")
    assert isinstance(items[1], ObjectInfo)
    assert (items[1].key, items[1].size, items[1].etag) == ("d/y", 2, md5(b"yy"))
    assert len(items) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("page_size", [1, 7, 100, None])
async def test_list_pages_keep_order_and_lose_nothing(
    store: ObjectStore, page_size: int | None
) -> None:
    """Page boundaries (S3's continuation tokens) neither drop, repeat nor reorder entries."""
    files = [f"many/{i:03d}" for i in range(80)]
    subdirs = [f"many/{i:03d}/x" for i in range(0, 80, 9)] + ["many/zz/y"]
    await put_many(store, files + subdirs)
    pages = {} if page_size is None else {"page_size": page_size}
    listed = [info.key async for info in store.list("many/", **pages)]
    assert listed == s3_sorted(files + subdirs)
    level = []
    async for item in store.list_dir("many/", **pages):
        level.append(f"P:{item.prefix}" if isinstance(item, CommonPrefix) else item.key)
    expected = []
    for name in files:
        expected.append(name)
        if int(name[-3:]) % 9 == 0:
            expected.append(f"P:{name}/")
    assert level == [*expected, "P:many/zz/"]


@pytest.mark.asyncio
async def test_list_more_than_a_thousand_keys(store: ObjectStore) -> None:
    """Past S3's 1,000-key page: the default paging."""
    keys = [f"k/{i:05d}" for i in range(1_005)]
    await put_many(store, keys)
    assert await keys_of(store, "k/") == keys
    await store.delete(keys[:1_003])
    assert await keys_of(store, "k/") == keys[1_003:]


@pytest.mark.asyncio
async def test_unusual_key_characters_round_trip(store: ObjectStore) -> None:
    keys = [
        "with space",
        "per%cent",
        "%25",
        "plus+sign",
        "q?mark",
        "hash#tag",
        "amp&er=sand",
        "a//double",
        "trailing/",
        "..dots",
        "x.",
        "tab\tchar",
        "emoji-\U0001f600",
        ".hidden",
        "back\\slash",
    ]
    for number, key in enumerate(keys):
        await store.put(key, f"{number}:{key}".encode())
    assert await keys_of(store) == s3_sorted(keys)
    for number, key in enumerate(keys):
        assert await read_all(store, key) == f"{number}:{key}".encode(), key
        assert (await store.head(key)).key == key


# -- delete and copy --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_delete_removes_keys_and_ignores_missing_ones(store: ObjectStore) -> None:
    await put_many(store, ["d/1", "d/2", "d/sub/3", "keep"])
    await store.delete(["d/1", "d/sub/3", "never-existed", "d/sub/missing"])
    assert await keys_of(store) == ["d/2", "keep"]
    assert await one_level(store, "") == ["P:d/", "keep"]
    assert await one_level(store, "d/") == ["d/2"]
    with pytest.raises(NoSuchKeyError):
        await store.head("d/1")
    await store.delete([])
    await store.delete(["d/1"])  # again: still not an error
    await store.delete(["d/2", "keep"])
    assert await keys_of(store) == []
    assert await one_level(store) == []


@pytest.mark.asyncio
async def test_delete_object_next_to_prefix_keeps_the_other(store: ObjectStore) -> None:
    await put_many(store, ["a", "a/b"])
    await store.delete(["a/b"])
    assert await keys_of(store) == ["a"]
    assert await read_all(store, "a") == b"a"
    await store.put("a/b", b"again")
    await store.delete(["a"])
    assert await keys_of(store) == ["a/b"]
    assert await read_all(store, "a/b") == b"again"


@pytest.mark.asyncio
async def test_copy_duplicates_bytes_and_metadata(store: ObjectStore) -> None:
    data = payload(2 * MiB + 5, seed=3)
    await store.put("src/file", data, metadata={"k": "v"})
    await store.put("dst/file", b"to be replaced")
    copied = await store.copy("src/file", "dst/file")
    assert (copied.key, copied.size) == ("dst/file", len(data))
    info = await store.head("dst/file")
    assert (info.size, info.etag, dict(info.metadata)) == (len(data), md5(data), {"k": "v"})
    assert sha(await read_all(store, "dst/file")) == sha(data)
    assert sha(await read_all(store, "src/file")) == sha(data)


@pytest.mark.asyncio
async def test_copy_of_missing_key_names_it(store: ObjectStore) -> None:
    with pytest.raises(NoSuchKeyError) as caught:
        await store.copy("no/such/source", "dst")
    assert "no/such/source" in str(caught.value)
    assert await keys_of(store) == []


# -- storage classes --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_storage_class_defaults_to_standard(store: ObjectStore) -> None:
    written = await store.put("plain", b"x")
    assert written.storage_class == "STANDARD"
    assert (await store.head("plain")).storage_class == "STANDARD"


@pytest.mark.asyncio
@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE", "STANDARD_IA"])
async def test_storage_class_is_kept_on_put(store: ObjectStore, storage_class: str) -> None:
    written = await store.put("cold", b"archived bytes", storage_class=storage_class)
    assert written.storage_class == storage_class
    assert (await store.head("cold")).storage_class == storage_class
    assert [(i.key, i.storage_class) async for i in store.list("cold")] == [("cold", storage_class)]


@pytest.mark.asyncio
async def test_storage_class_is_kept_on_upload_of_every_source(
    store: ObjectStore, tmp_path: Path
) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"from a file")

    async def stream() -> AsyncIterator[bytes]:
        yield b"from a "
        yield b"stream"

    await store.upload("bytes", b"from bytes", storage_class="ONEZONE_IA")
    await store.upload("path", source, storage_class="GLACIER_IR")
    await store.upload("stream", stream(), storage_class="INTELLIGENT_TIERING")
    found = {key: (await store.head(key)).storage_class for key in ("bytes", "path", "stream")}
    assert found == {"bytes": "ONEZONE_IA", "path": "GLACIER_IR", "stream": "INTELLIGENT_TIERING"}


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["glacier", "DEEP-ARCHIVE", "", "COLD"])
async def test_unknown_storage_class_is_refused_before_anything_is_stored(
    store: ObjectStore, name: str
) -> None:
    with pytest.raises(InvalidStorageClassError, match=f"unknown storage class {name!r}"):
        await store.put("never", b"x", storage_class=name)
    with pytest.raises(ValueError, match="DEEP_ARCHIVE"):  # the message lists S3's names
        await store.upload("never", b"x", storage_class=name)
    with pytest.raises(NoSuchKeyError):
        await store.head("never")


@pytest.mark.asyncio
async def test_overwrite_takes_the_new_storage_class(store: ObjectStore) -> None:
    await store.put("k", b"one", storage_class="GLACIER")
    await store.put("k", b"two")
    assert (await store.head("k")).storage_class == "STANDARD"


# -- missing keys -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_missing_key_errors_name_the_key(store: ObjectStore) -> None:
    await store.put("present/x", b"x")
    for key in ["absent", "present", "present/", "present/x/y"]:
        with pytest.raises(NoSuchKeyError) as head_error:
            await store.head(key)
        with pytest.raises(NoSuchKeyError) as range_error:
            await store.get_range(key, 0, 10)
        with pytest.raises(NoSuchKeyError) as get_error:
            await read_all(store, key)
        for error in (head_error.value, range_error.value, get_error.value):
            assert key in str(error)
            assert error.key == key  # as the caller named it, relative to the prefix
            assert "\n" not in str(error)


# -- upload sources ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_upload_bytes(store: ObjectStore) -> None:
    data = payload(100_000, seed=11)
    info = await store.upload("up/bytes", data, metadata={"src": "bytes"})
    assert (info.size, info.etag) == (len(data), md5(data))
    assert dict((await store.head("up/bytes")).metadata) == {"src": "bytes"}
    assert sha(await read_all(store, "up/bytes")) == sha(data)


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [0, 1, 3 * MiB + 1])
async def test_upload_path(store: ObjectStore, tmp_path: Path, size: int) -> None:
    data = payload(size, seed=12)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    info = await store.upload("up/path", source)
    assert info.size == size
    head = await store.head("up/path")
    assert head.size == size
    assert head.etag == md5(data)
    assert sha(await read_all(store, "up/path")) == sha(data)


@pytest.mark.asyncio
async def test_upload_large_path_is_byte_identical(store: ObjectStore, tmp_path: Path) -> None:
    """Large enough that S3Store goes multipart (over the 16 MiB default threshold)."""
    data = payload(20 * MiB + 17, seed=13)
    source = tmp_path / "large.bin"
    source.write_bytes(data)
    info = await store.upload("up/large", source, metadata={"kind": "large"})
    assert info.size == len(data)
    head = await store.head("up/large")
    assert head.size == len(data)
    assert dict(head.metadata) == {"kind": "large"}
    if "-" in head.etag:  # multipart: md5 of the part md5s, then "-<parts>"
        assert head.etag.split("-")[1].isdigit()
    else:
        assert head.etag == md5(data)
    assert sha(await read_all(store, "up/large")) == sha(data)


@pytest.mark.asyncio
async def test_upload_async_iterator_of_unknown_length(store: ObjectStore) -> None:
    pieces = [payload(n, seed=n) for n in (1, 0, 70_000, 5, 1 * MiB + 3, 0, 2)]

    async def stream() -> AsyncIterator[bytes]:
        for piece in pieces:
            await asyncio.sleep(0)
            yield piece

    data = b"".join(pieces)
    info = await store.upload("up/stream", stream(), metadata={"src": "stream"})
    assert info.size == len(data)
    head = await store.head("up/stream")
    assert (head.size, dict(head.metadata)) == (len(data), {"src": "stream"})
    assert sha(await read_all(store, "up/stream")) == sha(data)


@pytest.mark.asyncio
async def test_upload_empty_async_iterator_makes_an_empty_object(store: ObjectStore) -> None:
    async def nothing() -> AsyncIterator[bytes]:
        chunks: list[bytes] = []
        for chunk in chunks:
            yield chunk

    await store.upload("up/none", nothing())
    info = await store.head("up/none")
    assert (info.size, info.etag) == (0, EMPTY_MD5)


@pytest.mark.asyncio
async def test_failing_stream_stores_nothing(store: ObjectStore) -> None:
    await store.put("up/keep", b"previous version")

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial data"
        raise OSError("source went away")

    with pytest.raises(OSError, match="source went away"):
        await store.upload("up/keep", broken())
    with pytest.raises(OSError, match="source went away"):
        await store.upload("up/new", broken())
    assert await read_all(store, "up/keep") == b"previous version"
    assert await keys_of(store, "up/") == ["up/keep"]


@pytest.mark.asyncio
async def test_concurrent_writers_of_distinct_keys(store: ObjectStore) -> None:
    blobs = {f"par/{i}": payload(10_000 + i, seed=i) for i in range(40)}
    await asyncio.gather(*(store.put(key, data) for key, data in blobs.items()))
    for key, data in blobs.items():
        assert (await store.head(key)).etag == md5(data)
    assert await keys_of(store, "par/") == s3_sorted(list(blobs))
