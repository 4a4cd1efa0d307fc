"""ColdStorage on S3Store against moto over real HTTP: restores, part checksums, lifecycle.

Also what a multipart upload reports about its parts, and the ``x-amz-restore``
parsing checked against the example in the S3 API Reference (HeadObject).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from s3opt import ColdStorage, LocalStore, PartInfo, RestoreStatus
from s3opt.config import S3Config
from s3opt.errors import (
    ChecksumUnavailableError,
    InvalidObjectStateError,
    InvalidRestoreTierError,
    NoSuchKeyError,
)
from s3opt.s3store import S3Store
from s3opt.testing import MotoServer
from s3opt.transfer import cold
from s3opt.transfer.download import restore_status

MiB = 2**20


@asynccontextmanager
async def _store(config: S3Config, bucket: str, prefix: str = "cold/") -> AsyncIterator[S3Store]:
    small_parts = config.model_copy(
        update={"multipart_threshold": 5 * MiB, "part_size_min": 5 * MiB}
    )
    async with S3Store.open(f"s3://{bucket}/{prefix}", small_parts) as store:
        yield store


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_only_the_s3_store_satisfies_cold_storage(tmp_path: Path) -> None:
    assert issubclass(S3Store, ColdStorage)
    assert not isinstance(LocalStore(tmp_path), ColdStorage)


# -- x-amz-restore ---------------------------------------------------------------------------


def test_restore_header_examples_from_the_s3_api_reference() -> None:
    done = restore_status('ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"')
    assert done == RestoreStatus(ongoing=False, expiry=datetime(2012, 12, 21, tzinfo=UTC))
    assert restore_status('ongoing-request="true"') == RestoreStatus(ongoing=True)
    assert restore_status(None) is None
    assert restore_status("something else") is None


# -- parts of a multipart upload ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_multipart_upload_reports_every_part_and_its_sha256(
    s3_config: S3Config, bucket: str
) -> None:
    data = bytes(range(256)) * (11 * MiB // 256 + 1)
    data = data[: 11 * MiB + 5]
    async with _store(s3_config, bucket) as store:
        info = await store.upload("big.bin", data)
        cuts = [(0, 5 * MiB), (5 * MiB, 10 * MiB), (10 * MiB, len(data))]
        assert info.parts == tuple(
            PartInfo(n, end - start, _sha(data[start:end]))
            for n, (start, end) in enumerate(cuts, start=1)
        )
        assert info.etag.endswith("-3")


@pytest.mark.asyncio
async def test_single_put_reports_the_object_sha256_and_no_parts(
    s3_config: S3Config, bucket: str
) -> None:
    data = b"one small object"
    async with _store(s3_config, bucket) as store:
        info = await store.upload("small", data)
        assert (info.parts, info.checksum) == ((), _sha(data))
        assert (await store.head("small")).checksum == _sha(data)
        assert await store.part_checksums("small") == ()


def _parts_of(data: bytes, part: int) -> tuple[PartInfo, ...]:
    chunks = [data[at : at + part] for at in range(0, len(data), part)]
    return tuple(PartInfo(n, len(c), _sha(c)) for n, c in enumerate(chunks, start=1))


# The server is moto with the ObjectParts element added (s3opt.testing._moto_parts): moto
# 5.2.5's own GetObjectAttributes leaves it out.


@pytest.mark.asyncio
async def test_part_checksums_list_every_part_with_the_sha256_of_its_bytes(
    s3_config: S3Config, bucket: str
) -> None:
    data = os.urandom(6 * MiB + 5)
    async with _store(s3_config, bucket) as store:
        info = await store.upload("big.bin", data)
        expected = _parts_of(data, 5 * MiB)
        assert info.parts == expected
        assert await store.part_checksums("big.bin") == expected
        with pytest.raises(NoSuchKeyError) as missing:
            await store.part_checksums("absent")
        assert missing.value.key == "absent"


@pytest.mark.asyncio
async def test_part_checksums_page_through_the_parts(
    s3_config: S3Config, bucket: str, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cold, "PARTS_PAGE", 2)
    data = os.urandom(4 * 5 * MiB + 1)
    async with _store(s3_config, bucket) as store:
        await store.upload("five.bin", data)
        before = len(moto_server.requests_seen())
        assert await store.part_checksums("five.bin") == _parts_of(data, 5 * MiB)
    asked = [path for _, path, _ in moto_server.requests_settled()[before:] if "attributes" in path]
    assert len(asked) == 3  # parts 1-2, 3-4, 5


@pytest.mark.asyncio
async def test_parts_uploaded_without_checksums_are_a_typed_error(
    s3_config: S3Config, bucket: str, boto3_client: Any
) -> None:
    key = "cold/plain.bin"
    upload = boto3_client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = [
        {
            "PartNumber": n,
            "ETag": boto3_client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=b"x" * (5 * MiB)
            )["ETag"],
        }
        for n in (1, 2)
    ]
    boto3_client.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": parts},
    )
    async with _store(s3_config, bucket) as store:
        with pytest.raises(ChecksumUnavailableError, match=r"plain\.bin: S3 keeps no checksum"):
            await store.part_checksums("plain.bin")


# -- restores --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_restore_of_a_deep_archive_object(s3_config: S3Config, bucket: str) -> None:
    async with _store(s3_config, bucket) as store:
        await store.put("frozen", b"cold bytes", storage_class="DEEP_ARCHIVE")
        before = await store.head("frozen")
        assert (before.storage_class, before.restore) == ("DEEP_ARCHIVE", None)

        assert await store.request_restore("frozen", days=3, tier="Bulk") is True
        after = await store.head("frozen")
        # moto finishes a restore at once; S3 would say ongoing=True for hours first.
        assert after.restore is not None
        assert after.restore.ongoing is False
        assert after.restore.expiry is not None
        expected = datetime.now(UTC) + timedelta(days=3)
        assert abs(after.restore.expiry - expected) < timedelta(minutes=5)
        # A restored copy: asking again extends it (200 OK), still a request made now.
        assert await store.request_restore("frozen", days=5, tier="Standard") is True


@pytest.mark.asyncio
async def test_restore_of_an_object_not_archived_is_typed(s3_config: S3Config, bucket: str) -> None:
    async with _store(s3_config, bucket) as store:
        await store.put("warm", b"x", storage_class="STANDARD_IA")
        with pytest.raises(InvalidObjectStateError, match="not in GLACIER or DEEP_ARCHIVE") as err:
            await store.request_restore("warm", days=1, tier="Bulk")
        assert err.value.code == "InvalidObjectState"
        assert err.value.bucket == bucket


@pytest.mark.asyncio
@pytest.mark.parametrize("tier", ["bulk", "Fast", ""])
async def test_unknown_tier_is_refused_before_sending(
    s3_config: S3Config, bucket: str, tier: str
) -> None:
    async with _store(s3_config, bucket) as store:
        # The key does not exist: had the request gone out, S3 would answer NoSuchKey.
        with pytest.raises(InvalidRestoreTierError, match="Expedited, Standard, Bulk"):
            await store.request_restore("absent", days=1, tier=tier)
        with pytest.raises(ValueError, match="days"):
            await store.request_restore("absent", days=0, tier="Bulk")


# -- lifecycle rules -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_lifecycle_rules_round_trip_and_delete(s3_config: S3Config, bucket: str) -> None:
    to_deep = {
        "ID": "to-deep-archive",
        "Filter": {"Prefix": "cold/"},
        "Status": "Enabled",
        "Transitions": [{"Days": 90, "StorageClass": "DEEP_ARCHIVE"}],
    }
    cleanup = {
        "ID": "abort-uploads",
        "Filter": {"Prefix": ""},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    async with _store(s3_config, bucket) as store:
        assert await store.lifecycle_rules() == []
        await store.put_lifecycle_rules([to_deep, cleanup])
        assert await store.lifecycle_rules() == [to_deep, cleanup]
        await store.put_lifecycle_rules([cleanup])  # replaces, does not merge
        assert await store.lifecycle_rules() == [cleanup]
        await store.put_lifecycle_rules([])
        assert await store.lifecycle_rules() == []
