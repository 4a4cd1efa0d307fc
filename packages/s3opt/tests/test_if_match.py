"""Conditional ranged reads: ``get_range(..., if_match=etag)`` on both stores, and how moto
answers If-Match on a ranged GET over real HTTP (412 PreconditionFailed, not retried)."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from opsmetrics.testing import MetricsRecorder
from s3opt.config import S3Config
from s3opt.errors import ChecksumMismatchError, NoSuchKeyError, ObjectChangedError, S3OptError
from s3opt.local import LocalStore
from s3opt.s3store import S3Store

MiB = 2**20


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@pytest.mark.asyncio
async def test_range_of_the_named_version_is_read(either_store: S3Store | LocalStore) -> None:
    await either_store.put("k", b"0123456789")
    assert await either_store.get_range("k", 2, 5, if_match=_md5(b"0123456789")) == b"23456"
    # The ETag as S3 spells it in headers, quoted, is the same ETag.
    assert await either_store.get_range("k", 8, 5, if_match=f'"{_md5(b"0123456789")}"') == b"89"


@pytest.mark.asyncio
async def test_overwritten_object_raises_object_changed(
    either_store: S3Store | LocalStore,
) -> None:
    old, new = b"old bytes!", b"new bytes!"  # the same size: only the ETag tells them apart
    await either_store.put("dir/k", old)
    await either_store.put("dir/k", new)
    with pytest.raises(ObjectChangedError) as caught:
        await either_store.get_range("dir/k", 0, 3, if_match=_md5(old))
    error = caught.value
    assert error.key == "dir/k"
    assert error.code == "PreconditionFailed"
    assert isinstance(error, S3OptError)
    assert not isinstance(error, ChecksumMismatchError)
    assert await either_store.get_range("dir/k", 0, 3, if_match=_md5(new)) == b"new"
    assert await either_store.get_range("dir/k", 0, 3) == b"new"  # unconditional: as before


@pytest.mark.asyncio
async def test_missing_key_is_still_no_such_key(either_store: S3Store | LocalStore) -> None:
    with pytest.raises(NoSuchKeyError):
        await either_store.get_range("absent", 0, 1, if_match=_md5(b""))


@pytest.mark.asyncio
async def test_multipart_etag_is_matched(either_store: S3Store | LocalStore) -> None:
    data = os.urandom(5 * MiB + 100)
    info = await either_store.upload("big", data)
    # LocalStore keeps the MD5 of the bytes; S3 the MD5 of the part MD5s with a count.
    parts = [data[: 5 * MiB], data[5 * MiB :]]
    expected = (
        _md5(data)
        if isinstance(either_store, LocalStore)
        else _md5(b"".join(hashlib.md5(p).digest() for p in parts)) + "-2"
    )
    assert info.etag == expected
    assert await either_store.get_range("big", 5 * MiB, 100, if_match=expected) == data[5 * MiB :]


@pytest.mark.asyncio
async def test_s3_precondition_failure_is_not_retried(
    s3_config: S3Config, bucket: str, boto3_client: Any
) -> None:
    boto3_client.put_object(Bucket=bucket, Key="c/k", Body=b"first")
    stale = boto3_client.head_object(Bucket=bucket, Key="c/k")["ETag"].strip('"')
    boto3_client.put_object(Bucket=bucket, Key="c/k", Body=b"second")
    with MetricsRecorder() as recorder:
        async with S3Store.open(f"s3://{bucket}/c", s3_config, metrics=recorder.metrics) as store:
            with pytest.raises(ObjectChangedError, match="changed") as caught:
                await store.get_range("k", 0, 4, if_match=stale)
        requests = recorder.snapshot()["s3opt.requests"]
    assert caught.value.bucket == bucket
    gets = sum(v for k, v in requests.items() if "GetObject" in k and isinstance(v, int))
    assert gets == 1
