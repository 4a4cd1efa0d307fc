"""Cold storage on S3: restores from the archive tiers, part checksums, lifecycle rules.

What :class:`s3opt.S3Store` does for the :class:`s3opt.protocols.ColdStorage`
Protocol; every function takes the store's :class:`TransferContext` and a
full S3 key. None of these requests carries bulk data, so none goes through
the limiter.

* RestoreObject (S3 API Reference, "RestoreObject"): 202 Accepted starts a
  restore, 200 OK extends the expiry of a copy already restored, 409
  ``RestoreAlreadyInProgress`` means one is under way; an object outside
  GLACIER and DEEP_ARCHIVE is refused with 403 ``InvalidObjectState`` (older
  answers: ``ObjectAlreadyInActiveTierError``).
* GetObjectAttributes (S3 API Reference, "GetObjectAttributes"): the parts of a
  multipart object with the checksum S3 verified for each, 1,000 parts a page.
* Get/Put/DeleteBucketLifecycle(Configuration) (S3 API Reference): the rules
  are the bucket's, not the store prefix's; their ``Filter`` prefixes are full keys.
* GetObjectTagging (S3 API Reference, "GetObjectTagging"): an object's tag set,
  which lifecycle rules can filter on (``Filter.And.Tags``).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from s3opt.errors import ChecksumUnavailableError, InvalidObjectStateError, S3OptError
from s3opt.protocols import PartInfo, check_restore_tier
from s3opt.transfer.context import TransferContext

__all__ = [
    "PARTS_PAGE",
    "lifecycle_rules",
    "object_tags",
    "part_checksums",
    "put_lifecycle_rules",
    "request_restore",
]

_logger = logging.getLogger(__name__)

PARTS_PAGE: Final = 1000
"""Parts asked for per GetObjectAttributes request (S3's maximum)."""

_NOT_ARCHIVED: Final = frozenset({"InvalidObjectState", "ObjectAlreadyInActiveTierError"})


async def request_restore(context: TransferContext, key: str, *, days: int, tier: str) -> bool:
    """Restore ``key`` for ``days`` days at ``tier``; ``False`` if a restore is under way."""
    check_restore_tier(tier)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be an integer >= 1, got {days!r}")
    try:
        await context.call(
            "restore_object",
            key=key,
            RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}},
        )
    except S3OptError as exc:
        if exc.code == "RestoreAlreadyInProgress":
            return False
        if exc.code in _NOT_ARCHIVED:
            raise InvalidObjectStateError(
                f"restore s3://{context.bucket}/{key}: the object is not in GLACIER or "
                f"DEEP_ARCHIVE ({exc.code})",
                bucket=context.bucket,
                key=key,
                code=exc.code,
            ) from exc
        raise
    _logger.info("s3://%s/%s: restore requested (%s, %d days)", context.bucket, key, tier, days)
    return True


def _hex_sha256(value: object) -> str | None:
    """``"sha256:<hex>"`` from S3's base64 ``ChecksumSHA256`` (``None`` if absent or bad)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except binascii.Error:
        return None
    return f"sha256:{digest.hex()}" if len(digest) == 32 else None


async def part_checksums(context: TransferContext, key: str) -> tuple[PartInfo, ...]:
    """Every part of ``key`` with its SHA-256, checked to add up to the object; ``()`` for a
    single-PUT object.

    :class:`ChecksumUnavailableError` when the object is multipart but S3 lists no
    SHA-256 for its parts (uploaded without one, or a server that does not report parts).
    """
    parts: list[PartInfo] = []
    marker: int | None = None
    while True:
        extra: dict[str, Any] = {} if marker is None else {"PartNumberMarker": marker}
        reply = await context.call(
            "get_object_attributes",
            key=key,
            ObjectAttributes=["ETag", "Checksum", "ObjectParts", "ObjectSize"],
            MaxParts=PARTS_PAGE,
            **extra,
        )
        listing = reply.get("ObjectParts") or {}
        total = listing.get("TotalPartsCount")
        if marker is None and total is None:
            if "-" in str(reply.get("ETag") or ""):
                raise _unavailable(context, key, "S3 lists no parts for this multipart object")
            return ()
        if marker is None and total and not listing.get("Parts"):
            # S3 lists a part only with a checksum it keeps for it (API Reference,
            # GetObjectAttributesParts): uploaded without part checksums.
            raise _unavailable(context, key, f"S3 keeps no checksum for its {total} parts")
        for item in listing.get("Parts") or ():
            checksum = _hex_sha256(item.get("ChecksumSHA256"))
            if checksum is None:
                number = item.get("PartNumber")
                raise _unavailable(context, key, f"part {number} has no SHA-256 checksum")
            parts.append(PartInfo(int(item["PartNumber"]), int(item["Size"]), checksum))
        following = listing.get("NextPartNumberMarker")
        # Markers only grow (at most 10,000 parts), so the loop ends.
        if not listing.get("IsTruncated") or following is None or int(following) <= (marker or 0):
            break
        marker = int(following)
    numbers = [part.number for part in parts]
    size = reply.get("ObjectSize")
    if numbers != list(range(1, len(parts) + 1)) or (
        total is not None and int(total) != len(parts)
    ):
        raise _unavailable(context, key, f"S3 listed parts {numbers[:5]}... of {total}")
    if size is not None and sum(part.size for part in parts) != int(size):
        raise _unavailable(context, key, f"the parts do not add up to the object's {size} bytes")
    return tuple(parts)


def _unavailable(context: TransferContext, key: str, why: str) -> ChecksumUnavailableError:
    return ChecksumUnavailableError(
        f"part checksums of s3://{context.bucket}/{key}: {why}", bucket=context.bucket, key=key
    )


async def lifecycle_rules(context: TransferContext) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules as S3 returns them; ``[]`` when it has none."""
    try:
        reply = await context.call("get_bucket_lifecycle_configuration", key=None)
    except S3OptError as exc:
        if exc.code == "NoSuchLifecycleConfiguration":
            return []
        raise
    return [dict(rule) for rule in reply.get("Rules") or ()]


async def put_lifecycle_rules(context: TransferContext, rules: Sequence[Mapping[str, Any]]) -> None:
    """Make ``rules`` the bucket's whole lifecycle configuration (``[]``: delete it)."""
    if not rules:
        await context.call("delete_bucket_lifecycle", key=None)
        return
    await context.call(
        "put_bucket_lifecycle_configuration",
        key=None,
        LifecycleConfiguration={"Rules": [dict(rule) for rule in rules]},
    )


async def object_tags(context: TransferContext, key: str) -> dict[str, str]:
    """The tag set of ``key`` (``{}`` when it has none)."""
    reply = await context.call("get_object_tagging", key=key)
    return {str(tag["Key"]): str(tag["Value"]) for tag in reply.get("TagSet") or ()}
