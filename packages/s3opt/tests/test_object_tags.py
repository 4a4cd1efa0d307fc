"""Object tags at upload and read back, on both stores; against moto over real HTTP the tag set
S3 holds is read with boto3, and a lifecycle rule filtering on prefix and tag round-trips."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from s3opt.config import S3Config
from s3opt.errors import InvalidTagsError, NoSuchKeyError
from s3opt.local import LocalStore
from s3opt.s3store import S3Store

MiB = 2**20

# Every character S3 allows that must be percent-encoded in x-amz-tagging ("+" would
# otherwise arrive as a space), and text in other scripts.
AWKWARD = {"project": "a b+c=d", "path": "x/y:z@w_v.u-t", "ü": "é 日本 ٣", "empty": ""}


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_put_tags_are_read_back(either_store: S3Store | LocalStore) -> None:
    await either_store.put("k", b"data", tags=AWKWARD)
    assert await either_store.object_tags("k") == AWKWARD


@pytest.mark.asyncio
async def test_untagged_object_has_no_tags(either_store: S3Store | LocalStore) -> None:
    await either_store.put("k", b"data")
    assert await either_store.object_tags("k") == {}


@pytest.mark.asyncio
async def test_overwrite_replaces_the_tags(either_store: S3Store | LocalStore) -> None:
    await either_store.put("k", b"one", tags={"a": "1"})
    await either_store.put("k", b"two", tags={"b": "2"})
    assert await either_store.object_tags("k") == {"b": "2"}


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["bytes", "path", "stream"])
async def test_upload_of_every_source_carries_tags_single_and_multipart(
    either_store: S3Store | LocalStore, tmp_path: Path, kind: str
) -> None:
    small, large = os.urandom(1000), os.urandom(5 * MiB + 10)  # one PUT, two parts on S3
    for name, data in (("small", small), ("large", large)):
        tags = {"size": name, "kind": kind}
        source: Any
        if kind == "bytes":
            source = data
        elif kind == "path":
            source = tmp_path / name
            source.write_bytes(data)
        else:
            source = _chunks(data, MiB)
        info = await either_store.upload(name, source, tags=tags)
        assert info.size == len(data)
        assert await either_store.object_tags(name) == tags


@pytest.mark.asyncio
async def test_tags_of_a_missing_key_name_it(either_store: S3Store | LocalStore) -> None:
    with pytest.raises(NoSuchKeyError) as caught:
        await either_store.object_tags("absent")
    assert caught.value.key == "absent"


BAD_TAGS = [
    pytest.param({f"k{n}": "v" for n in range(11)}, id="eleven-tags"),
    pytest.param({"": "v"}, id="empty-key"),
    pytest.param({"k" * 129: "v"}, id="key-129-chars"),
    pytest.param({"k": "v" * 257}, id="value-257-chars"),
    pytest.param({"aws:created": "v"}, id="reserved-prefix"),
    pytest.param({"k": "\udcff"}, id="not-utf-8"),
    pytest.param({"k": "a&b"}, id="ampersand"),
    pytest.param({"k%": "v"}, id="percent"),
    pytest.param({"k": "tab\there"}, id="tab"),
    pytest.param({"k": 1}, id="not-a-string"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("tags", BAD_TAGS)
async def test_tags_s3_would_refuse_are_refused_before_anything_is_stored(
    either_store: S3Store | LocalStore, tags: dict[str, Any]
) -> None:
    with pytest.raises(InvalidTagsError) as caught:
        await either_store.put("k", b"data", tags=tags)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(InvalidTagsError):
        await either_store.upload("k", b"data", tags=tags)
    with pytest.raises(NoSuchKeyError):
        await either_store.head("k")


@pytest.mark.asyncio
async def test_tags_at_the_limits_are_accepted(either_store: S3Store | LocalStore) -> None:
    tags = {f"{n}" + "k" * 127: "v" * 256 for n in range(9)} | {"k": ""}
    await either_store.put("k", b"data", tags=tags)
    assert await either_store.object_tags("k") == tags


# -- S3 ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_s3_holds_the_tags_sent(s3_config: S3Config, bucket: str, boto3_client: Any) -> None:
    small = s3_config.model_copy(update={"multipart_threshold": 5 * MiB, "part_size_min": 5 * MiB})
    async with S3Store.open(f"s3://{bucket}/t", small) as store:
        await store.put("single", b"x", tags=AWKWARD)
        await store.upload("multi", os.urandom(5 * MiB + 1), tags=AWKWARD)
    for key in ("t/single", "t/multi"):
        tag_set = boto3_client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
        assert {t["Key"]: t["Value"] for t in tag_set} == AWKWARD


@pytest.mark.asyncio
async def test_resumed_upload_keeps_the_tags_it_started_with(
    s3_config: S3Config, bucket: str, tmp_path: Path
) -> None:
    config = s3_config.model_copy(
        update={"part_size_min": 5 * MiB, "multipart_threshold": 5 * MiB, "controller": "fixed:1"}
    )
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(4 * 5 * MiB))
    state = tmp_path / "upload.state"
    async with S3Store.open(f"s3://{bucket}/r", config) as store:
        task = asyncio.ensure_future(
            store.upload("big", source, tags={"archive": "yes"}, resume_state=state)
        )
        async with asyncio.timeout(60):
            while store.stats.parts_sent < 1 and not task.done():
                await asyncio.sleep(0.002)
        assert not task.done(), "the upload finished before it could be interrupted"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert state.exists()
    async with S3Store.open(f"s3://{bucket}/r", config) as store:
        await store.upload("big", source, resume_state=state)  # no tags given this time
        assert store.stats.parts_reused >= 1
        assert await store.object_tags("big") == {"archive": "yes"}


@pytest.mark.asyncio
async def test_lifecycle_rule_filtering_on_prefix_and_tag_round_trips(
    s3_config: S3Config, bucket: str
) -> None:
    rule = {
        "ID": "archives-to-deep-archive",
        "Filter": {
            "And": {
                "Prefix": "backups/",
                "Tags": [{"Key": "cargoship", "Value": "archive"}],
            }
        },
        "Status": "Enabled",
        "Transitions": [{"Days": 90, "StorageClass": "DEEP_ARCHIVE"}],
    }
    async with S3Store.open(f"s3://{bucket}/backups", s3_config) as store:
        await store.put_lifecycle_rules([rule])
        assert await store.lifecycle_rules() == [rule]
