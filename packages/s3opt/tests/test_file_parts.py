"""Uploads from a file never hold a part in memory: parts are hashed from the file and
sent from it (``FilePart``), and over plain http their bodies are not hashed a third
time for the signature (they travel with Content-MD5 and x-amz-checksum-sha256)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from s3opt.config import S3Config
from s3opt.errors import SourceChangedError
from s3opt.s3store import S3Store
from s3opt.transfer.bodies import FilePart

MiB = 2**20


class ShrankError(Exception):
    pass


def _part(path: Path, data: bytes, offset: int, length: int) -> tuple[int, FilePart]:
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    return fd, FilePart(fd, offset, length, ShrankError)


def test_file_part_reads_and_hashes_its_span_of_the_file(tmp_path: Path) -> None:
    data = os.urandom(3 * MiB + 5)
    fd, part = _part(tmp_path / "f", data, MiB + 3, 2 * MiB)
    try:
        span = data[MiB + 3 : 3 * MiB + 3]
        digest = part.digest()
        assert digest.md5 == hashlib.md5(span).digest()
        assert digest.sha256 == hashlib.sha256(span).digest()
        body = part.body()
        assert len(body) == len(part) == 2 * MiB
        assert body.read(1000) == span[:1000]
        assert body.tell() == 1000
        assert body.seek(0, os.SEEK_END) == 2 * MiB  # how botocore measures a body
        assert body.read() == b""
        body.seek(0)  # what a retry does
        assert body.read() == span
        buffer = bytearray(10)
        body.seek(5)
        assert body.readinto(buffer) == 10
        assert bytes(buffer) == span[5:15]
    finally:
        os.close(fd)


def test_file_part_of_a_file_that_shrank_raises_the_given_error(tmp_path: Path) -> None:
    path = tmp_path / "f"
    fd, part = _part(path, os.urandom(2 * MiB), MiB, MiB)
    try:
        os.truncate(path, MiB)
        with pytest.raises(ShrankError):
            part.digest()
        with pytest.raises(ShrankError):
            part.body().read()
    finally:
        os.close(fd)


def _config(s3_config: S3Config) -> S3Config:
    return s3_config.model_copy(
        update={"part_size_min": 5 * MiB, "multipart_threshold": 5 * MiB, "controller": "fixed:4"}
    )


@pytest.mark.asyncio
async def test_file_upload_holds_no_part_in_memory(
    s3_config: S3Config, bucket: str, boto3_client: Any, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    data = os.urandom(8 * 5 * MiB + 123)
    source.write_bytes(data)
    expected = hashlib.sha256(data).digest()
    del data
    async with S3Store.open(f"s3://{bucket}", _config(s3_config)) as store:
        tracemalloc.start()
        try:
            await store.upload("big", source)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert store.stats.parts_sent == 9
    body = boto3_client.get_object(Bucket=bucket, Key="big")["Body"].read()
    assert hashlib.sha256(body).digest() == expected
    # Four 5 MiB parts in flight plus two read ahead held 30 MiB when parts were read
    # whole; read from the file as they are hashed and sent, no part is ever held.
    assert peak < 5 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"


@pytest.mark.asyncio
async def test_file_changed_between_hashing_and_sending_is_refused(
    s3_config: S3Config,
    bucket: str,
    boto3_client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "src"
    source.write_bytes(os.urandom(2 * 5 * MiB))
    real_digest = FilePart.digest

    def digest_then_change(part: FilePart) -> Any:
        digest = real_digest(part)
        with source.open("r+b") as handle:  # after hashing, before sending
            handle.seek(part.offset)
            handle.write(b"changed!")
        return digest

    monkeypatch.setattr(FilePart, "digest", digest_then_change)
    async with S3Store.open(f"s3://{bucket}", _config(s3_config)) as store:
        with pytest.raises(SourceChangedError) as caught:
            await store.upload("changing", source)
        assert caught.value.key == "changing"
        assert not await store.exists("changing")
    assert boto3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.asyncio
async def test_checksummed_bodies_are_not_hashed_again_for_the_signature(
    s3_config: S3Config,
    bucket: str,
    boto3_client: Any,
    tmp_path: Path,
    sent_requests: list[tuple[str, dict[str, str]]],
) -> None:
    source = tmp_path / "src"
    data = os.urandom(2 * 5 * MiB + 1)
    source.write_bytes(data)
    async with S3Store.open(f"s3://{bucket}", _config(s3_config)) as store:
        await store.upload("multi", source)
        await store.put("single", b"small object")
    payload = {op: headers["x-amz-content-sha256"] for op, headers in sent_requests}
    assert [op for op, _ in sent_requests].count("UploadPart") == 3
    for op, headers in sent_requests:
        if op in ("UploadPart", "PutObject"):
            assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
            assert "content-md5" in headers
            assert "x-amz-checksum-sha256" in headers
    # A body without both checksums is still signed by its SHA-256 over http.
    completion = payload["CompleteMultipartUpload"]
    assert completion != "UNSIGNED-PAYLOAD"
    assert len(completion) == 64
    assert boto3_client.get_object(Bucket=bucket, Key="multi")["Body"].read() == data
    assert boto3_client.get_object(Bucket=bucket, Key="single")["Body"].read() == b"small object"
