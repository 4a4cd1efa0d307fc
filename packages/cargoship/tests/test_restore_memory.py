"""Restore and verify hold the same memory whatever the number of entries.

The slope of tracemalloc's peak between a small and a four times larger tree
of tiny files is what each entry costs. Entries kept as Python objects (an
InventoryEntry each, dicts and sets over their paths, the index's members)
cost about 800 bytes each; in an EntryTable on disk, one bit remains.

Reads and batches have fixed caps (1 MiB chunks, 2,000 inventory items, 64 MiB of the
archive received ahead), which
a small tree stays under: they are lowered here, below the small tree's size,
so that what the slope measures is what grows with the entries, not a buffer
still filling up to its cap.
"""

from __future__ import annotations

import tempfile
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import s3opt.local as s3opt_local
from cargoship import entry_table, fetch
from cargoship import restore as restore_module
from cargoship import verify as verify_module
from cargoship.inventory import _read as inventory_read
from cargoship.restore import RestoreOptions, restore
from cargoship.ship import ShipOptions, ship
from cargoship.verify import verify
from s3opt import LocalStore

SMALL, LARGE = 2000, 8000
MOST_BYTES_PER_ENTRY = 100  # measured: under 40 for restore, about 45 for verify


async def _traced_peak(work: Callable[[], Awaitable[object]]) -> int:
    tracemalloc.start()
    try:
        await work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_restore_and_verify_memory_does_not_grow_with_the_entries(
    tmp_path: Path, local_store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(inventory_read, "BATCH_ITEMS", 200)
    monkeypatch.setattr(inventory_read, "_READ_BYTES", 16 << 10)
    monkeypatch.setattr(entry_table, "_BATCH", 200)
    monkeypatch.setattr(s3opt_local, "CHUNK_SIZE", 64 << 10)
    monkeypatch.setattr(fetch, "_READ_BYTES", 64 << 10)
    monkeypatch.setattr(restore_module, "STREAM_AHEAD_BYTES", 64 << 10)
    monkeypatch.setattr(verify_module, "STREAM_AHEAD_BYTES", 64 << 10)
    peaks: dict[str, list[int]] = {"restore": [], "include": [], "verify": []}
    for count in (SMALL, LARGE):
        source = tmp_path / f"src{count}"
        for number in range(count):
            folder = source / f"d{number // 500:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"f{number:05d}").write_bytes(b"%d\n" % number)
        name = (await ship(local_store, source, ShipOptions(threads=1))).keys.name
        whole, some = tmp_path / f"whole{count}", tmp_path / f"some{count}"

        async def restore_whole(name: str = name, dest: Path = whole) -> object:
            return await restore(local_store, name, dest, RestoreOptions())

        async def restore_some(name: str = name, dest: Path = some) -> object:
            return await restore(local_store, name, dest, RestoreOptions(include=("d0[13]",)))

        async def verify_all(name: str = name) -> object:
            return await verify(local_store, name)

        peaks["restore"].append(await _traced_peak(restore_whole))
        peaks["include"].append(await _traced_peak(restore_some))
        peaks["verify"].append(await _traced_peak(verify_all))
        assert sum(1 for path in whole.rglob("f*") if path.is_file()) == count
        assert sorted(path.name for path in some.iterdir()) == ["d01", "d03"]
        assert list(scratch.iterdir()) == []  # the entry tables and downloads are gone

    for what, (small, large) in peaks.items():
        slope = (large - small) / (LARGE - SMALL)
        assert slope < MOST_BYTES_PER_ENTRY, (what, small, large)
