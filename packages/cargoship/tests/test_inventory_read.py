"""Reading inventories fast: the line reader must read exactly what PyYAML reads."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest
import yaml

from cargoship.errors import InventoryFormatError
from cargoship.inventory import EntryType, Inventory, InventoryEntry

WHEN = datetime(2025, 7, 27, 10, 0, 0, tzinfo=UTC)
DIGEST = "sha256:" + "c" * 64


def _file(path: str, size: int = 3, mtime_ns: int = 1_753_610_400_123_456_789) -> InventoryEntry:
    return InventoryEntry(path, EntryType.FILE, size, DIGEST, "zstd", WHEN, 0o640, mtime_ns)


InventoryOf = Callable[[Sequence[InventoryEntry]], Inventory]


# Names a plain YAML scalar would turn into something else unless quoted, names with
# characters outside the simple set, and names that only look odd.
NAMES = [
    "0644", "yes", "No", "on", "1.5", "1e3", "0x1F", "1:30", "2025-07-27", "null", "~",
    "-", "a b", "it's", "#x", "x#y", "a: b", "<<", "=", "caf\u00e9", "...", "---",
    "0-python3.11/LICENSE.txt", "dir/.hidden", ".profile", "x/y:z", "x/1.5", "_", "a.b.c",
]  # fmt: skip


def test_every_name_reads_back_as_json_reads_it(inventory_of: InventoryOf) -> None:
    """The YAML (line reader, event reader, PyYAML: whichever each batch needs) and the JSON
    of the same inventory give the same entries: json is the independent reference."""
    entries = [_file(f"{name}/f") for name in NAMES] + [_file(name) for name in NAMES]
    entries.append(
        InventoryEntry("link", EntryType.SYMLINK, 0, None, "zstd", WHEN, 0o777, -5, "../x y")
    )
    entries.append(
        InventoryEntry("hard", EntryType.HARDLINK, 3, DIGEST, "zstd", WHEN, 0o600, 0, "0644/f")
    )
    inventory = inventory_of(entries)
    from_yaml = Inventory.loads(inventory.dumps_yaml())
    from_json = Inventory.loads(json.dumps(inventory.to_json()).encode())
    assert from_yaml.entries == from_json.entries == inventory.entries


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("mode: 0644", "mode must be four octal digits"),  # YAML 1.1: the octal int 420
        ("mode: '644'", "mode must be four octal digits"),
        ("path: yes", "path must be a non-empty string"),  # the bool True
        ("path: 1.5", "path must be a non-empty string"),  # a float
        ("path: 12", "path must be a non-empty string"),  # an int
        ("path: 2025-07-27", "path must be a non-empty string"),  # a date
        ("path: a//b", "path must be a relative path"),
        ("path: a/./b", "path must be a relative path"),
        ("path: ../b", "path must be a relative path"),
        ("size: -1", "size must be in 0.."),
        ("checksum: sha256:abc", "checksum must be 'sha256:'"),
        ("type: socket", "type must be one of"),
        ("archived_at: '2025-07-27 10:00:00'", "archived_at must be a UTC time"),
        ("mtime_ns: 9223372036854775808", "mtime_ns must be in"),
    ],
)
def test_the_fast_readers_refuse_what_yaml_says_is_wrong(
    line: str, problem: str, inventory_of: InventoryOf
) -> None:
    """Each bad value replaces one line of an item written by the writer: PyYAML's reading of
    the plain scalar decides (``0644`` is an int, ``yes`` a bool) and the error names it."""
    good = inventory_of([_file("a"), _file("b/c")]).dumps_yaml()
    key = line.split(":")[0]
    lines = good.split(b"\n")
    at = max(i for i, text in enumerate(lines) if text.lstrip(b"- ").startswith(key.encode()))
    lines[at] = lines[at][: lines[at].index(key.encode())] + line.encode()
    bad = b"\n".join(lines)
    assert yaml.safe_load(bad)["files"][1][key] != yaml.safe_load(good)["files"][1][key]
    with pytest.raises(InventoryFormatError, match=problem):
        Inventory.loads(bad)


def test_a_repeated_key_is_read_as_pyyaml_reads_it(inventory_of: InventoryOf) -> None:
    """PyYAML keeps the last of a repeated key; the readers must not differ."""
    good = inventory_of([_file("a", size=3)]).dumps_yaml()
    repeated = good.replace(b"  size: 3\n", b"  size: 3\n  size: 4\n")
    assert yaml.safe_load(repeated)["files"][0]["size"] == 4
    assert Inventory.loads(repeated).entry("a").size == 4


def test_reading_keeps_the_entries_and_a_bounded_overhead_in_memory(
    inventory_of: InventoryOf,
) -> None:
    """20,000 files: what stays after reading is the entries (under 600 bytes each with
    their names and digests) and the peak while reading adds under 8 MiB to that (a batch
    of items at a time, never the whole document as objects)."""
    count = 20_000
    files = [_file(f"dir{i // 100}/file-{i:06}.dat", i, i) for i in range(count)]
    data = inventory_of(files).dumps_yaml()
    del files  # only the document is read
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        loaded = Inventory.loads(data)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(loaded.entries) == count
    assert loaded.entry("dir199/file-019999.dat").size == 19_999
    kept = after - before
    assert kept < 600 * count, kept / count
    assert peak - after < 8 << 20, peak - after
