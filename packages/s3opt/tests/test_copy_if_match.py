"""``copy(..., source_if_match=etag)``: only the named version of the source is copied.

Both stores refuse a source with another ETag (ObjectChangedError, nothing written).
Against moto over real HTTP, the requests themselves are checked too: every request
that reads the source carries ``x-amz-copy-source-if-match`` with the caller's ETag
(moto 5.2.5 ignores the header; real S3 answers 412 PreconditionFailed).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from s3opt.config import S3Config
from s3opt.errors import NoSuchKeyError, ObjectChangedError
from s3opt.local import LocalStore
from s3opt.s3store import S3Store

MiB = 2**20
HEADER = "x-amz-copy-source-if-match"


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


async def _read(store: S3Store | LocalStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.get(key)])


@pytest.mark.asyncio
async def test_copy_of_the_named_version_is_done(either_store: S3Store | LocalStore) -> None:
    data = os.urandom(3000)
    await either_store.put("f", data, metadata={"mode": "0644"})
    info = await either_store.copy("f", "f", metadata={"mode": "0600"}, source_if_match=_md5(data))
    assert info.etag == _md5(data)
    assert dict((await either_store.head("f")).metadata) == {"mode": "0600"}
    # Quoted, as S3 writes ETags, works the same.
    await either_store.copy("f", "g", source_if_match=f'"{_md5(data)}"')
    assert await _read(either_store, "g") == data


@pytest.mark.asyncio
async def test_copy_of_a_replaced_source_is_refused_and_writes_nothing(
    either_store: S3Store | LocalStore,
) -> None:
    old = os.urandom(2000)
    new = os.urandom(2100)
    await either_store.put("f", old, metadata={"mode": "0644"})
    await either_store.put("f", new, metadata={"writer": "other"})
    with pytest.raises(ObjectChangedError) as caught:
        await either_store.copy("f", "f", metadata={"mode": "0600"}, source_if_match=_md5(old))
    assert caught.value.key == "f"
    assert caught.value.code == "PreconditionFailed"
    head = await either_store.head("f")
    assert (head.etag, dict(head.metadata)) == (_md5(new), {"writer": "other"})
    with pytest.raises(ObjectChangedError):
        await either_store.copy("f", "elsewhere", source_if_match=_md5(old))
    with pytest.raises(NoSuchKeyError):
        await either_store.head("elsewhere")


@pytest.mark.asyncio
async def test_the_callers_etag_travels_on_copy_object(
    s3_config: S3Config,
    bucket: str,
    boto3_client: Any,
    sent_requests: list[tuple[str, dict[str, str]]],
) -> None:
    data = os.urandom(1000)
    boto3_client.put_object(Bucket=bucket, Key="cp/f", Body=data)
    async with S3Store.open(f"s3://{bucket}/cp", s3_config) as store:
        await store.copy("f", "f", metadata={"mode": "0600"}, source_if_match=_md5(data))
    copies = [(op, headers.get(HEADER)) for op, headers in sent_requests if "Copy" in op]
    assert copies == [("CopyObject", f'"{_md5(data)}"')]
    assert boto3_client.head_object(Bucket=bucket, Key="cp/f")["Metadata"] == {"mode": "0600"}


@pytest.mark.asyncio
async def test_the_callers_etag_travels_on_every_part_copy(
    s3_config: S3Config,
    bucket: str,
    boto3_client: Any,
    sent_requests: list[tuple[str, dict[str, str]]],
) -> None:
    data = os.urandom(2 * 5 * MiB + 5)
    boto3_client.put_object(Bucket=bucket, Key="cp/big", Body=data)
    async with S3Store.open(f"s3://{bucket}/cp", s3_config) as store:
        await store.copy(
            "big",
            "copy",
            source_if_match=_md5(data),
            multipart_threshold=5 * MiB,
            part_size=5 * MiB,
        )
    copies = [headers for op, headers in sent_requests if "Copy" in op]
    assert [op for op, _ in sent_requests if "Copy" in op] == ["UploadPartCopy"] * 3
    assert {headers.get(HEADER) for headers in copies} == {f'"{_md5(data)}"'}
    body = boto3_client.get_object(Bucket=bucket, Key="cp/copy")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
