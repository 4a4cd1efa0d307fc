"""URL parsing: what users type on command lines, and the typos a serious tool must catch."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3opt.errors import InvalidS3UrlError, S3OptError
from s3opt.url import LocalUrl, S3Url, parse_url


@pytest.mark.parametrize(
    ("url", "bucket", "key"),
    [
        ("s3://my-bucket", "my-bucket", ""),
        ("s3://my-bucket/", "my-bucket", ""),
        ("s3://my-bucket/a/b.txt", "my-bucket", "a/b.txt"),
        ("s3://my.bucket.example/prefix/", "my.bucket.example", "prefix/"),
        ("s3://abc/key with spaces", "abc", "key with spaces"),
        ("s3://" + "a" * 63 + "/k", "a" * 63, "k"),
    ],
)
def test_s3_urls(url: str, bucket: str, key: str) -> None:
    assert parse_url(url) == S3Url(bucket, key)


def test_file_urls() -> None:
    assert parse_url("file:///tmp/store") == LocalUrl(Path("/tmp/store"))
    assert parse_url("file://localhost/tmp/a%20b") == LocalUrl(Path("/tmp/a b"))


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "expected an s3:// or file:// URL"),
        ("s3://", "no bucket"),
        ("s3:/bucket/key", "no bucket"),
        ("bucket/key", "no scheme"),
        ("https://bucket.s3.amazonaws.com/key", "https://"),
        ("s3://ab/key", "invalid bucket name 'ab'"),  # shorter than 3
        ("s3://" + "a" * 64 + "/k", "invalid bucket name"),  # longer than 63
        ("s3://My-Bucket/key", "invalid bucket name 'My-Bucket'"),  # upper case
        ("s3://my_bucket/key", "invalid bucket name 'my_bucket'"),  # underscore
        ("s3://-bucket/key", "invalid bucket name"),  # must start with a letter or digit
        ("s3://bucket-/key", "invalid bucket name"),  # must end with one
        ("s3://my..bucket/key", "invalid bucket name"),  # adjacent dots
        ("s3://192.168.1.1/key", "invalid bucket name"),  # shaped like an IP address
        ("s3://bucket/key?versionId=1", "no query or fragment"),
        ("file://otherhost/path", "not host 'otherhost'"),
        ("file://", "no path"),
    ],
)
def test_malformed_urls_are_refused_with_one_line_naming_the_problem(url: str, says: str) -> None:
    with pytest.raises(InvalidS3UrlError) as caught:
        parse_url(url)
    message = str(caught.value)
    assert says in message
    assert "\n" not in message
    # Callers may catch it as a ValueError or as any s3opt error.
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, S3OptError)


def test_join_treats_the_key_as_a_prefix() -> None:
    assert S3Url("b", "p").join("x") == S3Url("b", "p/x")
    assert S3Url("b", "p/").join("/x") == S3Url("b", "p/x")
    assert S3Url("b", "").join("x") == S3Url("b", "x")
    assert str(S3Url("b", "p/x")) == "s3://b/p/x"
