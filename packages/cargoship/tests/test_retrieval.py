"""Retrieval from GLACIER / DEEP_ARCHIVE: plans, RestoreObject requests and their status on moto.

Archives are made by ``ship`` to moto's S3 server over HTTP. Expected costs are
hand-computed from the published prices (aws.amazon.com/s3/pricing, as in
s3opt's price file): DEEP_ARCHIVE Bulk $0.0025/GB + $0.025 per 1,000 requests,
Standard $0.02/GB + $0.10; GLACIER Standard $0.01/GB + $0.05; a GB is 2^30 bytes.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cargoship.errors import ArchiveNotFoundError, IncompleteArchiveError, RetrievalRequiredError
from cargoship.retrieval import (
    archive_objects,
    plan_retrieval,
    request_retrieval,
    retrieval_status,
    wait_until_available,
)
from cargoship.ship import ShipOptions, ship
from s3opt import LocalStore, ObjectStore
from s3opt.testing import MotoServer

GB = 2**30
RESTORE_MODEL = "s3::keyrestore"


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "notes.txt").write_bytes(b"archive me\n" * 500)
    (root / "blob.bin").write_bytes(bytes(range(256)) * 64)
    return root


async def _ship(store: ObjectStore, tree: Path, storage_class: str) -> str:
    report = await ship(store, tree, ShipOptions(storage_class=storage_class, threads=1))
    return report.keys.name


@pytest.mark.asyncio
async def test_a_standard_archive_needs_no_retrieval(store: ObjectStore, small_tree: Path) -> None:
    name = await _ship(store, small_tree, "STANDARD")
    plan = await plan_retrieval(store, name)
    assert plan.objects == ()
    assert plan.cost == 0.0
    assert await retrieval_status(store, name) == "available"
    assert await request_retrieval(store, plan) == []
    await wait_until_available(store, name, poll=0.01, timeout=0)


@pytest.mark.asyncio
async def test_deep_archive_plan_request_and_status(store: ObjectStore, small_tree: Path) -> None:
    name = await _ship(store, small_tree, "DEEP_ARCHIVE")
    listed = {info.key: info async for info in store.list(name)}
    archive_key = f"{name}.tar.zst"
    size = listed[archive_key].size
    assert listed[archive_key].storage_class == "DEEP_ARCHIVE"
    assert listed[f"{name}.inventory.yaml"].storage_class == "STANDARD"

    assert await retrieval_status(store, name) == "not-requested"
    with pytest.raises(RetrievalRequiredError, match="no retrieval was requested"):
        await wait_until_available(store, name, poll=0.01)

    bulk = await plan_retrieval(store, f"{name}.tar.zst", tier="Bulk", days=3)
    assert bulk.objects == ((archive_key, size, "DEEP_ARCHIVE"),)
    assert (bulk.tier, bulk.days, bulk.hours) == ("Bulk", 3, 48)
    assert bulk.cost == pytest.approx(size / GB * 0.0025 + 0.025 / 1000)
    standard = await plan_retrieval(store, name)
    assert standard.hours == 12
    assert standard.cost == pytest.approx(size / GB * 0.02 + 0.10 / 1000)
    with pytest.raises(ValueError, match="DEEP_ARCHIVE"):
        await plan_retrieval(store, name, tier="Expedited")

    assert await request_retrieval(store, bulk) == [archive_key]
    head = await store.head(archive_key)
    assert head.restore is not None  # moto's HEAD now carries x-amz-restore
    assert await retrieval_status(store, name) == "available"
    assert (await plan_retrieval(store, name)).objects == ()


RestoreSpeed = Callable[[int | None], None]


@pytest.fixture
def restore_speed(moto_server: MotoServer) -> Iterator[RestoreSpeed]:
    """Steer moto's restore state machine (its /moto-api/state-manager).

    ``restore_speed(n)``: a restore advances one state (in progress, then done) every
    ``n`` reads of the object; ``restore_speed(None)``: moto's default, done at once.
    """

    def post(path: str, body: dict[str, object]) -> None:
        request = urllib.request.Request(
            f"{moto_server.endpoint_url}/moto-api/state-manager/{path}",
            data=json.dumps(body).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            reply.read()

    def set_speed(reads: int | None) -> None:
        if reads is None:
            post("unset-transition", {"model_name": RESTORE_MODEL})
        else:
            transition = {"progression": "manual", "times": reads}
            post("set-transition", {"model_name": RESTORE_MODEL, "transition": transition})

    try:
        yield set_speed
    finally:
        set_speed(None)


async def _in_progress(store: ObjectStore, name: str, restore_speed: RestoreSpeed) -> None:
    """Request a restore of ``name`` and hold it in progress (until ``restore_speed(None)``)."""
    restore_speed(1)
    assert await request_retrieval(store, await plan_retrieval(store, name)) == [f"{name}.tar.zst"]
    for _ in range(5):
        if await retrieval_status(store, name) == "in-progress":
            break
    restore_speed(1_000_000)
    assert await retrieval_status(store, name) == "in-progress"


@pytest.mark.asyncio
async def test_waiting_sees_in_progress_then_available(
    store: ObjectStore, small_tree: Path, restore_speed: RestoreSpeed
) -> None:
    name = await _ship(store, small_tree, "GLACIER")
    await _in_progress(store, name, restore_speed)
    # A restore under way is not requested again.
    assert await request_retrieval(store, await plan_retrieval(store, name)) == []

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            restore_speed(None)  # S3 finishes the restore while we sleep

    await wait_until_available(store, name, poll=30.0, timeout=3600, sleep=sleep)
    assert slept == [30.0, 30.0]
    assert await retrieval_status(store, name) == "available"


@pytest.mark.asyncio
async def test_waiting_gives_up_at_the_timeout(
    store: ObjectStore, small_tree: Path, restore_speed: RestoreSpeed
) -> None:
    name = await _ship(store, small_tree, "GLACIER")
    await _in_progress(store, name, restore_speed)
    now = [1000.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with pytest.raises(RetrievalRequiredError, match="still in progress after 25 s"):
        await wait_until_available(
            store, name, poll=10.0, timeout=25.0, sleep=sleep, clock=lambda: now[0]
        )
    assert slept == [10.0, 10.0, 5.0]


@pytest.mark.asyncio
async def test_a_cold_index_is_part_of_the_retrieval(store: ObjectStore, small_tree: Path) -> None:
    # A lifecycle rule may move a large index along with its archive.
    name = await _ship(store, small_tree, "DEEP_ARCHIVE")
    index_key = f"{name}.index"
    index = await store.get_range(index_key, 0, 1 << 20)
    await store.put(index_key, index, storage_class="GLACIER")
    archive_size = (await store.head(f"{name}.tar.zst")).size
    plan = await plan_retrieval(store, name, tier="Standard")
    assert sorted(plan.objects) == sorted(
        [(f"{name}.tar.zst", archive_size, "DEEP_ARCHIVE"), (index_key, len(index), "GLACIER")]
    )
    assert plan.hours == 12  # the longer of GLACIER's 5 and DEEP_ARCHIVE's 12
    assert plan.cost == pytest.approx(
        archive_size / GB * 0.02 + 0.10 / 1000 + len(index) / GB * 0.01 + 0.05 / 1000
    )
    assert sorted(await request_retrieval(store, plan)) == sorted([f"{name}.tar.zst", index_key])


@pytest.mark.asyncio
async def test_archive_objects_are_every_object_ship_wrote(
    store: ObjectStore, small_tree: Path
) -> None:
    report = await ship(store, small_tree, ShipOptions(threads=1))
    keys = report.keys
    listed = {info.key async for info in store.list(keys.name)}  # the store's own listing

    found = {info.key for info in await archive_objects(store, keys.name)}

    assert found == listed == {keys.archive, keys.index, keys.pages, keys.inventory}


@pytest.mark.asyncio
async def test_a_cold_page_table_is_part_of_the_retrieval(
    store: ObjectStore, small_tree: Path
) -> None:
    # Only a lifecycle rule of the user's own could move it; the plan must still see it.
    name = await _ship(store, small_tree, "STANDARD")
    pages_key = f"{name}.inventory.pages"
    table = await store.get_range(pages_key, 0, 1 << 20)
    await store.put(pages_key, table, storage_class="GLACIER")

    plan = await plan_retrieval(store, name, tier="Standard")

    assert plan.objects == ((pages_key, len(table), "GLACIER"),)
    assert plan.hours == 5
    assert plan.cost == pytest.approx(len(table) / GB * 0.01 + 0.05 / 1000)
    assert await request_retrieval(store, plan) == [pages_key]


@pytest.mark.asyncio
async def test_missing_and_incomplete_archives(store: ObjectStore) -> None:
    with pytest.raises(ArchiveNotFoundError, match="20260101T000000Z") as caught:
        await plan_retrieval(store, "20260101T000000Z")
    # The store is named by its URL, as the user gave it, not by its repr.
    assert str(caught.value) == f"no archive named '20260101T000000Z' in {store}"
    assert str(store).startswith(("s3://", "file://"))
    await store.put("20260102T000000Z.tar.zst", b"partial", storage_class="DEEP_ARCHIVE")
    with pytest.raises(IncompleteArchiveError, match="20260102T000000Z"):
        await retrieval_status(store, "20260102T000000Z")
    await store.put("20260103T000000Z.index", b"uploaded beside the archive's last parts")
    with pytest.raises(IncompleteArchiveError, match="20260103T000000Z"):
        await plan_retrieval(store, "20260103T000000Z")
    with pytest.raises(ArchiveNotFoundError, match="not-a-name"):
        await plan_retrieval(store, "not-a-name")


@pytest.mark.asyncio
async def test_bad_tier_and_days(store: ObjectStore, small_tree: Path) -> None:
    name = await _ship(store, small_tree, "STANDARD")
    with pytest.raises(ValueError, match="'Fast'"):
        await plan_retrieval(store, name, tier="Fast")
    with pytest.raises(ValueError, match="at least 1 day"):
        await plan_retrieval(store, name, days=0)


@pytest.mark.asyncio
async def test_a_directory_store_never_needs_a_retrieval(
    local_store: LocalStore, small_tree: Path
) -> None:
    name = await _ship(local_store, small_tree, "DEEP_ARCHIVE")
    assert (await plan_retrieval(local_store, name)).objects == ()
    assert await retrieval_status(local_store, name) == "available"
