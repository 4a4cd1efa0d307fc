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
"""

from cargoship.inventory._document import Inventory as Inventory
from cargoship.inventory._records import INVENTORY_FORMAT as INVENTORY_FORMAT
from cargoship.inventory._records import MAX_INVENTORY_BYTES as MAX_INVENTORY_BYTES
from cargoship.inventory._records import ArchiveRecord as ArchiveRecord
from cargoship.inventory._records import EntryType as EntryType
from cargoship.inventory._records import InventoryEntry as InventoryEntry
from cargoship.inventory._records import Totals as Totals
from cargoship.inventory._records import format_time as format_time
from cargoship.inventory._write import EntrySpool as EntrySpool

__all__ = [
    "INVENTORY_FORMAT",
    "MAX_INVENTORY_BYTES",
    "ArchiveRecord",
    "EntrySpool",
    "EntryType",
    "Inventory",
    "InventoryEntry",
    "Totals",
    "format_time",
]
