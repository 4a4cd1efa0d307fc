"""cargoship.verify against moto's S3 server over real HTTP, on archives made by ``ship``."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path
from unittest import mock

import pytest

from cargoship.errors import CargoshipError, IntegrityError
from cargoship.layout import load_inventory
from cargoship.ship import ShipOptions, ship
from cargoship.verify import verify
from s3opt import LocalStore, ObjectStore


async def _read(store: ObjectStore, key: str) -> bytearray:
    return bytearray(b"".join([chunk async for chunk in store.get(key)]))


@pytest.mark.asyncio
async def test_verify_passes_on_a_good_archive(store: ObjectStore, sample_tree: Path) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())

    report = await verify(store, shipped.keys.name)

    archive = await store.head(shipped.keys.archive)
    index = await store.head(shipped.keys.index)
    assert report.files == 5  # 6 regular files, one stored as a hard link to its duplicate
    assert report.frames == 2  # 3.2 MiB of tar in 2 MiB frames
    assert report.bytes_fetched == archive.size + index.size
    assert not report.quick


@pytest.mark.asyncio
async def test_verify_reads_ships_own_tar_without_tarfile(
    store: ObjectStore, sample_tree: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())

    with mock.patch.object(tarfile, "open", side_effect=AssertionError("tarfile used")):
        report = await verify(store, shipped.keys.name)

    assert report.files == 5


@pytest.mark.asyncio
async def test_verify_names_the_frame_with_one_flipped_byte(
    store: ObjectStore, sample_tree: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    data = await _read(store, shipped.keys.archive)
    data[100] ^= 0x01  # inside frame 0, which starts at byte 0
    await store.put(shipped.keys.archive, bytes(data))

    with pytest.raises(IntegrityError) as caught:
        await verify(store, shipped.keys.name)

    assert re.search(r"frame 0\b", str(caught.value))
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 3


@pytest.mark.asyncio
async def test_verify_reports_a_truncated_archive(store: ObjectStore, sample_tree: Path) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    data = await _read(store, shipped.keys.archive)
    await store.put(shipped.keys.archive, bytes(data[:-1000]))

    with pytest.raises(IntegrityError) as caught:
        await verify(store, shipped.keys.name)

    assert "seek table" in str(caught.value)


@pytest.mark.asyncio
async def test_verify_checks_gzip_archives_through_the_stream(
    store: ObjectStore, sample_tree: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions(compression="gzip"))
    assert (await verify(store, shipped.keys.name)).files == 5
    data = await _read(store, shipped.keys.archive)
    data[len(data) // 2] ^= 0x40
    await store.put(shipped.keys.archive, bytes(data))

    with pytest.raises(IntegrityError) as caught:
        await verify(store, shipped.keys.name)
    assert shipped.keys.archive in str(caught.value)


@pytest.mark.asyncio
async def test_verify_checks_an_uncompressed_archive_against_its_index(
    store: ObjectStore, sample_tree: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions(compression="none"))
    report = await verify(store, shipped.keys.name)  # every member's offset and size vs tarfile's
    archive = await store.head(shipped.keys.archive)
    assert (report.files, report.frames) == (5, 0)
    assert report.bytes_fetched == archive.size + (await store.head(shipped.keys.index)).size
    data = await _read(store, shipped.keys.archive)
    start = bytes(data).index(b"line 00000001:")  # inside data/big.txt
    data[start] ^= 0x01
    await store.put(shipped.keys.archive, bytes(data))

    with pytest.raises(IntegrityError) as caught:
        await verify(store, shipped.keys.name)
    assert "data/big.txt" in str(caught.value)


@pytest.mark.asyncio
async def test_verify_names_a_damaged_tar_header(store: ObjectStore, sample_tree: Path) -> None:
    shipped = await ship(store, sample_tree, ShipOptions(compression="none"))
    data = await _read(store, shipped.keys.archive)
    header = bytes(data).index(b"data/big.txt\x00")  # its ustar block's name field
    data[header] ^= 0x01
    await store.put(shipped.keys.archive, bytes(data))

    with pytest.raises(IntegrityError) as caught:
        await verify(store, shipped.keys.name)

    found = re.search(r"tar header at byte (\d+): bad checksum", str(caught.value))
    assert found is not None
    # The member starts at its ustar block, or at the pax header (two blocks) before it.
    assert int(found[1]) in (header, header - 2 * 512)
    assert "data/big.txt: in the inventory, missing from the archive" in caught.value.problems


@pytest.mark.asyncio
async def test_quick_verify_catches_a_changed_upload(store: ObjectStore, sample_tree: Path) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    report = await verify(store, shipped.keys.name, quick=True)
    assert report.quick
    assert report.bytes_fetched == 0
    inventory = await load_inventory(store, shipped.keys.name)
    assert report.parts == max(1, len(inventory.archive.parts))

    data = await _read(store, shipped.keys.archive)
    data[-20] ^= 0xFF  # re-uploaded with one byte different
    await store.put(shipped.keys.archive, bytes(data))
    with pytest.raises(IntegrityError) as caught:
        await verify(store, shipped.keys.name, quick=True)
    assert shipped.keys.archive in str(caught.value)


@pytest.mark.asyncio
async def test_quick_verify_needs_s3(local_store: LocalStore, sample_tree: Path) -> None:
    shipped = await ship(local_store, sample_tree, ShipOptions())
    with pytest.raises(CargoshipError, match="needs S3"):
        await verify(local_store, shipped.keys.name, quick=True)
    assert (await verify(local_store, shipped.keys.name)).files == 5
