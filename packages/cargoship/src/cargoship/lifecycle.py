"""The bucket lifecycle rules that move a prefix's archives to a colder storage class and
clean up what interrupted ships left.

``cargoship lifecycle s3://bucket/prefix --archive-after 90d`` writes a transition rule
(S3 User Guide, "Managing the lifecycle of objects"; S3 API Reference,
PutBucketLifecycleConfiguration, "LifecycleRule" and "LifecycleRuleAndOperator")::

    {"ID": "cargoship:<prefix>", "Status": "Enabled",
     "Filter": {"And": {"Prefix": "<prefix>",
                        "Tags": [{"Key": "cargoship-role", "Value": "archive"}]}},
     "Transitions": [{"Days": 90, "StorageClass": "DEEP_ARCHIVE"}]}

The tag (:data:`cargoship.layout.ARCHIVE_TAGS`) is set by ``ship`` on archive
objects only, so the member index and inventory under the same prefix never
move to a cold class: browsing and planning never need a retrieval. An empty
prefix (the bucket's root) filters on the tag alone (``{"Tag": ...}``).

With ``expire_after_days`` a second rule expires *every* object under the
prefix, archive, index and inventory together (an expiration filtered on the
tag would delete archives and leave inventories describing them)::

    {"ID": "cargoship-expire:<prefix>", "Filter": {"Prefix": "<prefix>"},
     "Status": "Enabled", "Expiration": {"Days": 3650}}

A third rule aborts multipart uploads left pending under the prefix (API
Reference, "AbortIncompleteMultipartUpload"): a killed ``ship`` leaves the
parts it sent, billed as storage but listed by no ListObjects, until
``ship --resume`` continues them or the next ship of the same tree to the
same place abandons them (:mod:`cargoship.ship._state`). A ship that is never
run again would leave them for good; this rule removes them a week after they
began (``abort_uploads_after_days``), so a resume must come within that time
(after it, ``--resume`` starts the upload over). S3 refuses this action in a
rule filtered on tags, hence a rule of its own on the prefix alone::

    {"ID": "cargoship-uploads:<prefix>", "Filter": {"Prefix": "<prefix>"},
     "Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}

Lifecycle rules belong to the whole bucket and PutBucketLifecycleConfiguration
replaces all of them, so the plan reads the rules already there and merges:
rules with our three IDs for the prefix are replaced where the first stood
(or dropped: a rerun without an expiration removes the old one), every other
rule is kept as it is. Re-running therefore updates our rules instead of
adding more.

Archives shipped before archive objects were tagged carry no tag, so the rule
does not move them: the plan lists them (:attr:`LifecyclePlan.untagged`), and
``docs/cargoship.md`` shows how to tag them.

What S3 refuses is refused here first, with a message naming the value
(API Reference, "Transition" and "LifecycleExpiration"):

* the target must be a transition class (GLACIER, STANDARD_IA, ONEZONE_IA,
  INTELLIGENT_TIERING, DEEP_ARCHIVE, GLACIER_IR);
* a transition to STANDARD_IA or ONEZONE_IA needs at least 30 days;
* the expiration days must be greater than the transition days;
* an incomplete upload is aborted at least one day after it began.

Deleting an object before its class's minimum storage duration is allowed
but billed as if it had stayed (User Guide, "Constraints and considerations
for transitions"): such an expiration is logged as a warning, not refused.
Other enabled rules whose prefix overlaps ours are also only logged: S3
allows overlapping rules and resolves their conflicts itself (expiration
wins over transition, the colder class wins between transitions).

The cost projection covers the objects under the store now: ``cost_before``
prices each in its current class, ``cost_after`` once the rule has moved the
tagged archive objects (found with GetObjectTagging on each key that is named
like an archive object and that the transition would move). S3's default for
new lifecycle configurations keeps objects under 128 KiB where they are
(``TransitionDefaultMinimumObjectSize`` = ``all_storage_classes_128K``); a
transition only goes down S3's waterfall of classes, never up. The projection
ignores the expiration (after it there is nothing left to price).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from cargoship.concurrency import each_bounded
from cargoship.errors import CargoshipError
from cargoship.layout import ARCHIVE_TAG_KEY, ARCHIVE_TAG_VALUE, is_archive_key
from s3opt.pricing import PriceTable
from s3opt.protocols import ColdStorage, ObjectInfo, ObjectStore

if TYPE_CHECKING:
    from s3opt.s3store import PendingUpload

__all__ = [
    "ABORT_ID_PREFIX",
    "ABORT_UPLOADS_AFTER_DAYS",
    "DAY_UNITS",
    "EXPIRY_ID_PREFIX",
    "IA_MINIMUM_DAYS",
    "RULE_ID_PREFIX",
    "TAG_READS",
    "TRANSITION_MINIMUM_SIZE",
    "TRANSITION_TARGETS",
    "LifecyclePlan",
    "abort_rule_id",
    "apply_lifecycle",
    "build_rules",
    "expiry_rule_id",
    "merge_rules",
    "parse_days",
    "plan_lifecycle",
    "project_cost",
    "rule_id",
]

_logger = logging.getLogger(__name__)

RULE_ID_PREFIX: Final = "cargoship:"
"""Our transition rules' IDs start with this; the rest is the prefix they cover."""
EXPIRY_ID_PREFIX: Final = "cargoship-expire:"
"""Our expiration rules' IDs start with this; the rest is the prefix they cover."""
ABORT_ID_PREFIX: Final = "cargoship-uploads:"
"""Our rules aborting incomplete uploads start with this; the rest is the prefix they cover."""
ABORT_UPLOADS_AFTER_DAYS: Final = 7
"""Days after which the abort rule removes a multipart upload left pending: the time a
``ship --resume`` has to continue an interrupted ship's upload."""

TRANSITION_TARGETS: Final = (
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
)
"""The classes a lifecycle transition may target, in S3's waterfall order (warm to cold).

S3 User Guide, "Transitioning objects using Amazon S3 Lifecycle": objects only
move down this list (STANDARD and REDUCED_REDUNDANCY sit above it)."""

IA_MINIMUM_DAYS: Final = 30
"""Days an object must exist before S3 moves it to STANDARD_IA or ONEZONE_IA."""

TRANSITION_MINIMUM_SIZE: Final = 128 * 1024
"""Objects smaller than this stay put under S3's default ``all_storage_classes_128K``."""

DAY_UNITS: Final = {"d": 1, "w": 7, "m": 30, "y": 365}
"""Units :func:`parse_days` accepts: days, weeks, months of 30 days, years of 365 days."""

TAG_READS: Final = 16
"""GetObjectTagging requests in flight while planning: one small request per archive."""

_MAX_RULE_ID: Final = 255  # S3 API Reference, LifecycleRule "ID": up to 255 characters
_MAX_RULES: Final = 1000  # S3 User Guide: a lifecycle configuration holds up to 1,000 rules
_HOT_CLASSES: Final = frozenset({"STANDARD", "REDUCED_REDUNDANCY"})
_DURATION = re.compile(r"(\d+)([dwmy]?)")


def parse_days(text: str) -> int:
    """Days in ``"90d"``, ``"12w"``, ``"6m"`` (30 days each), ``"1y"`` (365) or ``"90"``.

    ValueError naming ``text`` for anything else.
    """
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        units = ", ".join(f"{unit} ({days} d)" for unit, days in DAY_UNITS.items())
        raise ValueError(
            f"not a duration: {text!r}; expected a number of days or a number + {units}"
        )
    number, unit = match.groups()
    return int(number) * DAY_UNITS[unit or "d"]


def _id(start: str, prefix: str) -> str:
    candidate = start + prefix
    if len(candidate) <= _MAX_RULE_ID:
        return candidate
    return f"{start}sha256:{hashlib.sha256(prefix.encode()).hexdigest()}"


def rule_id(prefix: str) -> str:
    """Our transition rule's ID for ``prefix``: ``cargoship:<prefix>`` (a digest when that is
    too long)."""
    return _id(RULE_ID_PREFIX, prefix)


def expiry_rule_id(prefix: str) -> str:
    """Our expiration rule's ID for ``prefix``: ``cargoship-expire:<prefix>`` (or a digest)."""
    return _id(EXPIRY_ID_PREFIX, prefix)


def abort_rule_id(prefix: str) -> str:
    """Our rule aborting incomplete uploads under ``prefix``: ``cargoship-uploads:<prefix>``
    (or a digest)."""
    return _id(ABORT_ID_PREFIX, prefix)


def _normalized_prefix(prefix: str) -> str:
    """The prefix as S3Store uses it: ``"data"`` and ``"data/"`` both mean ``"data/"``."""
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def build_rules(
    prefix: str,
    *,
    archive_after_days: int,
    to: str = "DEEP_ARCHIVE",
    expire_after_days: int | None = None,
    abort_uploads_after_days: int = ABORT_UPLOADS_AFTER_DAYS,
    minimum_days: int = 0,
) -> list[dict[str, Any]]:
    """Our rules for ``prefix`` (the transition, the expiration when asked for, then the
    abort of incomplete uploads), after the checks S3 would make (ValueError naming the
    value).

    ``minimum_days`` is the target class's minimum storage duration: an
    expiration sooner after the transition is logged as billed early deletion.
    """
    if to not in TRANSITION_TARGETS:
        raise ValueError(
            f"cannot transition to {to!r}: S3 lifecycle rules move objects to "
            f"{', '.join(TRANSITION_TARGETS)}"
        )
    if archive_after_days < 0:
        raise ValueError(f"archive after {archive_after_days} days: must be 0 or more")
    if to in ("STANDARD_IA", "ONEZONE_IA") and archive_after_days < IA_MINIMUM_DAYS:
        raise ValueError(
            f"archive after {archive_after_days} days to {to}: S3 moves objects to {to} "
            f"only after at least {IA_MINIMUM_DAYS} days"
        )
    if abort_uploads_after_days < 1:
        raise ValueError(
            f"abort incomplete uploads after {abort_uploads_after_days} days: S3 needs 1 or more"
        )
    full = _normalized_prefix(prefix)
    tag = {"Key": ARCHIVE_TAG_KEY, "Value": ARCHIVE_TAG_VALUE}
    rules: list[dict[str, Any]] = [
        {
            "ID": rule_id(full),
            "Filter": {"And": {"Prefix": full, "Tags": [tag]}} if full else {"Tag": tag},
            "Status": "Enabled",
            "Transitions": [{"Days": archive_after_days, "StorageClass": to}],
        }
    ]
    if expire_after_days is not None:
        if expire_after_days <= archive_after_days:
            raise ValueError(
                f"expire after {expire_after_days} days: S3 requires the expiration to come "
                f"after the transition ({archive_after_days} days)"
            )
        if expire_after_days < archive_after_days + minimum_days:
            _logger.warning(
                "objects under %r expire %d days after moving to %s, before its %d-day minimum "
                "storage duration: S3 bills the remaining days as early deletion",
                full,
                expire_after_days - archive_after_days,
                to,
                minimum_days,
            )
        rules.append(
            {
                "ID": expiry_rule_id(full),
                "Filter": {"Prefix": full},
                "Status": "Enabled",
                "Expiration": {"Days": expire_after_days},
            }
        )
    rules.append(
        {
            "ID": abort_rule_id(full),
            "Filter": {"Prefix": full},
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": abort_uploads_after_days},
        }
    )
    return rules


def _rule_prefix(rule: Mapping[str, Any]) -> str:
    """The key prefix a rule applies to (``""``, every key, for tag- or size-only filters)."""
    found = rule.get("Filter")
    if isinstance(found, Mapping):
        conjunction = found.get("And")
        if isinstance(conjunction, Mapping):
            return str(conjunction.get("Prefix") or "")
        return str(found.get("Prefix") or "")
    return str(rule.get("Prefix") or "")


def merge_rules(
    existing: Sequence[Mapping[str, Any]], rules: Sequence[Mapping[str, Any]], prefix: str
) -> list[dict[str, Any]]:
    """``existing`` with our ``rules`` for ``prefix`` in place of the rules holding our IDs
    for it (where the first of those stood), or appended.

    Every other rule is kept unchanged; enabled ones whose prefix overlaps
    ours are logged as warnings (S3 applies both, see the module doc).
    """
    prefix = _normalized_prefix(prefix)
    ours = {rule_id(prefix), expiry_rule_id(prefix), abort_rule_id(prefix)}
    merged: list[dict[str, Any]] = []
    replaced = False
    for other in existing:
        if other.get("ID") in ours:
            if not replaced:
                merged.extend(dict(rule) for rule in rules)
                replaced = True
            continue
        merged.append(dict(other))
        theirs = _rule_prefix(other)
        if other.get("Status") == "Enabled" and (
            theirs.startswith(prefix) or prefix.startswith(theirs)
        ):
            _logger.warning(
                "lifecycle rule %r (prefix %r) also applies to keys under %r; S3 applies both",
                other.get("ID"),
                theirs,
                prefix,
            )
    if not replaced:
        merged.extend(dict(rule) for rule in rules)
    if len(merged) > _MAX_RULES:
        raise ValueError(
            f"the bucket would have {len(merged)} lifecycle rules; S3 allows {_MAX_RULES}"
        )
    return merged


def _class_after(info: ObjectInfo, to: str) -> str:
    """The class ``info`` sits in once a transition to ``to`` has run over it."""
    current = info.storage_class or "STANDARD"
    if info.size < TRANSITION_MINIMUM_SIZE:
        return current
    if current in _HOT_CLASSES:
        return to
    if current in TRANSITION_TARGETS and TRANSITION_TARGETS.index(
        current
    ) < TRANSITION_TARGETS.index(to):
        return to
    return current


def project_cost(
    objects: Sequence[ObjectInfo],
    prices: PriceTable,
    *,
    to: str | None = None,
    moving: Collection[str] = (),
) -> float:
    """Monthly storage cost of ``objects``: as they are, or (``to``) once the keys in
    ``moving`` have been moved to that class."""
    by_class: dict[str, tuple[int, int]] = {}
    for info in objects:
        storage_class = (
            _class_after(info, to)
            if to is not None and info.key in moving
            else info.storage_class or "STANDARD"
        )
        size, count = by_class.get(storage_class, (0, 0))
        by_class[storage_class] = (size + info.size, count + 1)
    return sum(
        prices.monthly_storage(size, count, storage_class)
        for storage_class, (size, count) in sorted(by_class.items())
    )


@dataclass(frozen=True, slots=True)
class LifecyclePlan:
    """Our rules, the bucket's whole merged rule list, the monthly cost before and after,
    and the archive objects the rule cannot move because they carry no tag."""

    ours: list[dict[str, Any]]
    """The transition rule, the expiration rule when one was asked for, then the rule aborting
    incomplete uploads."""
    rules: list[dict[str, Any]]
    cost_before: float
    cost_after: float
    untagged: tuple[str, ...]
    """Store-relative keys of archive objects without :data:`~cargoship.layout.ARCHIVE_TAGS`
    (shipped before ship tagged them): the rule leaves them in their class."""
    pending: tuple[PendingUpload, ...]
    """Multipart uploads under the prefix now, oldest first: what the abort rule removes once
    they are ``abort_uploads_after_days`` old."""


def _cold(store: ObjectStore) -> ColdStorage:
    if not isinstance(store, ColdStorage):
        raise CargoshipError(f"{store} has no lifecycle rules: only an s3:// store has them")
    return store


async def plan_lifecycle(
    store: ObjectStore,
    *,
    prefix: str,
    archive_after_days: int,
    to: str = "DEEP_ARCHIVE",
    expire_after_days: int | None = None,
    abort_uploads_after_days: int = ABORT_UPLOADS_AFTER_DAYS,
) -> LifecyclePlan:
    """Build our rules for ``prefix`` (the store's full key prefix in the bucket), merge them
    with the bucket's rules, find the archive objects they move (by their tag) and price the
    store's objects before and after. Changes nothing.

    ValueError for a rule S3 would refuse; :class:`CargoshipError` for a store without
    lifecycle rules (``file://``).
    """
    cold = _cold(store)
    prices = PriceTable.load()
    ours = build_rules(
        prefix,
        archive_after_days=archive_after_days,
        to=to,
        expire_after_days=expire_after_days,
        abort_uploads_after_days=abort_uploads_after_days,
        minimum_days=prices.minimum_days(to),
    )
    rules = merge_rules(await cold.lifecycle_rules(), ours, prefix)
    objects = [info async for info in store.list()]
    # Only objects the transition could still move are asked for their tags: one request
    # each (TAG_READS at a time), and none for archives already in the target class or colder.
    movable = [
        info.key
        for info in objects
        if is_archive_key(info.key) and _class_after(info, to) != (info.storage_class or "STANDARD")
    ]
    tag_sets = await each_bounded(movable, cold.object_tags, limit=TAG_READS)
    tagged: set[str] = set()
    untagged: list[str] = []
    for key, tags in zip(movable, tag_sets, strict=True):
        if tags.get(ARCHIVE_TAG_KEY) == ARCHIVE_TAG_VALUE:
            tagged.add(key)
        else:
            untagged.append(key)
    if untagged:
        _logger.warning(
            "%d archive object(s) under %r carry no %s=%s tag; the rule does not move them",
            len(untagged),
            prefix,
            ARCHIVE_TAG_KEY,
            ARCHIVE_TAG_VALUE,
        )
    # s3opt.s3store loads aiobotocore: imported here, where the store is one (as _cold says).
    from s3opt.s3store import S3Store

    pending = await store.pending_uploads() if isinstance(store, S3Store) else []
    return LifecyclePlan(
        ours=ours,
        rules=rules,
        cost_before=project_cost(objects, prices),
        cost_after=project_cost(objects, prices, to=to, moving=tagged),
        untagged=tuple(untagged),
        pending=tuple(sorted(pending, key=_initiated)),
    )


def _initiated(upload: PendingUpload) -> float:
    return upload.initiated.timestamp() if upload.initiated is not None else 0.0


async def apply_lifecycle(store: ObjectStore, plan: LifecyclePlan) -> None:
    """Write ``plan.rules`` as the bucket's lifecycle configuration."""
    await _cold(store).put_lifecycle_rules(plan.rules)
    _logger.info(
        "lifecycle rule(s) %s written (%d rules in the bucket)",
        ", ".join(repr(rule["ID"]) for rule in plan.ours),
        len(plan.rules),
    )
