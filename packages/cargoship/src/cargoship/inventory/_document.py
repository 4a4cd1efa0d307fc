"""The :class:`Inventory`: an archive's record, totals and entries, written and read."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cargoship.errors import InventoryFormatError
from cargoship.inventory._read import parse_document
from cargoship.inventory._records import (
    MAX_INVENTORY_BYTES,
    ArchiveRecord,
    InventoryEntry,
    Totals,
)
from cargoship.inventory._write import document, yaml_pieces

__all__ = ["Inventory"]


@dataclass(frozen=True, slots=True)
class Inventory:
    """An archive's record, totals and entries; :meth:`entry` looks a path up in O(1)."""

    archive: ArchiveRecord
    totals: Totals
    entries: tuple[InventoryEntry, ...]
    _by_path: Mapping[str, InventoryEntry] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def entry(self, path: str) -> InventoryEntry:
        """The entry for ``path``; KeyError if the archive has none. The lookup table is built
        on the first call (a restore, which never calls it, does not hold one per entry)."""
        if self._by_path is None:
            object.__setattr__(self, "_by_path", {entry.path: entry for entry in self.entries})
            assert self._by_path is not None
        return self._by_path[path]

    def to_json(self) -> dict[str, Any]:
        """The document as JSON-able data (what :meth:`dumps_yaml` writes as YAML)."""
        return document(self.archive, self.totals, self.entries)

    def yaml_pieces(self) -> Iterator[bytes]:
        """The document as UTF-8 YAML, a batch of entries at a time (memory stays at a
        batch's worth whatever the number of entries); the pieces joined are :meth:`dumps_yaml`."""
        return yaml_pieces(self.archive, self.totals, self.entries)

    def dumps_yaml(self) -> bytes:
        """The document as UTF-8 YAML, keys in the seed format's order."""
        return b"".join(self.yaml_pieces())

    @classmethod
    def loads(cls, data: bytes) -> Inventory:
        """Parse and validate a YAML or JSON inventory; InventoryFormatError if anything is off."""
        if len(data) > MAX_INVENTORY_BYTES:
            raise InventoryFormatError(
                f"inventory of {len(data)} bytes is larger than {MAX_INVENTORY_BYTES} bytes"
            )
        return cls(*parse_document(data))
