"""Server-side copy that replaces user metadata (MetadataDirective REPLACE), on both stores
and against moto over real HTTP; what S3 holds afterwards is read back with boto3."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from s3opt.config import S3Config
from s3opt.errors import NoSuchKeyError
from s3opt.local import LocalStore
from s3opt.s3store import S3Store

MiB = 2**20


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


async def _read(store: S3Store | LocalStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.get(key)])


# -- both stores -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_copy_with_metadata_replaces_it_and_keeps_the_bytes(
    either_store: S3Store | LocalStore,
) -> None:
    data = os.urandom(3000)
    await either_store.put("src", data, metadata={"mode": "0644", "uid": "1000"})
    info = await either_store.copy("src", "dst", metadata={"mode": "0600"})
    assert (info.key, info.size, info.etag) == ("dst", len(data), _md5(data))
    assert dict(info.metadata) == {"mode": "0600"}
    assert dict((await either_store.head("dst")).metadata) == {"mode": "0600"}
    assert await _read(either_store, "dst") == data
    # The source is untouched.
    assert dict((await either_store.head("src")).metadata) == {"mode": "0644", "uid": "1000"}


@pytest.mark.asyncio
async def test_copy_onto_itself_changes_only_the_metadata(
    either_store: S3Store | LocalStore,
) -> None:
    data = os.urandom(2048)
    await either_store.put(
        "f", data, metadata={"mode": "0644"}, storage_class="STANDARD_IA", tags={"t": "1"}
    )
    info = await either_store.copy("f", "f", metadata={"mode": "0755", "mtime": "1700000000"})
    head = await either_store.head("f")
    assert dict(head.metadata) == {"mode": "0755", "mtime": "1700000000"}
    assert head.etag == info.etag == _md5(data)
    assert head.storage_class == "STANDARD_IA"  # kept, not reset to STANDARD
    assert await either_store.object_tags("f") == {"t": "1"}
    assert await _read(either_store, "f") == data
    # An empty mapping clears the metadata (REPLACE with nothing).
    await either_store.copy("f", "f", metadata={})
    assert dict((await either_store.head("f")).metadata) == {}


@pytest.mark.asyncio
async def test_copy_without_metadata_keeps_the_sources_and_is_standard(
    either_store: S3Store | LocalStore,
) -> None:
    await either_store.put("src", b"abc", metadata={"m": "1"}, storage_class="STANDARD_IA")
    await either_store.copy("src", "dst")
    head = await either_store.head("dst")
    assert (dict(head.metadata), head.storage_class) == ({"m": "1"}, "STANDARD")


@pytest.mark.asyncio
async def test_copy_with_metadata_of_a_missing_key_names_it(
    either_store: S3Store | LocalStore,
) -> None:
    with pytest.raises(NoSuchKeyError) as caught:
        await either_store.copy("absent", "absent", metadata={"m": "1"})
    assert caught.value.key == "absent"


# -- S3 headers beyond what s3opt writes -----------------------------------------------------


@pytest.mark.asyncio
async def test_s3_copy_keeps_content_type_storage_class_and_tags(
    s3_config: S3Config, bucket: str, boto3_client: Any
) -> None:
    data = os.urandom(1500)
    boto3_client.put_object(
        Bucket=bucket,
        Key="cp/src",
        Body=data,
        ContentType="text/csv",
        ContentEncoding="identity",
        Metadata={"mode": "0644"},
        StorageClass="STANDARD_IA",
        Tagging="team=ops",
    )
    async with S3Store.open(f"s3://{bucket}/cp", s3_config) as store:
        await store.copy("src", "src", metadata={"mode": "0600"})
    head = boto3_client.head_object(Bucket=bucket, Key="cp/src")
    assert head["Metadata"] == {"mode": "0600"}
    assert head["ContentType"] == "text/csv"
    assert head["ContentEncoding"] == "identity"
    assert head["StorageClass"] == "STANDARD_IA"
    assert boto3_client.get_object(Bucket=bucket, Key="cp/src")["Body"].read() == data
    tags = boto3_client.get_object_tagging(Bucket=bucket, Key="cp/src")["TagSet"]
    assert tags == [{"Key": "team", "Value": "ops"}]


@pytest.mark.asyncio
async def test_multipart_copy_with_metadata_carries_it_on_create(
    s3_config: S3Config, bucket: str, boto3_client: Any
) -> None:
    data = os.urandom(2 * 5 * MiB + 77)
    boto3_client.put_object(
        Bucket=bucket,
        Key="cp/big",
        Body=data,
        ContentType="application/zstd",
        Metadata={"old": "1"},
        StorageClass="STANDARD_IA",
        Tagging="kind=archive",
    )
    async with S3Store.open(f"s3://{bucket}/cp", s3_config) as store:
        info = await store.copy(
            "big", "copy", metadata={"new": "2"}, multipart_threshold=5 * MiB, part_size=5 * MiB
        )
        assert await store.pending_uploads() == []
    md5s = [hashlib.md5(data[o : o + 5 * MiB]).digest() for o in range(0, len(data), 5 * MiB)]
    assert info.etag == hashlib.md5(b"".join(md5s)).hexdigest() + "-3"
    head = boto3_client.head_object(Bucket=bucket, Key="cp/copy")
    assert head["Metadata"] == {"new": "2"}
    assert head["ContentType"] == "application/zstd"
    assert head["StorageClass"] == "STANDARD_IA"
    body = boto3_client.get_object(Bucket=bucket, Key="cp/copy")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    tags = boto3_client.get_object_tagging(Bucket=bucket, Key="cp/copy")["TagSet"]
    assert tags == [{"Key": "kind", "Value": "archive"}]


@pytest.mark.asyncio
async def test_multipart_copy_without_metadata_keeps_the_sources_tags(
    s3_config: S3Config, bucket: str, boto3_client: Any
) -> None:
    data = os.urandom(5 * MiB + 1)
    boto3_client.put_object(
        Bucket=bucket, Key="cp/big", Body=data, Metadata={"old": "1"}, Tagging="a=1&b=2"
    )
    async with S3Store.open(f"s3://{bucket}/cp", s3_config) as store:
        await store.copy("big", "copy", multipart_threshold=5 * MiB, part_size=5 * MiB)
    assert boto3_client.head_object(Bucket=bucket, Key="cp/copy")["Metadata"] == {"old": "1"}
    tags = boto3_client.get_object_tagging(Bucket=bucket, Key="cp/copy")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "2")]
