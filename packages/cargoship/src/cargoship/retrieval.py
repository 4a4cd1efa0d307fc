"""Getting an archive back out of GLACIER or DEEP_ARCHIVE before it can be read.

Objects in S3 Glacier Flexible Retrieval (``GLACIER``) and Glacier Deep
Archive (``DEEP_ARCHIVE``) cannot be read until a restore has made a
temporary copy of them (S3 User Guide, "Restoring an archived object"): a
RestoreObject request at a tier (``Expedited``, ``Standard``, ``Bulk``;
Deep Archive has no Expedited tier), then HEAD's ``x-amz-restore`` says
``ongoing-request="true"`` until the copy is there and ``"false"`` with an
expiry date afterwards. Every other class, Glacier Instant Retrieval
included, is read directly.

An archive's objects are found with one listing of ``<name>.``: the archive
itself and, normally in STANDARD, its index, inventory page table and
inventory. Any of them in a cold class (a lifecycle rule may have moved a
large index too) is part of the retrieval. Only stores that satisfy
:class:`s3opt.protocols.ColdStorage` have archive tiers; on a ``file://``
store nothing ever needs a retrieval.

The plan is priced with :class:`s3opt.pricing.PriceTable` before anything is
requested, so the CLI can show what a retrieval costs and how long it takes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal

from cargoship.errors import (
    ArchiveNotFoundError,
    CargoshipError,
    IncompleteArchiveError,
    RetrievalRequiredError,
)
from cargoship.layout import (
    INVENTORY_SUFFIX,
    archive_name,
    archive_object_keys,
    is_interrupted,
)
from s3opt.pricing import PriceTable
from s3opt.protocols import ColdStorage, ObjectInfo, ObjectStore, check_restore_tier

__all__ = [
    "ARCHIVE_CLASSES",
    "RetrievalPlan",
    "RetrievalState",
    "archive_objects",
    "plan_retrieval",
    "request_retrieval",
    "retrieval_status",
    "wait_until_available",
]

_logger = logging.getLogger(__name__)

ARCHIVE_CLASSES: Final = frozenset({"GLACIER", "DEEP_ARCHIVE"})
"""Storage classes whose objects must be restored before they can be read."""

RetrievalState = Literal["available", "in-progress", "not-requested"]


@dataclass(frozen=True, slots=True)
class RetrievalPlan:
    """What a retrieval would restore, at which tier, for how many days, its cost and hours.

    ``objects`` are ``(key, size, storage_class)``; empty when nothing needs a retrieval.
    ``hours`` is the longest typical restore time among them.
    """

    objects: tuple[tuple[str, int, str], ...]
    tier: str
    days: int
    cost: float
    hours: float


async def archive_objects(store: ObjectStore, name: str) -> list[ObjectInfo]:
    """The objects of archive ``name`` (archive, index, page table, inventory: those there)
    from one listing.

    :class:`ArchiveNotFoundError` when there is none, :class:`IncompleteArchiveError`
    when other objects of it are there but its inventory is not (an interrupted ship).
    """
    name = archive_name(name)
    inventory = name + INVENTORY_SUFFIX
    known = archive_object_keys(name)
    found = [info async for info in store.list(name + ".") if info.key in known]
    keys = {info.key for info in found}
    if inventory not in keys:
        if is_interrupted(name, keys):
            raise IncompleteArchiveError(
                f"archive {name!r} in {store} has no inventory: its ship did not finish"
            )
        raise ArchiveNotFoundError(f"no archive named {name!r} in {store}")
    return found


async def _restore_states(store: ObjectStore, name: str) -> list[tuple[ObjectInfo, RetrievalState]]:
    """Each archived (GLACIER / DEEP_ARCHIVE) object of ``name`` with its restore state."""
    objects = await archive_objects(store, name)
    if not isinstance(store, ColdStorage):
        return []
    states: list[tuple[ObjectInfo, RetrievalState]] = []
    for listed in objects:
        if listed.storage_class not in ARCHIVE_CLASSES:
            continue
        info = await store.head(listed.key)
        if info.restore is None:
            states.append((info, "not-requested"))
        elif info.restore.ongoing:
            states.append((info, "in-progress"))
        else:
            states.append((info, "available"))
    return states


async def plan_retrieval(
    store: ObjectStore, name: str, *, tier: str = "Standard", days: int = 7
) -> RetrievalPlan:
    """What reading archive ``name`` needs restored first, priced at ``tier`` for ``days`` days.

    Objects already restored are left out (a restore under way is kept: it still
    stands between the user and the data). ValueError for an unknown tier, a tier
    the class does not offer (Expedited for DEEP_ARCHIVE) or ``days`` below 1.
    """
    check_restore_tier(tier)
    if isinstance(days, bool) or days < 1:
        raise ValueError(f"a restore lasts at least 1 day, got days={days!r}")
    needed = [info for info, state in await _restore_states(store, name) if state != "available"]
    prices = PriceTable.load()
    cost = 0.0
    hours = 0.0
    by_class: dict[str, list[ObjectInfo]] = {}
    for info in needed:
        by_class.setdefault(info.storage_class or "STANDARD", []).append(info)
    for storage_class, infos in sorted(by_class.items()):
        # The price table knows which tiers each class offers (ValueError naming both).
        priced = prices.retrieval(sum(i.size for i in infos), len(infos), storage_class, tier)
        cost += priced.cost
        hours = max(hours, priced.hours)
    return RetrievalPlan(
        objects=tuple((i.key, i.size, i.storage_class or "STANDARD") for i in needed),
        tier=tier,
        days=days,
        cost=cost,
        hours=hours,
    )


async def request_retrieval(store: ObjectStore, plan: RetrievalPlan) -> list[str]:
    """Ask S3 to restore every object of ``plan``; the keys newly requested.

    A key whose restore is already under way (HEAD says so, or S3 answers 409
    RestoreAlreadyInProgress) is not requested again and not returned.
    """
    if not plan.objects:
        return []
    if not isinstance(store, ColdStorage):
        raise CargoshipError(f"{store} has no archive tiers to restore from")
    requested: list[str] = []
    for key, _size, storage_class in plan.objects:
        restore = (await store.head(key)).restore
        if restore is not None and restore.ongoing:
            continue
        if await store.request_restore(key, days=plan.days, tier=plan.tier):
            requested.append(key)
            _logger.info("restore of %s (%s) requested at tier %s", key, storage_class, plan.tier)
    return requested


async def retrieval_status(store: ObjectStore, name: str) -> RetrievalState:
    """``"available"`` when every object of ``name`` can be read now, ``"in-progress"`` while a
    restore runs, ``"not-requested"`` when an archived object has no restore asked for."""
    states = {state for _info, state in await _restore_states(store, name)}
    if "not-requested" in states:
        return "not-requested"
    if "in-progress" in states:
        return "in-progress"
    return "available"


async def wait_until_available(
    store: ObjectStore,
    name: str,
    *,
    poll: float = 60.0,
    timeout: float | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once archive ``name`` can be read, checking every ``poll`` seconds.

    :class:`RetrievalRequiredError` when no retrieval was requested (waiting would
    never end) or when ``timeout`` seconds pass first. ``sleep`` and ``clock`` are
    injectable for tests.
    """
    if poll <= 0:
        raise ValueError(f"poll must be > 0 seconds, got {poll!r}")
    deadline = None if timeout is None else clock() + timeout
    while True:
        state = await retrieval_status(store, name)
        if state == "available":
            return
        if state == "not-requested":
            raise RetrievalRequiredError(
                f"archive {name!r} is in cold storage and no retrieval was requested"
            )
        now = clock()
        if deadline is not None and now >= deadline:
            raise RetrievalRequiredError(
                f"archive {name!r}: retrieval still in progress after {timeout:g} s"
            )
        await sleep(poll if deadline is None else min(poll, deadline - now))
