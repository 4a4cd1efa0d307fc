"""Reading only the entries at some paths (``read_document(file, wanted)``, what ``restore
--include`` does): exactly the entries PyYAML gives at those paths, the other items skipped
unparsed only when their opening line alone names their path."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

import cargoship.inventory._read as inventory_read
from cargoship.errors import InventoryFormatError
from cargoship.inventory import EntryType, Inventory, InventoryEntry
from cargoship.inventory._read import read_document

WHEN = datetime(2025, 7, 27, 10, 0, 0, tzinfo=UTC)
DIGEST = "sha256:" + "d" * 64
# Names the writer puts plain, quoted, or as path_b64; some YAML 1.1 would type if plain.
NAMES = (
    "d/plain.txt",
    "yes",
    "0644",
    "null",
    "2025-07-27",
    "it's quoted",
    "colon: space",
    "line\nbreak",
    "caf\udce9/latin1",
    "d/sub/deep.bin",
    "d",
)


@pytest.fixture
def document(inventory_of: Callable[[Sequence[InventoryEntry]], Inventory]) -> bytes:
    """The YAML inventory of a file at each of ``NAMES``, its size its place in ``NAMES``."""
    entries = [
        InventoryEntry(name, EntryType.FILE, number, DIGEST, "zstd", WHEN, 0o644, number)
        for number, name in enumerate(NAMES)
    ]
    return inventory_of(entries).dumps_yaml()


def _yaml_paths(text: bytes) -> list[str]:
    """The paths of the items as PyYAML reads them (path_b64 when there)."""
    items: list[dict[str, Any]] = yaml.safe_load(text)["files"]
    return [
        base64.b64decode(item["path_b64"]).decode("utf-8", "surrogateescape")
        if "path_b64" in item
        else item["path"]
        for item in items
    ]


def _select(text: bytes, wanted: Callable[[str], bool]) -> list[InventoryEntry]:
    _, _, entries = read_document(io.BytesIO(text), wanted)
    return list(entries)


@pytest.mark.parametrize(
    "chosen",
    [
        {"d/plain.txt"},
        {"yes", "0644", "null", "2025-07-27"},
        {"it's quoted", "line\nbreak", "caf\udce9/latin1"},
        {"d", "d/sub/deep.bin"},
        set(),
        set(NAMES),
    ],
)
def test_the_entries_given_are_those_at_the_wanted_paths(
    document: bytes, chosen: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Across batches of 3 items and reads of 64 bytes: the entries PyYAML has at the wanted
    paths, in document order, and nothing else."""
    monkeypatch.setattr(inventory_read, "BATCH_ITEMS", 3)
    monkeypatch.setattr(inventory_read, "_READ_BYTES", 64)
    expected = [path for path in _yaml_paths(document) if path in chosen]

    selected = _select(document, chosen.__contains__)

    assert [entry.path for entry in selected] == expected
    assert [entry.size for entry in selected] == [NAMES.index(path) for path in expected]
    # JSON is read whole, then filtered: the same entries.
    as_json = json.dumps(Inventory.loads(document).to_json()).encode()
    assert _select(as_json, chosen.__contains__) == selected


def test_an_unwanted_item_is_not_parsed_and_a_wanted_one_is_checked(document: bytes) -> None:
    text = document.replace(b"  size: 9\n", b"  size: -9\n")  # d/sub/deep.bin
    assert b"size: -9" in text

    selected = _select(text, {"d/plain.txt", "d"}.__contains__)
    assert [entry.path for entry in selected] == ["d/plain.txt", "d"]

    with pytest.raises(InventoryFormatError, match=r"files\[9\] \('d/sub/deep.bin'\): size"):
        _select(text, {"d/sub/deep.bin"}.__contains__)


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        # YAML keeps the last of a repeated key: the opening line does not name the item.
        ((b"  size: 0\n", b"  size: 0\n  path: d/other\n"), "d/other"),
        # A plain scalar continued on a line indented further: "d/plain.txt more".
        ((b"- path: d/plain.txt\n", b"- path: d/plain.txt\n   more\n"), "d/plain.txt more"),
    ],
)
def test_an_item_its_opening_line_does_not_name_alone_is_parsed(
    document: bytes, edit: tuple[bytes, bytes], path: str
) -> None:
    text = document.replace(*edit, 1)
    assert _yaml_paths(text)[0] == path  # what PyYAML reads

    assert [entry.path for entry in _select(text, {path}.__contains__)] == [path]
    assert [entry.path for entry in _select(text, {"d/plain.txt"}.__contains__)] == []


def test_a_document_the_batches_cannot_split_is_read_whole_then_filtered(
    document: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A quoted path with a line that opens like an item ('- x: y') at column 0."""
    monkeypatch.setattr(inventory_read, "BATCH_ITEMS", 2)
    text = document.replace(b"- path: d/sub/deep.bin", b'- path: "d/sub/\n\n- x: y\n  deep"')
    assert "d/sub/\n- x: y deep" in _yaml_paths(text)

    selected = _select(text, {"d/sub/\n- x: y deep", "d"}.__contains__)

    assert [entry.path for entry in selected] == ["d/sub/\n- x: y deep", "d"]
