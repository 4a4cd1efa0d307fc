"""The inventory: what one archive holds, file by file, in the seed documents' YAML format.

The document (YAML by default, the same data as JSON on request)::

    format: cargoship-inventory/1
    archive:                      # the ArchiveRecord: where the archive is and how it was made
      name: 20261121T101500Z
      key: 20261121T101500Z.tar.zst
      ...
    totals: {files: 2, bytes_in: 1048576, bytes_stored: 40961, dedup_bytes: 0, skipped: []}
    files:
      - path: data/project/file.dat          # the seed format's five keys lead each item
        size: 1048576
        checksum: sha256:4f2a...
        compression: zstd
        archived_at: '2025-07-27T10:00:00Z'
        type: file                           # file | directory | symlink | hardlink
        mode: '0644'                         # permission bits, octal text
        mtime_ns: 1753610400000000000
        link: ...                            # symlink target / hard link's stored copy
        archive: ...                         # incremental: the older archive holding the bytes

Names that are not valid UTF-8 (Python keeps their bytes as lone surrogates,
as :func:`os.fsdecode` does) cannot be written in YAML or JSON text. For
those, ``path`` (likewise ``link``, ``source`` and ``skipped`` items) shows the
name with each invalid byte escaped as ``\\xNN`` for people to read, and
``path_b64`` holds the exact bytes, base64-encoded; :meth:`Inventory.loads`
takes the name from ``path_b64`` and checks the two agree. Times are UTC and
kept to the second (``YYYY-MM-DDTHH:MM:SSZ``); file mtimes are exact, in ns.

:meth:`Inventory.loads` trusts nothing: it refuses documents over
:data:`MAX_INVENTORY_BYTES`, unknown format versions, unknown or missing keys,
wrong types, out-of-range numbers, paths that are absolute or contain ``..``,
and malformed checksums, with an :class:`~cargoship.errors.InventoryFormatError`
naming the field and the file item.

The inventory's page table (``<name>.inventory.pages``: where each run of file
items lies in the document, so that a reader fetches only the items a glob can
match) is read and checked with :func:`parse_pages`, :func:`parse_head`,
:func:`read_page`, :func:`check_pages` and :func:`glob_prefix`.
"""

from cargoship.inventory._document import Inventory as Inventory
from cargoship.inventory._pages import MAX_PAGES_BYTES as MAX_PAGES_BYTES
from cargoship.inventory._pages import InventoryPages as InventoryPages
from cargoship.inventory._pages import check_pages as check_pages
from cargoship.inventory._pages import glob_prefix as glob_prefix
from cargoship.inventory._pages import parse_head as parse_head
from cargoship.inventory._pages import parse_pages as parse_pages
from cargoship.inventory._pages import read_page as read_page
from cargoship.inventory._read import read_document as read_document
from cargoship.inventory._records import INVENTORY_FORMAT as INVENTORY_FORMAT
from cargoship.inventory._records import MAX_INVENTORY_BYTES as MAX_INVENTORY_BYTES
from cargoship.inventory._records import ArchiveRecord as ArchiveRecord
from cargoship.inventory._records import EntryType as EntryType
from cargoship.inventory._records import InventoryEntry as InventoryEntry
from cargoship.inventory._records import Totals as Totals
from cargoship.inventory._records import format_time as format_time
from cargoship.inventory._write import EntrySpool as EntrySpool
from cargoship.inventory._write import entry_doc as entry_doc

__all__ = [
    "INVENTORY_FORMAT",
    "MAX_INVENTORY_BYTES",
    "MAX_PAGES_BYTES",
    "ArchiveRecord",
    "EntrySpool",
    "EntryType",
    "Inventory",
    "InventoryEntry",
    "InventoryPages",
    "Totals",
    "check_pages",
    "entry_doc",
    "format_time",
    "glob_prefix",
    "parse_head",
    "parse_pages",
    "read_document",
    "read_page",
]
