"""S3Store's catalogue operations against moto over real HTTP: head, put, list, delete, copy."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from opsmetrics.testing import MetricsRecorder
from s3opt.config import S3Config
from s3opt.errors import InvalidKeyError, InvalidS3UrlError, NoSuchBucketError, NoSuchKeyError
from s3opt.protocols import CommonPrefix, ObjectInfo, ObjectStore
from s3opt.s3store import S3Store
from s3opt.url import S3Url

MiB = 2**20


@asynccontextmanager
async def _store(
    config: S3Config, url: str, recorder: MetricsRecorder | None = None
) -> AsyncIterator[S3Store]:
    metrics = recorder.metrics if recorder is not None else None
    async with S3Store.open(url, config, metrics=metrics) as store:
        yield store


@pytest.mark.asyncio
async def test_store_satisfies_the_object_store_protocol(s3_config: S3Config, bucket: str) -> None:
    async with _store(s3_config, f"s3://{bucket}/p") as store:
        assert isinstance(store, ObjectStore)
        assert store.url == S3Url(bucket, "p")
        assert store.bucket == bucket
        assert "testing" not in repr(store)
        assert str(store) == f"s3://{bucket}/p"  # how messages name it
        # The pool (max_connections) stays above what the limiter may use.
        assert store.limiter.max_ops is not None
        assert store.limiter.max_ops < s3_config.max_connections


@pytest.mark.parametrize("url", ["s3://Bad_Bucket/x", "s3://", "http://bucket/x", "s3://ab"])
def test_malformed_url_is_refused_before_any_request(s3_config: S3Config, url: str) -> None:
    with pytest.raises((InvalidS3UrlError, ValueError)):
        S3Store.open(url, s3_config)


@pytest.mark.asyncio
async def test_put_and_head_keep_metadata(s3_config: S3Config, bucket: str) -> None:
    data = b"hello, s3opt"
    async with _store(s3_config, f"s3://{bucket}/meta/") as store:
        info = await store.put("greeting.txt", data, metadata={"owner": "m", "kind": "text"})
        assert info == ObjectInfo(
            key="greeting.txt",
            size=len(data),
            etag=hashlib.md5(data).hexdigest(),
            storage_class="STANDARD",
            metadata={"owner": "m", "kind": "text"},
            checksum="sha256:" + hashlib.sha256(data).hexdigest(),
        )
        head = await store.head("greeting.txt")
        assert (head.key, head.size, head.etag) == ("greeting.txt", len(data), info.etag)
        assert dict(head.metadata) == {"owner": "m", "kind": "text"}
        assert head.last_modified is not None
        assert head.checksum == "sha256:" + hashlib.sha256(data).hexdigest()
        assert await store.get_range("greeting.txt", 0, 100) == data
        assert await store.exists("greeting.txt")
        assert not await store.exists("other.txt")


@pytest.mark.asyncio
async def test_keys_are_relative_to_the_prefix(s3_config: S3Config, bucket: str) -> None:
    async with _store(s3_config, f"s3://{bucket}/a/b") as inner:
        await inner.put("k", b"1")
    async with _store(s3_config, f"s3://{bucket}/a") as outer:
        assert [i.key async for i in outer.list()] == ["b/k"]
        assert (await outer.head("b/k")).size == 1


@pytest.mark.asyncio
async def test_list_pages_through_every_object_in_key_order(
    s3_config: S3Config, bucket: str
) -> None:
    keys = ["a", "a/x", "b", "c/d/e", "c/z", "d"]
    recorder = MetricsRecorder()
    async with _store(s3_config, f"s3://{bucket}/l", recorder) as store:
        for key in reversed(keys):
            await store.put(key, key.encode())
        listed = [info async for info in store.list(page_size=2)]
        assert [i.key for i in listed] == keys
        assert [i.size for i in listed] == [len(k) for k in keys]
        assert all(i.etag == hashlib.md5(i.key.encode()).hexdigest() for i in listed)
        assert [i.key async for i in store.list("c/")] == ["c/d/e", "c/z"]
        assert [i.key async for i in store.list("zzz")] == []
    requests = recorder.snapshot()["s3opt.requests"]
    pages = sum(v for k, v in requests.items() if "ListObjectsV2" in k and isinstance(v, int))
    assert pages == 3 + 1 + 1  # six keys in pages of two, then two single-page listings


@pytest.mark.asyncio
async def test_list_dir_gives_one_level_in_key_order(s3_config: S3Config, bucket: str) -> None:
    async with _store(s3_config, f"s3://{bucket}/t") as store:
        for key in ["dir/", "dir/a", "dir/sub/x", "dir/sub/y", "dir/sub-file", "dir/z/q", "dir0"]:
            await store.put(key, b"")
        entries = [e async for e in store.list_dir("dir/", page_size=2)]
        assert [
            (type(e).__name__, e.key if isinstance(e, ObjectInfo) else e.prefix) for e in entries
        ] == [
            ("ObjectInfo", "dir/a"),
            ("ObjectInfo", "dir/sub-file"),
            ("CommonPrefix", "dir/sub/"),
            ("CommonPrefix", "dir/z/"),
        ]
        top = [e async for e in store.list_dir()]
        assert top == [CommonPrefix("dir/"), *[e for e in top if isinstance(e, ObjectInfo)]]
        assert [e.key for e in top if isinstance(e, ObjectInfo)] == ["dir0"]


@pytest.mark.asyncio
async def test_delete_runs_in_batches_of_1000(s3_config: S3Config, bucket: str) -> None:
    recorder = MetricsRecorder()
    async with _store(s3_config, f"s3://{bucket}/del", recorder) as store:
        present = [f"k{n:04d}" for n in range(0, 2345, 500)]
        for key in present:
            await store.put(key, b"x")
        await store.put("keep", b"y")
        await store.delete(f"k{n:04d}" for n in range(2345))  # mostly absent: not an error
        assert [i.key async for i in store.list()] == ["keep"]
        await store.delete([])
    requests = recorder.snapshot()["s3opt.requests"]
    batches = sum(v for k, v in requests.items() if "DeleteObjects" in k and isinstance(v, int))
    assert batches == 3


@pytest.mark.asyncio
async def test_copy_keeps_content_and_metadata(s3_config: S3Config, bucket: str) -> None:
    data = os.urandom(1234)
    async with _store(s3_config, f"s3://{bucket}/cp") as store:
        await store.put("src", data, metadata={"m": "1"})
        info = await store.copy("src", "dst")
        assert (info.key, info.size, info.etag) == ("dst", len(data), hashlib.md5(data).hexdigest())
        assert dict(info.metadata) == {"m": "1"}
        assert await store.get_range("dst", 0, 2000) == data


@pytest.mark.asyncio
async def test_multipart_copy_above_the_threshold(s3_config: S3Config, bucket: str) -> None:
    data = os.urandom(2 * 5 * MiB + 77)
    async with _store(s3_config, f"s3://{bucket}/cp") as store:
        await store.upload("big", data, metadata={"m": "2"})
        info = await store.copy("big", "big-copy", multipart_threshold=5 * MiB, part_size=5 * MiB)
        md5s = [hashlib.md5(data[o : o + 5 * MiB]).digest() for o in range(0, len(data), 5 * MiB)]
        assert info.etag == hashlib.md5(b"".join(md5s)).hexdigest() + "-3"
        assert info.size == len(data)
        head = await store.head("big-copy")
        assert dict(head.metadata) == {"m": "2"}
        copied = b"".join([chunk async for chunk in store.get("big-copy")])
        assert hashlib.sha256(copied).digest() == hashlib.sha256(data).digest()
        assert await store.pending_uploads() == []


@pytest.mark.asyncio
async def test_copy_of_a_missing_key_is_typed(s3_config: S3Config, bucket: str) -> None:
    async with _store(s3_config, f"s3://{bucket}/cp") as store:
        with pytest.raises(NoSuchKeyError) as caught:
            await store.copy("absent", "dst")
        assert (caught.value.bucket, caught.value.key) == (
            bucket,
            "absent",
        )  # relative to the store prefix


@pytest.mark.asyncio
async def test_pending_uploads_and_abort(s3_config: S3Config, bucket: str) -> None:
    from s3opt.transfer.multipart import MultipartUpload

    async with _store(s3_config, f"s3://{bucket}/mp") as store:
        upload = await MultipartUpload.create(store._context, "mp/left-over", None)
        [pending] = await store.pending_uploads()
        assert (pending.key, pending.upload_id) == ("left-over", upload.upload_id)
        await store.abort_upload("left-over", upload.upload_id)
        await store.abort_upload("left-over", upload.upload_id)  # already gone: fine
        assert await store.pending_uploads() == []


@pytest.mark.asyncio
async def test_bad_arguments_are_refused(s3_config: S3Config, bucket: str, tmp_path: Path) -> None:
    async with _store(s3_config, f"s3://{bucket}") as store:
        with pytest.raises(ValueError, match="resume_state needs a local file"):
            await store.upload("k", b"x", resume_state=tmp_path / "s")
        bad: Any = 42
        with pytest.raises(TypeError, match="upload source must be"):
            await store.upload("k", bad)
        with pytest.raises(InvalidKeyError, match="is empty"):
            await store.head("")
        with pytest.raises(ValueError, match="page_size"):
            [i async for i in store.list(page_size=0)]


@pytest.mark.asyncio
async def test_listing_a_missing_bucket_is_typed(s3_config: S3Config, bucket: str) -> None:
    async with _store(s3_config, f"s3://{bucket}-gone/p") as store:
        with pytest.raises(NoSuchBucketError) as caught:
            [i async for i in store.list()]
        assert caught.value.bucket == f"{bucket}-gone"
        with pytest.raises(NoSuchBucketError):
            await store.delete(["a"])


@pytest.mark.asyncio
async def test_keys_s3_would_refuse_are_refused_before_sending(
    s3_config: S3Config, bucket: str
) -> None:
    # S3's limit is 1024 UTF-8 bytes for the full key: "p/" plus 1022 fits, 1023 does not.
    async with _store(s3_config, f"s3://{bucket}/p") as store:
        await store.put("k" * 1022, b"fits")
        assert (await store.head("k" * 1022)).size == 4
        for key in ["", "k" * 1023, "é" * 512]:
            with pytest.raises(InvalidKeyError, match=f"refused by s3://{bucket}/p") as caught:
                await store.put(key, b"x")
            assert isinstance(caught.value, ValueError)
        assert [info.key async for info in store.list()] == ["k" * 1022]
