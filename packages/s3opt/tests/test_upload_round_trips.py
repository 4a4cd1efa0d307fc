"""A multipart upload spends no round trip it does not need: no HEAD after a completion
whose ETag proves the parts (S3 checks the size it is told), no ``100 Continue`` wait
before a part's body, and a file's parts hashed while earlier parts are on the wire.

Requests are read from the moto server's access log (what crossed the wire) or from
botocore's ``before-send`` event (the headers sent); ETags and sizes from boto3."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from s3opt.config import S3Config
from s3opt.s3store import S3Store
from s3opt.testing import MotoServer
from s3opt.transfer.bodies import FilePart
from s3opt.transfer.multipart import MultipartUpload
from s3opt.transfer.parts import digest_part
from s3opt.transfer.resume import PartRecord

MiB = 2**20


def _config(s3_config: S3Config, controller: str = "fixed:4") -> S3Config:
    return s3_config.model_copy(
        update={"part_size_min": 5 * MiB, "multipart_threshold": 5 * MiB, "controller": controller}
    )


def _requests_for(server: MotoServer, path: str, before: int) -> list[tuple[str, int]]:
    """(method, status) of the requests for ``path`` logged after the first ``before``
    (read once the server's log has settled)."""
    seen = server.requests_settled()
    return [(m, status) for m, target, status in seen[before:] if target.split("?")[0] == path]


def _md5_etag(data: bytes, part: int) -> str:
    """S3's multipart ETag, computed here from the bytes (not by s3opt)."""
    md5s = b"".join(hashlib.md5(data[i : i + part]).digest() for i in range(0, len(data), part))
    return f"{hashlib.md5(md5s).hexdigest()}-{-(-len(data) // part)}"


@pytest.mark.asyncio
async def test_a_new_upload_is_verified_without_a_head(
    moto_server: MotoServer,
    s3_config: S3Config,
    bucket: str,
    boto3_client: Any,
    tmp_path: Path,
    sent_requests: list[tuple[str, dict[str, str]]],
) -> None:
    data = os.urandom(3 * 5 * MiB + 7)
    source = tmp_path / "src"
    source.write_bytes(data)
    async with S3Store.open(f"s3://{bucket}", _config(s3_config)) as store:
        before = len(moto_server.requests_seen())
        info = await store.upload("new", source, storage_class="STANDARD_IA")
    methods = [m for m, _ in _requests_for(moto_server, f"/{bucket}/new", before)]
    assert methods == ["POST"] + ["PUT"] * 4 + ["POST"]  # create, 4 parts, complete
    head = boto3_client.head_object(Bucket=bucket, Key="new")
    assert info.etag == head["ETag"].strip('"') == _md5_etag(data, 5 * MiB)
    assert info.size == head["ContentLength"] == len(data)
    assert info.storage_class == head["StorageClass"] == "STANDARD_IA"
    assert info.last_modified is None  # as after a single PUT: no request told it
    completion = [h for op, h in sent_requests if op == "CompleteMultipartUpload"]
    assert [h.get("x-amz-mp-object-size") for h in completion] == [str(len(data))]


@pytest.mark.asyncio
async def test_an_upload_resumed_from_its_id_is_checked_with_a_head(
    moto_server: MotoServer, s3_config: S3Config, bucket: str, boto3_client: Any
) -> None:
    started = boto3_client.create_multipart_upload(
        Bucket=bucket, Key="resumed", StorageClass="STANDARD_IA", ChecksumAlgorithm="SHA256"
    )
    data = os.urandom(5 * MiB + 3)
    async with S3Store.open(f"s3://{bucket}", _config(s3_config)) as store:
        upload = MultipartUpload(store._context, "resumed", started["UploadId"])  # private
        records: list[PartRecord] = [
            await upload.send(1, data[: 5 * MiB]),
            await upload.send(2, data[5 * MiB :]),
        ]
        before = len(moto_server.requests_seen())
        info = await upload.complete(records, len(data), None)
    methods = [m for m, _ in _requests_for(moto_server, f"/{bucket}/resumed", before)]
    assert methods == ["POST", "HEAD"]
    head = boto3_client.head_object(Bucket=bucket, Key="resumed")
    # Not the caller's guess (none was given): what S3 holds.
    assert info.storage_class == head["StorageClass"] == "STANDARD_IA"
    assert info.last_modified == head["LastModified"]
    assert info.etag == head["ETag"].strip('"') == _md5_etag(data, 5 * MiB)


@pytest.mark.asyncio
async def test_parts_and_puts_do_not_wait_for_100_continue(
    s3_config: S3Config,
    bucket: str,
    boto3_client: Any,
    tmp_path: Path,
    sent_requests: list[tuple[str, dict[str, str]]],
) -> None:
    data = os.urandom(2 * 5 * MiB + 1)
    source = tmp_path / "src"
    source.write_bytes(data)
    async with S3Store.open(f"s3://{bucket}", _config(s3_config)) as store:
        await store.upload("multi", source)
        await store.upload("stream", _chunks(data))
        await store.put("single", b"small object")
    bodies = [(op, h) for op, h in sent_requests if op in ("UploadPart", "PutObject")]
    assert [op for op, _ in bodies].count("UploadPart") == 6
    assert [op for op, _ in bodies].count("PutObject") == 1
    assert [h.get("expect") for _, h in bodies] == [None] * 7
    for key, expected in (("multi", data), ("stream", data), ("single", b"small object")):
        got = boto3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(expected).digest()


async def _chunks(data: bytes) -> Any:
    for offset in range(0, len(data), MiB):
        yield data[offset : offset + MiB]


@pytest.mark.asyncio
async def test_a_files_parts_are_hashed_while_the_first_is_sent(
    s3_config: S3Config,
    bucket: str,
    boto3_client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parts = 12
    data = os.urandom(parts * 5 * MiB)
    source = tmp_path / "src"
    source.write_bytes(data)
    hashed: list[int] = []  # offsets, appended from the hashing threads
    real_digest = FilePart.digest
    real_send = MultipartUpload.send

    def digest(part: FilePart) -> Any:
        result = real_digest(part)
        hashed.append(part.offset)
        return result

    async def send(self: MultipartUpload, number: int, body: Any, **kwargs: Any) -> PartRecord:
        if number == 1:  # part 1 waits until every part has been hashed (at most 10 s)
            for _ in range(200):
                if len(hashed) == parts:
                    break
                await asyncio.sleep(0.05)
            assert sorted(hashed) == [n * 5 * MiB for n in range(parts)]
        return await real_send(self, number, body, **kwargs)

    monkeypatch.setattr(FilePart, "digest", digest)
    monkeypatch.setattr(MultipartUpload, "send", send)
    async with S3Store.open(f"s3://{bucket}", _config(s3_config, "fixed:1")) as store:
        info = await store.upload("ahead", source)
    assert len(hashed) == parts  # each part hashed once
    assert info.etag == _md5_etag(data, 5 * MiB)
    got = boto3_client.get_object(Bucket=bucket, Key="ahead")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert [p.checksum for p in info.parts] == [
        "sha256:" + digest_part(data[n * 5 * MiB : (n + 1) * 5 * MiB]).sha256.hex()
        for n in range(parts)
    ]
