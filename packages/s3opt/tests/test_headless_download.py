"""Downloads without a HEAD: the first ranged GET's headers give the object's size and ETag.

What crossed the wire is read from the moto server's own access log
(:meth:`s3opt.testing.MotoServer.requests_seen`); the objects are written and
described by boto3, not by s3opt.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from s3opt import S3Config, S3Store
from s3opt.testing import MotoServer
from s3opt.transfer.file_download import object_headers

MiB = 2**20


def _requests_for(server: MotoServer, path: str, before: int) -> list[tuple[str, str, int]]:
    """The requests for ``path`` (any query) logged after the first ``before`` entries.

    The server logs a request after answering it: the log is read until it stops growing
    (two reads 0.25 s apart agree; at most 10 s).
    """
    seen = server.requests_settled()
    return [
        (method, target, status)
        for method, target, status in seen[before:]
        if target.split("?", 1)[0] == path
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [1, MiB, 3 * MiB + 5])
async def test_a_download_sends_no_head(
    moto_server: MotoServer,
    s3_config: S3Config,
    bucket: str,
    boto3_client: Any,
    tmp_path: Path,
    size: int,
) -> None:
    data = os.urandom(size)
    key = f"down/plain-{size}"
    boto3_client.put_object(Bucket=bucket, Key=key, Body=data, Metadata={"origin": "boto3"})
    truth = boto3_client.head_object(Bucket=bucket, Key=key)
    target = tmp_path / "out"
    async with S3Store.open(f"s3://{bucket}/down", s3_config) as store:
        before = len(moto_server.requests_seen())
        info = await store.download(f"plain-{size}", target)
    seen = _requests_for(moto_server, f"/{bucket}/{key}", before)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert [method for method, _, _ in seen if method == "HEAD"] == []
    # 1 MiB in the first GET, the rest in others: ceil(size / MiB) GETs at most, all 206.
    gets = [status for method, _, status in seen if method == "GET"]
    assert gets
    assert all(status == 206 for status in gets)
    assert (len(gets) == 1) == (size <= MiB)
    assert info.size == truth["ContentLength"] == size
    assert info.etag == truth["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    assert info.metadata == {"origin": "boto3"}
    assert info.last_modified == truth["LastModified"]
    assert info.storage_class == "STANDARD"


@pytest.mark.asyncio
async def test_a_multipart_download_asks_only_for_the_part_layout(
    moto_server: MotoServer, s3_config: S3Config, bucket: str, boto3_client: Any, tmp_path: Path
) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(MiB + 3)]
    key = "down/multi"
    upload = boto3_client.create_multipart_upload(Bucket=bucket, Key=key)
    done = []
    for number, body in enumerate(parts, start=1):
        reply = boto3_client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=body
        )
        done.append({"ETag": reply["ETag"], "PartNumber": number})
    boto3_client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
    )
    md5s = b"".join(hashlib.md5(body).digest() for body in parts)
    expected_etag = f"{hashlib.md5(md5s).hexdigest()}-3"  # S3's multipart ETag
    target = tmp_path / "multi"
    async with S3Store.open(f"s3://{bucket}/down", s3_config) as store:
        before = len(moto_server.requests_seen())
        info = await store.download("multi", target)
    seen = _requests_for(moto_server, f"/{bucket}/{key}", before)
    assert target.read_bytes() == b"".join(parts)
    assert info.etag == expected_etag
    assert info.size == 11 * MiB + 3
    heads = [target_ for method, target_, _ in seen if method == "HEAD"]
    assert heads == [f"/{bucket}/{key}?partNumber=1"]


@pytest.mark.asyncio
async def test_an_empty_object_is_downloaded_after_s3s_416(
    moto_server: MotoServer, s3_config: S3Config, bucket: str, boto3_client: Any, tmp_path: Path
) -> None:
    boto3_client.put_object(Bucket=bucket, Key="down/empty", Body=b"")
    target = tmp_path / "empty"
    target.write_bytes(b"old contents")
    async with S3Store.open(f"s3://{bucket}/down", s3_config) as store:
        before = len(moto_server.requests_seen())
        info = await store.download("empty", target)
    seen = _requests_for(moto_server, f"/{bucket}/down/empty", before)
    assert target.read_bytes() == b""
    assert info.size == 0
    assert info.etag == hashlib.md5(b"").hexdigest()
    # RFC 9110 section 15.5.17: no byte 0 to send, so 416; then one HEAD for the details.
    assert [(method, status) for method, _, status in seen] == [("GET", 416), ("HEAD", 200)]


def test_headers_of_a_206_name_the_whole_size() -> None:
    reply = {
        "ContentRange": "bytes 0-1048575/1073741824",
        "ContentLength": 1048576,
        "ETag": '"abc"',
        "Body": object(),
        "ResponseMetadata": {"HTTPStatusCode": 206},
    }
    head = object_headers(reply)
    assert head == {"ContentLength": 1073741824, "ETag": '"abc"'}


def test_headers_of_a_200_take_the_content_length() -> None:
    reply = {"ContentLength": 7, "ETag": '"abc"', "ResponseMetadata": {"HTTPStatusCode": 200}}
    assert object_headers(reply)["ContentLength"] == 7


@pytest.mark.parametrize(
    "content_range", [None, "bytes 0-9/*", "bytes */100", "items 0-9/100", "bytes 0-9/100 "]
)
def test_a_206_without_the_size_is_refused(content_range: str | None) -> None:
    reply: dict[str, Any] = {"ContentLength": 10, "ResponseMetadata": {"HTTPStatusCode": 206}}
    if content_range is not None:
        reply["ContentRange"] = content_range
    with pytest.raises(ValueError, match="without the object's size"):
        object_headers(reply)
