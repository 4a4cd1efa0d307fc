"""The inventory document: the seed YAML format, lossless names, JSON, and strict validation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml

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
    monkeypatch.setattr("cargoship.inventory.MAX_INVENTORY_BYTES", len(data) - 1)
    with pytest.raises(InventoryFormatError, match=f"inventory of {len(data)} bytes is larger"):
        Inventory.loads(data)
