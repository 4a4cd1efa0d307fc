"""The inventory document: the seed YAML format, lossless names, JSON, and strict validation."""

from __future__ import annotations

import base64
import dataclasses
import json
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cargoship.errors import InventoryFormatError
from cargoship.inventory import (
    INVENTORY_FORMAT,
    ArchiveRecord,
    EntryType,
    Inventory,
    InventoryEntry,
    Totals,
)
from s3opt.protocols import PartInfo

WHEN = datetime(2025, 7, 27, 10, 0, 0, tzinfo=UTC)
SUM_A = "sha256:" + "a" * 64
SUM_B = "sha256:" + "b" * 64
NON_UTF8 = b"caf\xe9/\xff.dat".decode("utf-8", "surrogateescape")


def _inventory() -> Inventory:
    record = ArchiveRecord(
        name="20250727T100000Z",
        key="20250727T100000Z.tar.zst",
        index_key="20250727T100000Z.index",
        compression="zstd",
        level=3,
        storage_class="DEEP_ARCHIVE",
        created_at=WHEN,
        source=b"/src/\xfe".decode("utf-8", "surrogateescape"),
        size=4000,
        tar_size=1_060_000,
        etag="0123abcd-2",
        checksum=None,
        parts=(PartInfo(1, 3000, SUM_A), PartInfo(2, 1000, SUM_B)),
        base=None,
    )
    entries = (
        InventoryEntry("data", EntryType.DIRECTORY, 0, None, "zstd", WHEN, 0o755, 5),
        InventoryEntry(
            "data/project/file.dat",
            EntryType.FILE,
            1_048_576,
            SUM_A,
            "zstd",
            WHEN,
            0o644,
            1_753_610_400_123_456_789,
        ),
        InventoryEntry(NON_UTF8, EntryType.FILE, 3, SUM_B, "zstd", WHEN, 0o600, -1_500_000_000),
        InventoryEntry(
            "data/copy",
            EntryType.HARDLINK,
            1_048_576,
            SUM_A,
            "zstd",
            WHEN,
            0o644,
            7,
            link="data/project/file.dat",
        ),
        InventoryEntry(
            "data/ln", EntryType.SYMLINK, 0, None, "zstd", WHEN, 0o777, 8, link="../x\ny"
        ),
        InventoryEntry(
            "old.txt",
            EntryType.FILE,
            2,
            SUM_B,
            "zstd",
            WHEN - timedelta(days=3),
            0o4755,
            9,
            archive="20250724T100000Z",
        ),
    )
    totals = Totals(
        files=4,
        bytes_in=2_097_157,
        bytes_stored=4000,
        dedup_bytes=1_048_576,
        skipped=("secret", b"n\xff".decode("utf-8", "surrogateescape")),
    )
    return Inventory(record, totals, entries)


def test_yaml_items_follow_the_seed_format() -> None:
    document = yaml.safe_load(_inventory().dumps_yaml())
    assert document["format"] == INVENTORY_FORMAT
    item = document["files"][1]
    assert list(item)[:5] == ["path", "size", "checksum", "compression", "archived_at"]
    assert item["path"] == "data/project/file.dat"
    assert item["size"] == 1048576
    assert item["checksum"] == SUM_A
    assert item["compression"] == "zstd"
    assert item["archived_at"] == "2025-07-27T10:00:00Z"
    assert item["mode"] == "0644"


def test_yaml_and_json_round_trips_are_exact() -> None:
    inventory = _inventory()
    assert Inventory.loads(inventory.dumps_yaml()) == inventory
    assert Inventory.loads(json.dumps(inventory.to_json()).encode()) == inventory
    assert Inventory.loads(inventory.dumps_yaml()).entry(NON_UTF8).size == 3


def test_non_utf8_names_are_shown_escaped_and_kept_exactly_in_b64() -> None:
    item = yaml.safe_load(_inventory().dumps_yaml())["files"][2]
    assert item["path"] == "caf\\xe9/\\xff.dat"
    assert base64.b64decode(item["path_b64"]) == b"caf\xe9/\xff.dat"


def test_a_hand_written_seed_document_loads() -> None:
    text = b"""
format: cargoship-inventory/1
archive:
  name: 20250727T100000Z
  key: 20250727T100000Z.tar.gz
  index_key: null
  compression: gzip
  level: 6
  storage_class: STANDARD
  created_at: "2025-07-27T10:00:00Z"
  source: /data
  size: 100
  tar_size: 2048
  etag: d41d8cd98f00b204e9800998ecf8427e
  checksum: null
  parts: []
  base: null
totals: {files: 1, bytes_in: 1048576, bytes_stored: 100, dedup_bytes: 0, skipped: []}
files:
  - path: "data/project/file.dat"
    size: 1048576
    checksum: "sha256:abc1230000000000000000000000000000000000000000000000000000000000"
    compression: "gzip"
    archived_at: "2025-07-27T10:00:00Z"
    type: file
    mode: "0640"
    mtime_ns: 1753610400000000000
"""
    inventory = Inventory.loads(text)
    entry = inventory.entry("data/project/file.dat")
    assert entry.archived_at == datetime(2025, 7, 27, 10, tzinfo=UTC)
    assert entry.mode == 0o640
    assert entry.type is EntryType.FILE
    assert inventory.archive.index_key is None
    with pytest.raises(KeyError):
        inventory.entry("data/missing")


def test_times_are_utc_to_the_second_and_must_be_aware() -> None:
    tokyo = timezone(timedelta(hours=9))
    entry = InventoryEntry(
        "f", EntryType.FILE, 0, SUM_A, "none", datetime(2025, 7, 27, 19, 0, 0, 999, tokyo), 0, 0
    )
    assert entry.archived_at == WHEN
    assert entry.archived_at.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        InventoryEntry("f", EntryType.FILE, 0, SUM_A, "none", datetime(2025, 1, 1), 0, 0)


def _broken(change: Any) -> bytes:
    document = _inventory().to_json()
    change(document)
    return json.dumps(document).encode()


def _set(path: str, value: object) -> Any:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return change


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("format", "cargoship-inventory/2"), "format 'cargoship-inventory/2' is not"),
        (_set("files.1.path", "/etc/passwd"), r"files\[1\].*path must be a relative path"),
        (_set("files.1.path", "data/../../x"), r"files\[1\].*path must be a relative path"),
        (_set("files.1.checksum", "sha256:abc"), r"files\[1\].*checksum must be 'sha256:'"),
        (_set("files.1.checksum", "md5:" + "a" * 32), r"checksum must be 'sha256:'"),
        (_set("files.1.size", -1), r"files\[1\].*size must be in 0\.\."),
        (_set("files.1.size", True), "size must be an integer"),
        (_set("files.1.mode", 420), "mode must be four octal digits"),
        (_set("files.1.archived_at", "2025-07-27 10:00"), "archived_at must be a UTC time"),
        (_set("files.1.type", "socket"), "type must be one of file, directory"),
        (_set("files.1.color", "red"), r"files\[1\].*unknown key\(s\) \['color'\]"),
        (_set("files.1.mtime_ns", _DELETE), r"files\[1\].*lacks mtime_ns"),
        (_set("files.0.checksum", SUM_A), "checksum must be null for a directory"),
        (_set("files.3.link", _DELETE), "link is required for a hardlink"),
        (_set("files.3.link", "../outside"), "link must be a relative path"),
        (_set("files.2.path_b64", "Zm9v"), "path_b64 does not hold the bytes path shows"),
        (_set("files.5.path", "data"), r"files\[5\]: path 'data' repeats"),
        (_set("archive.storage_class", "COLD"), "storage_class must be one of STANDARD"),
        (_set("archive.key", "other.tar.zst"), "key must be one of 20250727T100000Z.tar.zst"),
        (_set("archive.parts.1.number", 7), r"archive\.parts\[1\]: number must be in 2\.\.2"),
        (_set("totals.files", "4"), "totals: files must be an integer"),
        (_set("files", {}), "files must be a list"),
    ],
)
def test_loads_refuses_a_malformed_document_naming_the_problem(change: Any, message: str) -> None:
    with pytest.raises(InventoryFormatError, match=message):
        Inventory.loads(_broken(change))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"files: [unclosed", "not valid YAML"),
        (b"{not json", "not valid JSON"),
        (b'{"x": NaN}', "not valid JSON"),
        (b"- just a list", "the document must be a mapping"),
        (b"format: cargoship-inventory/1\n", "the document lacks archive, totals, files"),
    ],
)
def test_loads_refuses_what_is_not_an_inventory(data: bytes, message: str) -> None:
    with pytest.raises(InventoryFormatError, match=message):
        Inventory.loads(data)


def test_loads_refuses_a_document_over_the_size_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _inventory().dumps_yaml()
    monkeypatch.setattr("cargoship.inventory._document.MAX_INVENTORY_BYTES", len(data) - 1)
    with pytest.raises(InventoryFormatError, match=f"inventory of {len(data)} bytes is larger"):
        Inventory.loads(data)


# -- large inventories: the batched writer and reader ----------------------------------------

TRICKY_NAMES = (
    "plain/name.txt",
    "ünïcödé/日本語.txt",
    'it\'s "quoted".txt',
    "colon: space",
    "colon:inside",
    "ends with colon:",
    ":leading-colon",
    " leading space",
    "trailing space ",
    "# hash first",
    "hash # inside",
    "line\nbreak",
    "tab\there",
    "- dash space",
    "-dash",
    "---document",
    "...dots",
    "123",
    "0644",
    "1e3",
    "0x1F",
    "true",
    "no",
    "null",
    "~",
    "=",
    "<<",
    "2025-07-27",
    "2025-07-27T10:00:00Z",
    "[brackets]",
    "{braces}",
    "*star",
    "&amp",
    "!bang",
    "%percent",
    "@at",
    "`tick",
    "|pipe",
    ">gt",
    "a,b",
    "a?b",
    "nbsp\xa0inside",
    "\u2028separator",
    "bell\x07",
    "caf\udce9-latin1",  # a non-UTF-8 byte: path plus path_b64
)


def _whole_document_yaml(inventory: Inventory) -> bytes:
    """What one yaml.dump of the whole document gives (the writer's reference), with the
    dumper the inventory has always used: libyaml's when PyYAML has it."""
    text: str = yaml.dump(
        inventory.to_json(),
        Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 16,
    )
    return text.encode("utf-8")


def _many(names: list[str], *, links: bool = True) -> Inventory:
    base = _inventory()
    entries = [
        InventoryEntry(name, EntryType.FILE, index, SUM_A, "zstd", WHEN, 0o644, index)
        for index, name in enumerate(names)
    ]
    if links:
        entries += [
            InventoryEntry(
                f"link/{index}", EntryType.SYMLINK, 0, None, "zstd", WHEN, 0o777, 1, link=name
            )
            for index, name in enumerate(names)
        ]
    return Inventory(base.archive, base.totals, tuple(entries))


def test_the_batched_yaml_is_byte_identical_to_one_whole_document_dump() -> None:
    from cargoship.inventory._write import BATCH_ENTRIES

    names = [*TRICKY_NAMES, *(f"bulk/{i:05d}" for i in range(BATCH_ENTRIES + 7))]
    inventory = _many(names)
    assert len(inventory.entries) > 2 * BATCH_ENTRIES  # several batches, joined
    data = inventory.dumps_yaml()
    assert data == _whole_document_yaml(inventory)
    assert b"".join(inventory.yaml_pieces()) == data
    assert Inventory.loads(data) == inventory
    assert yaml.safe_load(data) == inventory.to_json()
    empty = Inventory(inventory.archive, inventory.totals, ())
    assert empty.dumps_yaml() == _whole_document_yaml(empty)
    assert Inventory.loads(empty.dumps_yaml()) == empty


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s), max_size=8))
def test_any_name_is_written_as_the_whole_document_dump_writes_it(names: list[str]) -> None:
    names = [f"n{index}/{name}" for index, name in enumerate(names)]
    inventory = _many(names)
    assert inventory.dumps_yaml() == _whole_document_yaml(inventory)


def test_documents_the_batched_reader_cannot_split_load_whole() -> None:
    """A quoted scalar spanning lines with ``- `` at column 0, an alias into the head and
    explicit tags: each read as PyYAML's whole-document loader reads it."""
    head = _inventory().dumps_yaml().split(b"files:\n")[0]
    item = (
        b"  size: 1\n  checksum: %s\n  compression: zstd\n  archived_at: '2025-07-27T10:00:00Z'\n"
        b"  type: file\n  mode: '0644'\n  mtime_ns: 5\n" % SUM_A.encode()
    )
    split_scalar = head + b'files:\n- path: "first\n- second"\n' + item
    inventory = Inventory.loads(split_scalar)
    assert [entry.path for entry in inventory.entries] == ["first - second"]

    tagged = head + b"files:\n- path: !!str 123\n" + item.replace(b"size: 1", b"size: !!int '7'")
    assert Inventory.loads(tagged).entry("123").size == 7

    aliased = head.replace(b"compression: zstd", b"compression: &codec zstd", 1)
    aliased += b"files:\n- path: a\n" + item.replace(b"compression: zstd", b"compression: *codec")
    assert Inventory.loads(aliased).entry("a").compression == "zstd"


def test_writing_and_reading_a_large_inventory_stay_small_in_memory() -> None:
    """4,000 entries: a whole-document yaml.dump peaks near 20 MiB and yaml.load near 30 MiB
    (PyYAML's nodes for every scalar); in batches each stays a few MiB."""
    count = 4000
    inventory = _many([f"dir{i // 100}/file-{i}.dat" for i in range(count)], links=False)
    tracemalloc.start()
    try:
        data = inventory.dumps_yaml()
        _, written_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        loaded = Inventory.loads(data)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(loaded.entries) == count
    assert written_peak < 2 * len(data) + (2 << 20), (written_peak, len(data))
    assert read_peak - before < 8 << 20, read_peak - before


def test_spooled_entries_give_the_whole_document_dump() -> None:
    """ship's EntrySpool (items written to a file as entries come) writes the bytes of one
    yaml.dump of the whole document: tricky names, carried entries, several batches, none."""
    import tempfile

    from cargoship.inventory._write import BATCH_ENTRIES, EntrySpool

    names = [*TRICKY_NAMES, *(f"bulk/{i:05d}" for i in range(BATCH_ENTRIES + 7))]
    inventory = _many(names)
    carried = dataclasses.replace(
        inventory.entries[-1], path="old/kept", archive="20240101T000000Z"
    )
    inventory = Inventory(inventory.archive, inventory.totals, (*inventory.entries, carried))
    for entries in (inventory.entries, ()):
        whole = Inventory(inventory.archive, inventory.totals, entries)
        with tempfile.TemporaryFile() as file:
            spool = EntrySpool(file)
            for entry in entries:
                spool.add(entry)
            assert len(spool) == len(entries)
            data = b"".join(spool.yaml_pieces(whole.archive, whole.totals))
        assert data == _whole_document_yaml(whole)
        assert Inventory.loads(data) == whole
