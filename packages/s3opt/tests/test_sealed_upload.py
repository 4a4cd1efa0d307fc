"""``upload(..., on_sealed=hook)``: the hook sees the object's info before it exists, and the
object appears only after the hook returned.

Every test runs on a LocalStore and on an S3Store talking to moto over real HTTP (5 MiB
parts, multipart from 5 MiB). The info the hook gets is compared with the one the upload
returns, and with digests of the bytes computed here (MD5-of-MD5s for a multipart ETag,
each part's SHA-256). While the hook waits, the object must be absent (HEAD, LIST); on
S3 its bytes must already be stored as parts of a pending multipart upload.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from s3opt.config import S3Config
from s3opt.errors import NoSuchKeyError
from s3opt.local import LocalStore
from s3opt.protocols import ObjectInfo, Source
from s3opt.s3store import S3Store

MiB = 2**20
PART = 5 * MiB


def payload(size: int, seed: int = 3) -> bytes:
    return random.Random(seed).randbytes(size)


async def chunks_of(data: bytes) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), MiB):
        yield data[offset : offset + MiB]


def sources(data: bytes, tmp_path: Path) -> dict[str, Callable[[], Source]]:
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    return {"bytes": lambda: data, "file": lambda: path, "stream": lambda: chunks_of(data)}


def expected_etag(store: S3Store | LocalStore, data: bytes) -> str:
    """S3's ETag for ``data`` sent in 5 MiB parts (a multipart upload even when it is one
    part short of a multipart threshold); a LocalStore's is the MD5 of the bytes."""
    if isinstance(store, LocalStore):
        return hashlib.md5(data, usedforsecurity=False).hexdigest()
    md5s = [
        hashlib.md5(data[offset : offset + PART], usedforsecurity=False).digest()
        for offset in range(0, len(data), PART)
    ]
    return f"{hashlib.md5(b''.join(md5s), usedforsecurity=False).hexdigest()}-{len(md5s)}"


async def absent(store: S3Store | LocalStore, key: str) -> bool:
    try:
        await store.head(key)
    except NoSuchKeyError:
        return not [info async for info in store.list(key)]
    return False


def stored_part_bytes(boto3_client: Any, bucket: str, key: str) -> int:
    """Bytes in the parts of the pending multipart upload to ``key`` (0 until it exists)."""
    uploads = boto3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    found = [u for u in uploads if u["Key"] == key]
    if not found:
        return 0
    (upload,) = found
    parts = boto3_client.list_parts(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
    return sum(int(part["Size"]) for part in parts.get("Parts", []))


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["bytes", "file", "stream"])
@pytest.mark.parametrize("size", [100_000, 2 * PART + 321])
async def test_the_hook_is_told_the_info_the_upload_returns(
    either_store: S3Store | LocalStore, tmp_path: Path, kind: str, size: int
) -> None:
    data = payload(size)
    told: list[ObjectInfo] = []

    async def hook(info: ObjectInfo) -> None:
        told.append(info)

    source = sources(data, tmp_path)[kind]()
    info = await either_store.upload("obj", source, on_sealed=hook)

    (sealed,) = told
    assert (sealed.key, sealed.size, sealed.etag) == (
        "obj",
        size,
        expected_etag(either_store, data),
    )
    assert (sealed.key, sealed.size, sealed.etag, sealed.parts) == (
        info.key,
        info.size,
        info.etag,
        info.parts,
    )
    if isinstance(either_store, S3Store):
        assert [(p.number, p.size, p.checksum) for p in sealed.parts] == [
            (n + 1, len(piece), "sha256:" + hashlib.sha256(piece).hexdigest())
            for n, offset in enumerate(range(0, size, PART))
            for piece in [data[offset : offset + PART]]
        ]
    else:
        assert sealed.checksum == info.checksum == "sha256:" + hashlib.sha256(data).hexdigest()
    stored = b"".join([chunk async for chunk in either_store.get("obj")])
    assert stored == data


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [100_000, 2 * PART + 321])
async def test_the_object_appears_only_after_the_hook_returned(
    either_store: S3Store | LocalStore, bucket: str, boto3_client: Any, size: int
) -> None:
    data = payload(size)
    sealed = asyncio.Event()
    release = asyncio.Event()

    async def hook(info: ObjectInfo) -> None:
        sealed.set()
        await release.wait()

    upload = asyncio.create_task(either_store.upload("obj", chunks_of(data), on_sealed=hook))
    await asyncio.wait_for(sealed.wait(), 30)
    if isinstance(either_store, S3Store):
        # The bytes travel while the hook waits: every part gets stored before it returns.
        async with asyncio.timeout(30):
            while await asyncio.to_thread(stored_part_bytes, boto3_client, bucket, "p/obj") < size:
                await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert not upload.done()
    assert await absent(either_store, "obj")

    release.set()
    info = await asyncio.wait_for(upload, 30)
    assert (await either_store.head("obj")).etag == info.etag
    assert b"".join([chunk async for chunk in either_store.get("obj")]) == data


class HookRefusedError(Exception):
    """What the test hook raises."""


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [0, 100_000, 2 * PART + 321])
async def test_a_hook_that_raises_leaves_nothing_stored(
    either_store: S3Store | LocalStore, bucket: str, boto3_client: Any, tmp_path: Path, size: int
) -> None:
    async def hook(info: ObjectInfo) -> None:
        raise HookRefusedError(f"not {info.size} bytes")

    with pytest.raises(HookRefusedError, match=f"not {size} bytes"):
        await either_store.upload("obj", chunks_of(payload(size)), on_sealed=hook)
    assert await absent(either_store, "obj")
    if isinstance(either_store, S3Store):
        assert boto3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    else:
        assert [p.name for p in (tmp_path / "root").rglob("*") if p.is_file()] == []


@pytest.mark.asyncio
async def test_an_empty_source_is_put_after_the_hook(
    either_store: S3Store | LocalStore,
) -> None:
    release = asyncio.Event()
    told: list[ObjectInfo] = []

    async def hook(info: ObjectInfo) -> None:
        told.append(info)
        await release.wait()

    upload = asyncio.create_task(either_store.upload("empty", b"", on_sealed=hook))
    async with asyncio.timeout(30):
        while not told:
            await asyncio.sleep(0.01)
    assert (told[0].size, told[0].etag) == (0, hashlib.md5(b"", usedforsecurity=False).hexdigest())
    assert await absent(either_store, "empty")
    release.set()
    info = await asyncio.wait_for(upload, 30)
    assert (info.size, info.etag) == (0, told[0].etag)
    assert (await either_store.head("empty")).size == 0


@pytest.mark.asyncio
async def test_a_stream_with_a_hook_creates_its_upload_at_its_first_byte(
    s3_config: S3Config, bucket: str, boto3_client: Any
) -> None:
    """Without a hook a stream is buffered up to the multipart threshold (8 MiB) before
    anything is sent; with one, any byte means multipart, so CreateMultipartUpload goes
    while the first part fills."""
    created_before_the_second_chunk: list[bool] = []

    async def stream() -> AsyncIterator[bytes]:
        yield payload(MiB)
        async with asyncio.timeout(10):
            while not boto3_client.list_multipart_uploads(Bucket=bucket).get("Uploads"):
                await asyncio.sleep(0.05)
        created_before_the_second_chunk.append(True)
        yield payload(MiB, seed=4)

    async def hook(info: ObjectInfo) -> None:
        pass

    async with S3Store.open(f"s3://{bucket}/", s3_config) as store:
        info = await store.upload("obj", stream(), on_sealed=hook)
    assert created_before_the_second_chunk == [True]
    assert info.size == 2 * MiB
