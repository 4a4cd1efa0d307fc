"""cargoship.verify against moto's S3 server over real HTTP, on archives made by ``ship``."""

from __future__ import annotations

import functools
import json
import os
import re
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from cargoship.errors import CargoshipError, IntegrityError
from cargoship.fetch import StreamAhead
from cargoship.inventory import _write
from cargoship.inventory._pages import PageRecorder
from cargoship.layout import load_inventory
from cargoship.restore import RestoreOptions, restore
from cargoship.ship import ShipOptions, ship
from cargoship.verify import verify
from s3opt import LocalStore, ObjectStore, S3Config, open_store
from s3opt.errors import NoSuchKeyError

MiB = 1 << 20


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
    assert report.notes == ()  # it has a page table, which matched


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
    assert report.notes == ()
    inventory = await load_inventory(store, shipped.keys.name)
    assert report.parts == max(1, len(inventory.archive.parts))

    data = await _read(store, shipped.keys.archive)
    data[-20] ^= 0xFF  # re-uploaded with one byte different
    await store.put(shipped.keys.archive, bytes(data))
    with pytest.raises(IntegrityError) as caught:
        await verify(store, shipped.keys.name, quick=True)
    assert shipped.keys.archive in str(caught.value)


@pytest.mark.asyncio
async def test_quick_verify_compares_every_part_of_a_multipart_archive(
    s3_url: str, s3_config: S3Config, tmp_path: Path
) -> None:
    source = tmp_path / "noise"
    source.mkdir()
    (source / "random.bin").write_bytes(os.urandom(11 * MiB))  # stored as is: 3 parts
    config = s3_config.model_copy(update={"part_size_min": 5 * MiB, "multipart_threshold": 5 * MiB})
    async with open_store(s3_url, config) as store:
        shipped = await ship(store, source, ShipOptions())
        recorded = (await load_inventory(store, shipped.keys.name)).archive.parts
        assert [part.size for part in recorded[:2]] == [5 * MiB, 5 * MiB]
        report = await verify(store, shipped.keys.name, quick=True)
        assert (report.parts, report.bytes_fetched) == (len(recorded), 0) == (3, 0)

        data = await _read(store, shipped.keys.archive)
        data[5 * MiB + 100] ^= 0xFF  # one byte of part 2, re-uploaded in the same parts
        await store.upload(shipped.keys.archive, bytes(data))
        with pytest.raises(IntegrityError) as caught:
            await verify(store, shipped.keys.name, quick=True)
    (problem,) = caught.value.problems
    assert problem.startswith(
        f"{shipped.keys.archive} part 2: the store has {5 * MiB} bytes with sha256:"
    )
    assert problem.endswith(f"the upload recorded {5 * MiB} bytes with {recorded[1].checksum}")


@pytest.mark.asyncio
async def test_quick_verify_needs_s3(local_store: LocalStore, sample_tree: Path) -> None:
    shipped = await ship(local_store, sample_tree, ShipOptions())
    with pytest.raises(CargoshipError, match="needs S3"):
        await verify(local_store, shipped.keys.name, quick=True)
    assert (await verify(local_store, shipped.keys.name)).files == 5


# -- the inventory's page table -------------------------------------------------------------


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 4 items, so a tree of a few dozen entries spans several pages."""
    monkeypatch.setattr(_write, "PageRecorder", functools.partial(PageRecorder, 4))


def _files(root: Path) -> None:
    """dir0 and dir1, ten small files each (22 inventory items: 6 pages of at most 4)."""
    for d in range(2):
        (root / f"dir{d}").mkdir(parents=True)
        for f in range(10):
            (root / f"dir{d}/file{f:04d}.txt").write_text(f"{d} {f}\n")


@pytest.mark.asyncio
@pytest.mark.usefixtures("small_pages")
async def test_verify_catches_page_bounds_that_restore_include_cannot_see(
    store: ObjectStore, tmp_path: Path
) -> None:
    _files(tmp_path / "source")
    shipped = await ship(store, tmp_path / "source", ShipOptions())
    keys = shipped.keys
    data = bytes(await _read(store, keys.pages))
    table = json.loads(data)
    # A page of dir0's files, which a restore of a file in dir1 never fetches: its greatest
    # path lowered in its last character, so that path lies above the page's bounds.
    number, page = next(
        (n, p)
        for n, p in enumerate(table["pages"])
        if p["low"].startswith("dir0/") and p["high"].startswith("dir0/")
    )
    lowered = page["high"][:-1] + chr(ord(page["high"][-1]) - 1)
    honest = f'"high": "{page["high"]}"'.encode()
    assert data.count(honest) == 1
    lying = data.replace(honest, f'"high": "{lowered}"'.encode())
    assert len(lying) == len(data)  # the same size: nothing but the bounds changed
    await store.put(keys.pages, lying)

    dest = tmp_path / "one"
    report = await restore(store, keys.name, dest, RestoreOptions(include=("dir1/file0005.txt",)))
    assert (dest / "dir1/file0005.txt").read_text() == "1 5\n"
    assert report.inventory_bytes < (await store.head(keys.inventory)).size  # paged
    with pytest.raises(IntegrityError) as caught:
        await verify(store, keys.name)

    assert list(caught.value.problems) == [
        f"{keys.pages}: page {number} (bytes {page['offset']}-"
        f"{page['offset'] + page['length'] - 1}): path {page['high']!r} lies outside its "
        f"page's bounds {page['low']!r}..{lowered!r}"
    ]
    assert caught.value.exit_code == 3


def _fewer_items(table: dict[str, Any]) -> str:
    table["pages"][2]["items"] -= 1
    return r"page 2 \(bytes \d+-\d+\): the page holds 4 items, the page table says 3"


def _gap(table: dict[str, Any]) -> str:
    table["pages"][1]["offset"] += 1
    table["pages"][1]["length"] -= 1
    return r"page 1 at byte \d+ leaves a gap"


def _shifted(table: dict[str, Any]) -> str:
    """Page 3 starts 3 bytes into its first item (page 2 takes them)."""
    table["pages"][2]["length"] += 3
    table["pages"][3]["offset"] += 3
    table["pages"][3]["length"] -= 3
    return r"page 3 \(bytes \d+-\d+\): the page does not start and end at item bounds"


def _longer(table: dict[str, Any]) -> str:
    table["inventory_size"] += 10
    table["pages"][-1]["length"] += 10
    return r"describes an inventory of \d+ bytes; it has \d+"


def _late_head(table: dict[str, Any]) -> str:
    """The head claimed to run 2 bytes into the first item, the first page shortened."""
    table["head_length"] += 2
    table["pages"][0]["offset"] += 2
    table["pages"][0]["length"] -= 2
    return r"head_length \d+: its head does not end at the files: line"


@pytest.mark.parametrize("tamper", [_fewer_items, _gap, _shifted, _longer, _late_head])
@pytest.mark.asyncio
@pytest.mark.usefixtures("small_pages")
async def test_verify_names_the_table_and_the_page_that_disagree_with_the_inventory(
    store: ObjectStore, tmp_path: Path, tamper: Callable[[dict[str, Any]], str]
) -> None:
    _files(tmp_path / "source")
    shipped = await ship(store, tmp_path / "source", ShipOptions())
    keys = shipped.keys
    table = json.loads(await _read(store, keys.pages))
    problem = tamper(table)
    await store.put(keys.pages, json.dumps(table).encode())

    with pytest.raises(IntegrityError) as caught:
        await verify(store, keys.name)

    problems = caught.value.problems
    assert all(found.startswith(f"{keys.pages}: ") for found in problems), problems
    assert any(re.search(problem, found) for found in problems), problems


@pytest.mark.asyncio
async def test_an_archive_without_a_page_table_passes_with_a_note(
    store: ObjectStore, sample_tree: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    await store.delete([shipped.keys.pages])  # as ship wrote archives before page tables

    whole = await verify(store, shipped.keys.name)
    quick = await verify(store, shipped.keys.name, quick=True)

    assert whole.files == 5
    for report in (whole, quick):
        (note,) = report.notes
        assert note.startswith(f"{shipped.keys.pages}: none")
    gzip = await ship(store, sample_tree, ShipOptions(compression="gzip"))
    assert (await verify(store, gzip.keys.name)).notes == ()  # no index: no table to have


@pytest.mark.asyncio
async def test_quick_verify_heads_the_page_table_and_refuses_one_over_the_limit(
    store: ObjectStore, sample_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    size = len(await _read(store, shipped.keys.pages))
    monkeypatch.setattr("cargoship.verify.MAX_PAGES_BYTES", size - 1)

    with pytest.raises(IntegrityError) as caught:
        await verify(store, shipped.keys.name, quick=True)

    assert list(caught.value.problems) == [
        f"{shipped.keys.pages}: {size} bytes, more than the {size - 1} a page table may hold"
    ]
    monkeypatch.setattr("cargoship.verify.MAX_PAGES_BYTES", size)
    assert (await verify(store, shipped.keys.name, quick=True)).notes == ()


@pytest.mark.asyncio
async def test_progress_is_told_the_archive_size_then_every_byte_read(
    store: ObjectStore, sample_tree: Path, progress_recorder: Callable[[], Any]
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    size = (await store.head(shipped.keys.archive)).size
    recorder = progress_recorder()
    await verify(store, shipped.keys.name, progress=recorder)
    assert recorder.started == [(5, size)]  # five regular files; the copy is a hard link
    assert recorder.advanced == size
    # A quick verify reads no archive bytes and draws no bar.
    quick = progress_recorder()
    await verify(store, shipped.keys.name, quick=True, progress=quick)
    assert (quick.started, quick.advanced) == ([], 0)


@pytest.mark.asyncio
async def test_a_large_archive_is_streamed_once_beside_its_index(
    local_store: LocalStore, tmp_path: Path, closed_streams: list[StreamAhead]
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "noise").write_bytes(os.urandom(1 << 20))  # an archive past the 64 KiB tail read
    (source / "note").write_text("hello\n")
    shipped = await ship(local_store, source, ShipOptions())
    archive = await local_store.head(shipped.keys.archive)
    index = await local_store.head(shipped.keys.index)

    report = await verify(local_store, shipped.keys.name)
    # The seek table's tail read, the stream (started before the index was read) once, and
    # the index (downloaded beside the inventory) once.
    assert report.bytes_fetched == (64 << 10) + archive.size + index.size

    closed_streams.clear()  # those of the verify above
    await local_store.delete([shipped.keys.index])
    with pytest.raises(NoSuchKeyError, match=r"\.index"):
        await verify(local_store, shipped.keys.name)
    assert len(closed_streams) == 1  # the stream it had started was stopped
