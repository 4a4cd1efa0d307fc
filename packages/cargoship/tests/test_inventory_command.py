"""``cargoship inventory URL ARCHIVE``: one archive's files, as a table or one JSON document.

The inventories here are written by hand as YAML (the seed format, laid out as ship
writes it) into a ``file://`` store, and the expected table and document are written
by hand from them. The listing reads the inventory a batch of items at a time and
prints once every item has been read and checked, so memory stays flat and a
malformed item prints nothing on stdout.
"""

from __future__ import annotations

import json
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cargoship.cli import _output as output
from cargoship.cli import main
from cargoship.inventory import _read as inventory_read

NAME = "20250727T100000Z"
SUM_A = "sha256:" + "4f2a" * 16
SUM_B = "sha256:" + "0b" * 32
SUM_EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

HEAD = f"""\
format: cargoship-inventory/1
archive:
  name: {NAME}
  key: {NAME}.tar.zst
  index_key: {NAME}.index
  compression: zstd
  level: 3
  storage_class: STANDARD
  created_at: '2025-07-27T10:00:00Z'
  source: /home/ada/projects
  size: 40961
  tar_size: 1064960
  etag: 0123456789abcdef0123456789abcdef
  checksum: {SUM_A}
  parts: []
  base: 20250701T080000Z
totals:
  files: 4
  bytes_in: 1048588
  bytes_stored: 40961
  dedup_bytes: 6
  skipped: []
files:
"""


def _item(path: str, kind: str, size: int, checksum: str | None, mode: str, *extra: str) -> str:
    lines = [
        f"- path: {path}",
        f"  size: {size}",
        f"  checksum: {checksum or 'null'}",
        "  compression: zstd",
        "  archived_at: '2025-07-27T10:00:00Z'",
        f"  type: {kind}",
        f"  mode: '{mode}'",
        "  mtime_ns: 1753610400000000000",
        *extra,
    ]
    return "\n".join(lines) + "\n"


ITEMS = [
    _item("data", "directory", 0, None, "0755"),
    _item("data/project/file.dat", "file", 1048576, SUM_A, "0644"),
    _item("data/notes.txt", "file", 6, SUM_B, "0600", "  archive: 20250701T080000Z"),
    _item("data/copy.txt", "hardlink", 6, SUM_B, "0600", "  link: data/notes.txt"),
    _item("latest", "symlink", 0, None, "0777", "  link: data/project/file.dat"),
    # The name b"caf\xe9" is not UTF-8: shown escaped, its bytes in path_b64.
    _item("caf\\xe9", "file", 0, SUM_EMPTY, "0644", "  path_b64: Y2Fm6Q=="),
]

EXPECTED_TABLE = f"""\
{NAME}: 6 entries
type          size  checksum             stored in         path
directory      0 B                                         data
file       1.0 MiB  sha256:4f2a4f2a4f2a                    data/project/file.dat
file           6 B  sha256:0b0b0b0b0b0b  20250701T080000Z  data/notes.txt
hardlink       6 B  sha256:0b0b0b0b0b0b                    data/copy.txt -> data/notes.txt
symlink        0 B                                         latest -> data/project/file.dat
file           0 B  sha256:e3b0c44298fc                    caf\\xe9
"""


def _file_item(path: str, size: int, checksum: str | None, mode: str, kind: str) -> dict[str, Any]:
    return {
        "path": path,
        "size": size,
        "checksum": checksum,
        "compression": "zstd",
        "archived_at": "2025-07-27T10:00:00Z",
        "type": kind,
        "mode": mode,
        "mtime_ns": 1753610400000000000,
    }


EXPECTED_DOCUMENT = {
    "format": "cargoship-inventory/1",
    "archive": {
        "name": NAME,
        "key": f"{NAME}.tar.zst",
        "index_key": f"{NAME}.index",
        "compression": "zstd",
        "level": 3,
        "storage_class": "STANDARD",
        "created_at": "2025-07-27T10:00:00Z",
        "source": "/home/ada/projects",
        "size": 40961,
        "tar_size": 1064960,
        "etag": "0123456789abcdef0123456789abcdef",
        "checksum": SUM_A,
        "parts": [],
        "base": "20250701T080000Z",
    },
    "totals": {
        "files": 4,
        "bytes_in": 1048588,
        "bytes_stored": 40961,
        "dedup_bytes": 6,
        "skipped": [],
    },
    "files": [
        _file_item("data", 0, None, "0755", "directory"),
        _file_item("data/project/file.dat", 1048576, SUM_A, "0644", "file"),
        _file_item("data/notes.txt", 6, SUM_B, "0600", "file") | {"archive": "20250701T080000Z"},
        _file_item("data/copy.txt", 6, SUM_B, "0600", "hardlink") | {"link": "data/notes.txt"},
        _file_item("latest", 0, None, "0777", "symlink") | {"link": "data/project/file.dat"},
        _file_item("caf\\xe9", 0, SUM_EMPTY, "0644", "file") | {"path_b64": "Y2Fm6Q=="},
    ],
}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    root.mkdir()
    return root


def _put(store_dir: Path, items: list[str], head: str = HEAD) -> str:
    """The inventory of ``items`` under ``head`` as the store's only archive; its URL."""
    (store_dir / f"{NAME}.inventory.yaml").write_text(head + "".join(items))
    return store_dir.as_uri()


def test_the_table_is_every_item_in_order_with_the_count(store_dir: Path) -> None:
    result = invoke("inventory", _put(store_dir, ITEMS), NAME)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == EXPECTED_TABLE


@pytest.mark.parametrize("suffix", ["", ".tar.zst", ".inventory.yaml"])
def test_an_archive_s_url_lists_its_files_as_restore_and_verify_take_it(
    store_dir: Path, suffix: str
) -> None:
    result = invoke("inventory", f"{_put(store_dir, ITEMS)}/{NAME}{suffix}")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == EXPECTED_TABLE


def test_a_prefix_that_is_not_an_archive_name_still_lists_archives(store_dir: Path) -> None:
    _put(store_dir, ITEMS)
    (store_dir / "2025").mkdir()
    result = invoke("inventory", (store_dir / "2025").as_uri())  # no archive under it
    assert (result.exit_code, result.stdout) == (0, "")
    assert "no complete archives under" in result.stderr
    # A trailing slash says "prefix": an archive's name there is not taken as the archive.
    result = invoke("inventory", f"{store_dir.as_uri()}/{NAME}/")
    assert "no complete archives under" in result.stderr


def test_the_json_document_is_the_inventory_as_json(store_dir: Path) -> None:
    result = invoke("inventory", _put(store_dir, ITEMS), NAME, "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document == EXPECTED_DOCUMENT
    # Keys in the same order, and the same text as one json.dumps of the whole document.
    assert list(document) == ["format", "archive", "totals", "files"]
    assert [list(item) for item in document["files"]] == [
        list(item) for item in EXPECTED_DOCUMENT["files"]
    ]
    assert result.stdout == json.dumps(EXPECTED_DOCUMENT, indent=2) + "\n"


def test_an_archive_without_files_lists_an_empty_table_and_list(store_dir: Path) -> None:
    url = _put(store_dir, [], HEAD.replace("files:\n", "files: []\n"))
    table = invoke("inventory", url, NAME)
    document = invoke("inventory", url, NAME, "--json")
    assert table.stdout == f"{NAME}: 0 entries\ntype  size  checksum  stored in  path\n"
    assert document.stdout == json.dumps(EXPECTED_DOCUMENT | {"files": []}, indent=2) + "\n"


def test_a_long_table_keeps_its_columns_and_count(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More rows than a batch: the widest cell, in the last batch, sets the column for all."""
    monkeypatch.setattr(output, "TABLE_BATCH_ROWS", 2)
    monkeypatch.setattr(inventory_read, "BATCH_ITEMS", 2)
    items = [_item(f"d/{'x' * n}", "directory", 0, None, "0755") for n in range(1, 5)]
    items.append(_item("d/y", "file", 2048, SUM_A, "0644"))  # the widest size and checksum
    result = invoke("inventory", _put(store_dir, items), NAME)
    lines = result.stdout.splitlines()
    assert lines[0] == f"{NAME}: 5 entries"
    assert lines[1] == "type          size  checksum             stored in  path"
    blank = " " * 19 + "  " + " " * 9  # no checksum, no "stored in"
    assert lines[2:6] == [f"directory      0 B  {blank}  d/{'x' * n}" for n in range(1, 5)]
    assert lines[6] == f"file       2.0 KiB  sha256:4f2a4f2a4f2a  {' ' * 9}  d/y"


def test_on_a_terminal_a_long_table_is_drawn_in_tables_of_a_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(output, "TABLE_BATCH_ROWS", 2)
    rows = [(f"file-{n}", f"{n} B") for n in range(5)]
    with CliRunner().isolation() as (stdout, _, _):
        monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
        out = output.Output(json_mode=False, quiet=False)
        out.table(("path", "size"), iter(rows), title=lambda count: f"{count} rows")
        text = stdout.getvalue().decode()
    lines = text.splitlines()
    assert "5 rows" in lines[0]
    assert text.count("rows") == 1  # the title, over the first table only
    assert sum("path" in line and "size" in line for line in lines) == 3  # each has its header
    assert [n for n in range(5) for line in lines if f"file-{n} " in line] == list(range(5))


@pytest.mark.parametrize("json_mode", [False, True])
def test_a_malformed_item_past_the_first_batches_prints_nothing(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch, json_mode: bool
) -> None:
    """Items are read two at a time: the first batches are good, the sixth item is not."""
    monkeypatch.setattr(inventory_read, "BATCH_ITEMS", 2)
    items = [*ITEMS[:5], _item("bad", "file", 1, SUM_A, "9999")]
    result = invoke("inventory", _put(store_dir, items), NAME, *(["--json"] if json_mode else []))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cargoship: error: ")
    assert f"{NAME}.inventory.yaml" in lines[0]
    assert "files[5] ('bad'): mode" in lines[0]


def test_a_missing_archive_is_one_line(store_dir: Path) -> None:
    result = invoke("inventory", store_dir.as_uri(), NAME)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"cargoship: error: no archive {NAME} in ")
    assert result.stderr.count("\n") == 1


def test_a_document_with_items_is_the_text_of_one_json_dumps() -> None:
    head = {"name": "n\u00e9", "nested": {"a": [1, 2]}}
    items: list[dict[str, str | int | float | bool | None]] = [
        {"s": 'q"\\\n\u2603', "i": -3, "f": 0.5, "b": True, "none": None},
        {},
        {"x": 1},
    ]
    runner = CliRunner()
    for listed in (items, []):
        with runner.isolation() as (stdout, _, _):
            output.Output(json_mode=True, quiet=False).document_with_items(head, "k", listed)
            text = stdout.getvalue().decode()
        assert text == json.dumps({**head, "k": listed}, indent=2) + "\n"


# -- memory -----------------------------------------------------------------------------------

MANY = 20_000
MOST_BYTES = 4 << 20
"""Peak traced memory allowed while listing MANY entries with the read and print batches
lowered (as test_restore_memory.py does, so that no buffer is still filling up to its cap).
Measured: ~2.0 MiB for 5,000 entries and for 20,000, table or JSON. Loading the same
inventory whole (``cargoship.layout.load_inventory``, as the listing did before) peaks at
~20 MiB (about 1 KiB an entry), before any output is made."""


def _many_items() -> str:
    return "".join(
        _item(f"d{n // 1000:02d}/file-{n:05d}.txt", "file", n, SUM_A, "0644") for n in range(MANY)
    )


def _listed_peak(args: list[str], out: Path) -> int:
    """tracemalloc's peak while ``cargoship`` runs ``args``, stdout going to the file ``out``
    (not into memory, as CliRunner would keep it)."""
    saved = sys.stdout
    with out.open("w") as stdout:
        sys.stdout = stdout
        tracemalloc.start()
        try:
            main.main(args, standalone_mode=False)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            sys.stdout = saved


@pytest.mark.slow
def test_listing_a_large_inventory_stays_small_in_memory(
    store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inventory_read, "BATCH_ITEMS", 200)
    monkeypatch.setattr(inventory_read, "_READ_BYTES", 16 << 10)
    monkeypatch.setattr(output, "TABLE_BATCH_ROWS", 100)
    monkeypatch.setattr(output, "_SPOOL_READ", 16 << 10)
    url = _put(store_dir, [_many_items()])
    paths = [f"d{n // 1000:02d}/file-{n:05d}.txt" for n in range(MANY)]
    table, document = tmp_path / "table.txt", tmp_path / "document.json"

    table_peak = _listed_peak(["inventory", url, NAME], table)
    json_peak = _listed_peak(["inventory", url, NAME, "--json"], document)

    with table.open() as lines:
        assert next(lines) == f"{NAME}: {MANY} entries\n"
        next(lines)  # the header
        assert [line.split()[-1] for line in lines] == paths
    with document.open() as text:
        assert [item["path"] for item in json.load(text)["files"]] == paths
    assert table_peak < MOST_BYTES, table_peak
    assert json_peak < MOST_BYTES, json_peak
