"""Response timestamps parsed without dateutil, to the same instants as botocore's parser."""

from __future__ import annotations

from datetime import UTC, datetime, timezone
from typing import Any

import pytest
from botocore.utils import parse_timestamp

from s3opt import S3Config, S3Store
from s3opt._aws import parse_s3_timestamp


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        # RFC 7231 section 7.1.1.1's own example of an IMF-fixdate (S3's headers).
        ("Sun, 06 Nov 1994 08:49:37 GMT", datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)),
        # S3 API Reference, ListObjectsV2, response example (XML bodies).
        ("2009-10-12T17:50:30.000Z", datetime(2009, 10, 12, 17, 50, 30, tzinfo=UTC)),
        ("2026-11-21T13:22:41.123456+01:00", datetime(2026, 11, 21, 12, 22, 41, 123456, UTC)),
        ("Sat, 21 Nov 2026 13:22:41 +0100", datetime(2026, 11, 21, 12, 22, 41, tzinfo=UTC)),
    ],
)
def test_s3s_two_forms_parse_to_the_instant(text: str, instant: datetime) -> None:
    parsed = parse_s3_timestamp(text)
    assert parsed.tzinfo is not None
    assert parsed == instant
    assert parsed == parse_timestamp(text)


@pytest.mark.parametrize(
    "value",
    [
        "1700000000",  # epoch seconds: botocore reads a number first
        1700000000,
        "2026-11-21T13:22:41",  # no zone: botocore's rules decide
        "Sat, 21 Nov 2026 13:22:41 -0000",  # RFC 2822's "unknown zone": naive in email.utils
        "2026-11-21",
    ],
)
def test_other_forms_are_botocores_answer(value: Any) -> None:
    assert parse_s3_timestamp(value) == parse_timestamp(value)


def test_garbage_raises_as_botocore_does() -> None:
    with pytest.raises(ValueError, match="Invalid timestamp"):
        parse_s3_timestamp("not a time")
    with pytest.raises(ValueError, match="Invalid timestamp"):
        parse_timestamp("not a time")


@pytest.mark.asyncio
async def test_a_stores_listing_and_head_match_boto3s_times(
    s3_config: S3Config, bucket: str, boto3_client: Any
) -> None:
    boto3_client.put_object(Bucket=bucket, Key="t/a", Body=b"a")
    truth = boto3_client.head_object(Bucket=bucket, Key="t/a")["LastModified"]
    listed = boto3_client.list_objects_v2(Bucket=bucket)["Contents"][0]["LastModified"]
    async with S3Store.open(f"s3://{bucket}/t", s3_config) as store:
        info = await store.head("a")
        listing = [entry async for entry in store.list("")]
    assert info.last_modified == truth
    assert [entry.last_modified for entry in listing] == [listed]
    # The same instants, parsed by the standard library (dateutil gives tzutc()).
    assert info.last_modified is not None
    assert type(info.last_modified.tzinfo) is timezone
    assert type(truth.tzinfo) is not timezone
    assert all(
        type(entry.last_modified.tzinfo) is timezone for entry in listing if entry.last_modified
    )
