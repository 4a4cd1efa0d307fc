"""Parse the URLs users give: ``s3://bucket[/prefix]`` and ``file:///path``.

Bucket names follow S3's rules for general-purpose buckets (3-63 characters
of lowercase letters, digits, dots and hyphens, starting and ending with a
letter or digit, not shaped like an IP address), so a typo is caught before
any request is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from s3opt.errors import InvalidS3UrlError

__all__ = ["LocalUrl", "S3Url", "parse_url"]

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_LIKE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


@dataclass(frozen=True, slots=True)
class S3Url:
    """``s3://bucket/key-or-prefix``; ``key`` is ``""`` for the whole bucket."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def join(self, name: str) -> S3Url:
        """The URL of ``name`` under this one, as a prefix (``s3://b/p`` + ``x`` = ``s3://b/p/x``)."""
        base = self.key if not self.key or self.key.endswith("/") else self.key + "/"
        return S3Url(self.bucket, base + name.lstrip("/"))


@dataclass(frozen=True, slots=True)
class LocalUrl:
    """``file:///some/dir``: a directory used as an object store."""

    path: Path

    def __str__(self) -> str:
        return self.path.as_uri()


def _check_bucket(bucket: str, url: str) -> None:
    if not _BUCKET.match(bucket) or ".." in bucket or _IP_LIKE.match(bucket):
        raise InvalidS3UrlError(
            f"invalid bucket name {bucket!r} in {url!r}: 3-63 lowercase letters, digits, "
            "dots or hyphens, starting and ending with a letter or digit",
            bucket=bucket,
        )


def parse_url(url: str) -> S3Url | LocalUrl:
    """Parse ``s3://bucket[/key]`` or ``file:///path``; :class:`InvalidS3UrlError` otherwise."""
    if not isinstance(url, str) or not url:
        raise InvalidS3UrlError(f"expected an s3:// or file:// URL, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if parts.query or parts.fragment:
            raise InvalidS3UrlError(f"an s3:// URL has no query or fragment: {url!r}")
        bucket = parts.netloc
        if not bucket:
            raise InvalidS3UrlError(f"no bucket in {url!r}: expected s3://bucket[/key]")
        _check_bucket(bucket, url)
        return S3Url(bucket, parts.path.lstrip("/"))
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidS3UrlError(
                f"file:// URLs name a local path, not host {parts.netloc!r}: {url!r}"
            )
        if not parts.path:
            raise InvalidS3UrlError(f"no path in {url!r}: expected file:///path")
        return LocalUrl(Path(unquote(parts.path)))
    scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
    raise InvalidS3UrlError(
        f"unsupported URL {url!r} ({scheme}): expected s3://bucket[/key] or file:///path"
    )
