"""Reading an inventory from a file a batch at a time (what restore does): the same entries
as reading it whole, and memory that does not grow with the number of entries."""

from __future__ import annotations

import gc
import io
import json
import tempfile
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

import cargoship.inventory._read as inventory_read
from cargoship.errors import ArchiveNotFoundError, IncompleteArchiveError, InventoryFormatError
from cargoship.inventory import ArchiveRecord, EntryType, Inventory, InventoryEntry, Totals
from cargoship.inventory._read import read_document
from cargoship.layout import load_inventory, stream_inventory
from s3opt import LocalStore

WHEN = datetime(2025, 7, 27, 10, 0, 0, tzinfo=UTC)
DIGEST = "sha256:" + "e" * 64


InventoryOf = Callable[[Sequence[InventoryEntry]], Inventory]


def _files(count: int) -> list[InventoryEntry]:
    return [
        InventoryEntry(f"d{i % 7}/file{i:06d}", EntryType.FILE, i, DIGEST, "zstd", WHEN, 0o644, i)
        for i in range(count)
    ]


def _read(data: bytes) -> tuple[ArchiveRecord, Totals, list[InventoryEntry]]:
    archive, totals, entries = read_document(io.BytesIO(data))
    return archive, totals, list(entries)


def test_batches_from_a_file_give_the_entries_the_whole_document_gives(
    monkeypatch: pytest.MonkeyPatch, inventory_of: InventoryOf
) -> None:
    """Items split over batches and over the file's reads (batches of 3, reads of 100 bytes)."""
    monkeypatch.setattr(inventory_read, "BATCH_ITEMS", 3)
    monkeypatch.setattr(inventory_read, "_READ_BYTES", 100)
    inventory = inventory_of(_files(10))
    expected = (inventory.archive, inventory.totals, list(inventory.entries))
    assert _read(inventory.dumps_yaml()) == expected
    # JSON, read by the json module: the independent reference
    text = json.dumps(inventory.to_json()).encode()
    assert _read(text) == expected


def test_a_later_batch_that_cannot_be_split_is_read_whole(
    monkeypatch: pytest.MonkeyPatch, inventory_of: InventoryOf
) -> None:
    """A quoted path spanning a line that starts with '- ' splits only where YAML would not:
    that batch fails to load, and the rest comes from the whole document."""
    monkeypatch.setattr(inventory_read, "BATCH_ITEMS", 2)
    inventory = inventory_of(_files(5))
    text = inventory.dumps_yaml().replace(
        b"path: d4/file000004", b'path: "d4/file\n\n- x: y\n  000004"'
    )
    entries = _read(text)[2]
    assert [entry.path for entry in entries][:4] == [e.path for e in inventory.entries][:4]
    assert entries[4].path == "d4/file\n- x: y 000004"  # YAML folds the line breaks


def test_a_malformed_item_is_refused_when_reached(inventory_of: InventoryOf) -> None:
    inventory = inventory_of(_files(3))
    text = inventory.dumps_yaml().replace(b"size: 2\n", b"size: -2\n")
    archive, _, entries = read_document(io.BytesIO(text))
    assert archive == inventory.archive
    with pytest.raises(InventoryFormatError, match=r"files\[2\].*size"):
        list(entries)


@pytest.mark.asyncio
async def test_stream_inventory_reads_what_load_inventory_reads(
    tmp_path: Path, inventory_of: InventoryOf
) -> None:
    store = LocalStore(tmp_path, fsync=False)
    inventory = inventory_of(_files(50))
    name = inventory.archive.name
    await store.put(name + ".inventory.yaml", inventory.dumps_yaml())
    with tempfile.TemporaryFile() as file:
        stream = await stream_inventory(store, name + ".tar.zst", file)
        assert (stream.archive, stream.totals) == (inventory.archive, inventory.totals)
        assert tuple(stream.entries) == (await load_inventory(store, name)).entries
    await store.put("20261122T000000Z.tar.zst", b"interrupted")
    with tempfile.TemporaryFile() as file:
        with pytest.raises(IncompleteArchiveError, match="no inventory"):
            await stream_inventory(store, "20261122T000000Z", file)
        with pytest.raises(ArchiveNotFoundError, match="no archive 20200101T000000Z"):
            await stream_inventory(store, "20200101T000000Z", file)
    await store.put("20261123T000000Z.inventory.yaml", inventory.dumps_yaml())
    with (
        tempfile.TemporaryFile() as file,
        pytest.raises(InventoryFormatError, match=f"describes archive {name}"),
    ):
        await stream_inventory(store, "20261123T000000Z", file)


async def _traced_peak(store: LocalStore, name: str) -> int:
    """Peak traced bytes of streaming the inventory ``name`` and reading every entry."""
    gc.collect()
    tracemalloc.start()
    try:
        with tempfile.TemporaryFile() as file:
            stream = await stream_inventory(store, name, file)
            count = sum(1 for _ in stream.entries)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert count


@pytest.mark.asyncio
async def test_streaming_memory_does_not_grow_with_the_entries(
    tmp_path: Path, inventory_of: InventoryOf
) -> None:
    """Between 5,000 and 20,000 entries (~2.6 MB more YAML), the traced peak grows by less
    than 20 bytes an entry; loading the document whole (load_inventory) grows by well over
    500 (the text, ~170 bytes an item, and the entries), which this bound would catch."""
    store = LocalStore(tmp_path, fsync=False)
    peaks = []
    for count, name in ((5_000, "20250727T100000Z"), (20_000, "20250727T100001Z")):
        inventory = inventory_of(_files(count))
        record = replace(
            inventory.archive, name=name, key=name + ".tar.zst", index_key=name + ".index"
        )
        data = Inventory(record, inventory.totals, inventory.entries).dumps_yaml()
        del inventory
        await store.put(name + ".inventory.yaml", data)
        del data
        peaks.append(await _traced_peak(store, name))
    assert (peaks[1] - peaks[0]) / 15_000 < 20
