"""The URLs cargoship takes: a store (``s3://bucket/prefix``) or one archive in it.

An archive URL is the store's URL plus the archive's name as its last segment:
``s3://bucket/prefix/20261121T101500Z`` (the key of any of its objects works
too, e.g. ``.../20261121T101500Z.tar.zst`` or ``.../20261121T101500Z.inventory.pages``).
"""

from __future__ import annotations

from cargoship.errors import ArchiveNotFoundError
from cargoship.layout import archive_name
from s3opt import parse_url
from s3opt.errors import InvalidS3UrlError
from s3opt.url import LocalUrl, S3Url

__all__ = ["archive_in_url", "object_url", "split_archive_url"]


def split_archive_url(url: str) -> tuple[str, str]:
    """``"s3://b/p/NAME"`` -> ``("s3://b/p", "NAME")``; InvalidS3UrlError without a last segment."""
    target = parse_url(url)
    if isinstance(target, LocalUrl):
        if target.path.name in ("", "/"):
            raise InvalidS3UrlError(f"no archive name in {url!r}: expected file:///dir/ARCHIVE")
        return target.path.parent.as_uri(), target.path.name
    key = target.key.rstrip("/")
    if not key:
        raise InvalidS3UrlError(
            f"no archive name in {url!r}: expected s3://bucket/prefix/ARCHIVE", bucket=target.bucket
        )
    prefix, _, segment = key.rpartition("/")
    return str(S3Url(target.bucket, prefix)), segment


def archive_in_url(url: str) -> tuple[str, str] | None:
    """``("s3://b/p", NAME)`` when ``url`` is an archive URL (its last segment an archive's
    name or key, and no ``/`` after it); None for a store's URL (``s3://b/p``, ``s3://b/p/``)."""
    if url.endswith("/"):
        return None
    try:
        store_url, segment = split_archive_url(url)
        return store_url, archive_name(segment)
    except (InvalidS3UrlError, ArchiveNotFoundError):
        return None


def object_url(store_url: str, key: str) -> str:
    """The URL of ``key`` in the store at ``store_url`` (as a user would type it)."""
    target = parse_url(store_url)
    if isinstance(target, LocalUrl):
        return (target.path / key).as_uri()
    return str(target.join(key))
