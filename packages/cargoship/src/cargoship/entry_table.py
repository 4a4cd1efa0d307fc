"""Inventory entries and index members on disk, so restore and verify stay flat in memory.

A restore must check every entry of an inventory, and every member of an
archive, against each other before and while it writes. Held as Python objects
that is ~800 bytes an entry; an :class:`EntryTable` keeps them instead in an
SQLite database (stdlib :mod:`sqlite3`) in a private 0700 temporary directory,
removed on :meth:`EntryTable.close`. Memory is SQLite's page cache
(:data:`CACHE_KIB`) plus one bit an entry (:class:`SeenSet`), whatever the count.

Paths and link targets are stored as their file-name bytes (UTF-8 with
``surrogateescape``, as :func:`os.fsencode`), so byte order is the order of the
names as the kernel sees them, and the entries under a directory ``d`` are the
range ``[d + b"/", d + b"0")``.

Entries are added an inventory at a time (:meth:`EntryTable.add`): number 0 is
the archive restored or verified, later ones the older archives an incremental
ship inherits from. Each row also says whether the restore wants it
(``chosen``) and, for a chosen file or hard link, which stored member holds its
bytes (``source``).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import operator
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from blobcodec.index import Member
from cargoship.errors import InventoryFormatError
from cargoship.inventory import EntryType, InventoryEntry
from cargoship.layout import InventoryStream

__all__ = ["CACHE_KIB", "EntryTable", "Outputs", "SeenSet", "StoredWalk", "without_repeats"]

CACHE_KIB: Final = 16 << 10
"""SQLite page cache, in KiB: the most the table holds in memory."""

_BATCH: Final = 2000  # rows inserted per executemany
_FETCH: Final = 512  # rows fetched at a time when iterating

# Kinds as small integers, FILE first: a stored file sorts before the hard links to it.
_KIND_CODES: Final = {
    EntryType.FILE: 0,
    EntryType.DIRECTORY: 1,
    EntryType.SYMLINK: 2,
    EntryType.HARDLINK: 3,
}
_KINDS: Final = tuple(_KIND_CODES)
_KIND_AND_ID: Final = operator.itemgetter(2, 0)  # of a row led by _ENTRY_COLUMNS

_SCHEMA: Final = """
CREATE TABLE entry (
    id INTEGER PRIMARY KEY,
    inv INTEGER NOT NULL,
    path BLOB NOT NULL,
    kind INTEGER NOT NULL,
    size INTEGER NOT NULL,
    checksum TEXT,
    compression TEXT NOT NULL,
    archived_at INTEGER NOT NULL,
    mode INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    link BLOB,
    archive TEXT,
    chosen INTEGER NOT NULL,
    source BLOB,
    depth INTEGER NOT NULL
);
CREATE UNIQUE INDEX entry_path ON entry (inv, path);
CREATE INDEX entry_source ON entry (source, kind) WHERE source IS NOT NULL;
CREATE INDEX entry_kind ON entry (inv, kind, chosen, depth);
CREATE TABLE member (
    number INTEGER PRIMARY KEY,
    inv INTEGER NOT NULL,
    path BLOB NOT NULL,
    type TEXT NOT NULL,
    size INTEGER NOT NULL,
    mode INTEGER NOT NULL,
    mtime REAL NOT NULL,
    uid INTEGER NOT NULL,
    gid INTEGER NOT NULL,
    link BLOB NOT NULL,
    offset INTEGER NOT NULL,
    first_frame INTEGER NOT NULL,
    frame_count INTEGER NOT NULL,
    sha256 TEXT
);
CREATE INDEX member_path ON member (inv, path);
"""

_ENTRY_COLUMNS: Final = (
    "id, path, kind, size, checksum, compression, archived_at, mode, mtime_ns, link, archive"
)


def _name(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _text(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


@functools.lru_cache(maxsize=64)
def _moment(seconds: int) -> datetime:
    """The UTC time ``seconds`` after the epoch (one object per distinct value)."""
    return datetime.fromtimestamp(seconds, UTC)


def _entry(row: tuple[Any, ...]) -> InventoryEntry:
    """The entry of a row that starts with the columns :data:`_ENTRY_COLUMNS` names."""
    link = row[9]
    return InventoryEntry(
        _text(row[1]), _KINDS[row[2]], row[3], row[4], row[5], _moment(row[6]), row[7], row[8],
        None if link is None else _text(link), row[10],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Outputs:
    """The chosen entries written from one stored member's bytes: the first (the file itself
    when it is chosen) gets them, the others become hard links to it."""

    source: str
    """The member's path in the archive that stores it."""
    entries: tuple[InventoryEntry, ...]


class SeenSet:
    """Which entries (by :attr:`EntryTable` row id) a pass has met: one bit each."""

    def __init__(self, size: int) -> None:
        self._bits = bytearray((size >> 3) + 1)

    def add(self, number: int) -> bool:
        """Mark ``number``; whether it was already marked."""
        byte, bit = number >> 3, 1 << (number & 7)
        if self._bits[byte] & bit:
            return True
        self._bits[byte] |= bit
        return False

    def __contains__(self, number: int) -> bool:
        return bool(self._bits[number >> 3] & (1 << (number & 7)))


class EntryTable:
    """Inventory entries (and index members) in an SQLite file in a private temporary directory.

    Use it from one thread at a time (it may be a worker thread); close it to remove the file.
    """

    def __init__(self) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="cargoship-entries-")
        path = Path(self._directory.name) / "entries.sqlite"
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(
            f"PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
            f"PRAGMA cache_size = -{CACHE_KIB}; {_SCHEMA}"
        )
        self._inventories = 0
        self._ranges: list[tuple[int, int]] = []  # first and last row id of each inventory
        self._rows = 0
        self._members = 0
        self._member_rows: list[tuple[object, ...]] = []

    def close(self) -> None:
        """Close the database and remove its directory."""
        self._db.close()
        self._directory.cleanup()

    def __enter__(self) -> EntryTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def rows(self) -> int:
        """Entries added so far (row ids are ``1..rows``)."""
        return self._rows

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One transaction around many writes (each would be its own otherwise)."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @property
    def member_count(self) -> int:
        """Index members added so far (numbered ``0..member_count - 1``)."""
        return self._members

    # -- filling ---------------------------------------------------------------------------

    def add(
        self,
        entries: Iterable[InventoryEntry],
        *,
        where: str,
        chosen: Callable[[str], bool] | None = None,
    ) -> int:
        """Add one inventory's ``entries``; the inventory's number (0 for the first).

        ``chosen`` says which paths a restore wants (all when None); only the first
        inventory's entries can be chosen. InventoryFormatError naming ``where`` when
        a path repeats.
        """
        inv = self._inventories
        self._inventories += 1
        self._ranges.append((self._rows + 1, self._rows))
        self._insert(inv, entries, where, chosen)
        return inv

    def extend(self, inv: int, entries: Iterable[InventoryEntry], *, where: str) -> None:
        """Add more entries, none chosen, to ``inv``, the inventory added last (a restore
        of a few entries adds the others they need once it knows them).
        InventoryFormatError naming ``where`` when a path repeats one already there."""
        if inv != self._inventories - 1:
            raise ValueError(f"only the inventory added last ({self._inventories - 1}) grows")
        self._insert(inv, entries, where, lambda _: False)

    def _insert(
        self,
        inv: int,
        entries: Iterable[InventoryEntry],
        where: str,
        chosen: Callable[[str], bool] | None,
    ) -> None:
        insert = "INSERT OR IGNORE INTO entry VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        iterator = iter(entries)
        while batch := list(itertools.islice(iterator, _BATCH)):
            first = self._rows + 1
            rows = []
            for number, entry in enumerate(batch, first):
                wanted = inv == 0 and (chosen is None or chosen(entry.path))
                source = None
                if wanted and entry.type is EntryType.FILE:
                    source = _name(entry.path)
                elif wanted and entry.type is EntryType.HARDLINK and entry.link is not None:
                    source = _name(entry.link)
                rows.append(
                    (
                        number,
                        inv,
                        _name(entry.path),
                        _KIND_CODES[entry.type],
                        entry.size,
                        entry.checksum,
                        entry.compression,
                        int(entry.archived_at.timestamp()),
                        entry.mode,
                        entry.mtime_ns,
                        None if entry.link is None else _name(entry.link),
                        entry.archive,
                        int(wanted),
                        source,
                        entry.path.count("/"),
                    )
                )
            before = self._db.total_changes
            with self._transaction():
                self._db.executemany(insert, rows)
            self._rows += len(rows)
            self._ranges[inv] = (self._ranges[inv][0], self._rows)
            if self._db.total_changes - before != len(rows):
                self._repeated(batch, first, where)

    def _repeated(self, batch: list[InventoryEntry], first: int, where: str) -> None:
        stored = {
            number
            for (number,) in self._db.execute(
                "SELECT id FROM entry WHERE id BETWEEN ? AND ?", (first, first + len(batch) - 1)
            )
        }
        for number, entry in enumerate(batch, first):
            if number not in stored:
                raise InventoryFormatError(f"inventory of {where}: path {entry.path!r} repeats")

    def add_member(self, inv: int, member: Member) -> None:
        """Keep index member ``member`` of inventory ``inv``'s archive (numbered in the order
        added, from 0); :meth:`flush_members` when done."""
        frames = member.frames
        self._member_rows.append(
            (
                self._members,
                inv,
                _name(member.path),
                member.type,
                member.size,
                member.mode,
                member.mtime,
                member.uid,
                member.gid,
                _name(member.link),
                member.offset,
                frames.start,
                len(frames),
                member.sha256,
            )
        )
        self._members += 1
        if len(self._member_rows) >= _BATCH:
            self.flush_members()

    def flush_members(self) -> None:
        """Write the members :meth:`add_member` holds."""
        with self._transaction():
            self._db.executemany(
                "INSERT INTO member VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self._member_rows,
            )
        self._member_rows.clear()

    # -- entries ---------------------------------------------------------------------------

    def _rows_of(self, sql: str, parameters: tuple[object, ...] = ()) -> Iterator[tuple[Any, ...]]:
        cursor = self._db.execute(sql, parameters)
        while rows := cursor.fetchmany(_FETCH):
            yield from rows

    def get(self, inv: int, path: str) -> InventoryEntry | None:
        """The entry of inventory ``inv`` at ``path``, or None."""
        row = self._db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE inv = ? AND path = ?", (inv, _name(path))
        ).fetchone()
        return None if row is None else _entry(row)

    def stored(self, inv: int, path: str) -> tuple[int, InventoryEntry] | None:
        """The row id and entry at ``path`` of inventory ``inv`` whose bytes its own archive
        holds (not inherited from an older one), or None."""
        row = self._db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE inv = ? AND path = ? AND archive IS NULL",
            (inv, _name(path)),
        ).fetchone()
        return None if row is None else (row[0], _entry(row))

    def member_entries(
        self, inv: int, archive: str | None, path: str
    ) -> tuple[tuple[int, InventoryEntry] | None, tuple[InventoryEntry, ...]]:
        """For the member at ``path`` of the archive of inventory ``inv``, in one query: what
        :meth:`stored` gives, and the chosen entries written from its bytes, files first
        (``archive`` as :meth:`wants` takes it)."""
        name = _name(path)
        rows = self._db.execute(
            f"SELECT {_ENTRY_COLUMNS}, inv, source FROM entry "
            "WHERE (inv = ? AND path = ? AND archive IS NULL) OR (source = ? AND archive IS ?)",
            (inv, name, name, archive),
        ).fetchall()
        if len(rows) > 1:
            rows.sort(key=_KIND_AND_ID)  # in Python: ORDER BY would build a B-tree per call
        stored = None
        outputs = []
        for row in rows:
            entry = _entry(row)
            if row[11] == inv and row[1] == name and row[10] is None:
                stored = (row[0], entry)
            if row[12] == name and row[10] == archive:
                outputs.append(entry)
        return stored, tuple(outputs)

    def chosen_link(self, path: str) -> tuple[EntryType, str | None] | None:
        """The kind and link of the chosen entry at ``path``, or None."""
        row = self._db.execute(
            "SELECT kind, link FROM entry WHERE inv = 0 AND path = ? AND chosen", (_name(path),)
        ).fetchone()
        if row is None:
            return None
        return _KINDS[row[0]], None if row[1] is None else _text(row[1])

    def count_chosen(self) -> int:
        (count,) = self._db.execute(
            "SELECT count(*) FROM entry WHERE inv = 0 AND chosen"
        ).fetchone()
        return int(count)

    def chosen_file_totals(self) -> tuple[int, int]:
        """The number of chosen regular files and the sum of their sizes."""
        count, total = self._db.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM entry "
            "WHERE inv = 0 AND kind = ? AND chosen",
            (_KIND_CODES[EntryType.FILE],),
        ).fetchone()
        return int(count), int(total)

    def chosen(self, kind: EntryType | None = None) -> Iterator[InventoryEntry]:
        """The chosen entries in inventory order; of ``kind`` only, shallowest first, when given.
        (Every query here walks an index or the row ids in order: none sorts in memory.)"""
        if kind is None:
            sql = (
                f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE id BETWEEN ? AND ? AND chosen "
                "ORDER BY id"
            )
            return map(_entry, self._rows_of(sql, self._ranges[0]))
        sql = (
            f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE inv = 0 AND kind = ? AND chosen = 1 "
            "ORDER BY depth, id"
        )
        return map(_entry, self._rows_of(sql, (_KIND_CODES[kind],)))

    def chosen_shapes(self) -> Iterator[tuple[str, EntryType, str | None]]:
        """``(path, kind, link)`` of the chosen entries in inventory order: what the checks
        of their paths read, without building each entry."""
        sql = (
            "SELECT id, path, kind, link FROM entry WHERE id BETWEEN ? AND ? AND chosen ORDER BY id"
        )
        for _, path, kind, link in self._rows_of(sql, self._ranges[0]):
            yield _text(path), _KINDS[kind], None if link is None else _text(link)

    def hardlinks_without_file(self) -> Iterator[tuple[str, str | None]]:
        """``(path, link)`` of each chosen hard link of inventory 0 whose link names no
        regular file of that inventory, in inventory order: one query, not one per link."""
        sql = (
            "SELECT h.id, h.path, h.link FROM entry AS h "
            "LEFT JOIN entry AS t ON t.inv = 0 AND t.path = h.link "
            "WHERE h.inv = 0 AND h.kind = ? AND h.chosen = 1 AND (t.kind IS NULL OR t.kind != ?) "
            "ORDER BY h.id"
        )
        codes = (_KIND_CODES[EntryType.HARDLINK], _KIND_CODES[EntryType.FILE])
        for _, path, link in self._rows_of(sql, codes):
            yield _text(path), None if link is None else _text(link)

    def chosen_directories(self) -> Iterator[InventoryEntry]:
        """The chosen directories, deepest first."""
        sql = (
            f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE inv = 0 AND kind = ? AND chosen = 1 "
            "ORDER BY depth DESC, id DESC"
        )
        return map(_entry, self._rows_of(sql, (_KIND_CODES[EntryType.DIRECTORY],)))

    def symlink_paths(self) -> Iterator[str]:
        """The paths of every symlink of inventory 0, chosen or not."""
        sql = "SELECT id, path FROM entry WHERE inv = 0 AND kind = ?"
        for _, path in self._rows_of(sql, (_KIND_CODES[EntryType.SYMLINK],)):
            yield _text(path)

    def chosen_under(self, directory: str) -> Iterator[str]:
        """The paths of the chosen entries strictly under ``directory``."""
        low = _name(directory) + b"/"
        sql = "SELECT id, path FROM entry WHERE inv = 0 AND path >= ? AND path < ? AND chosen"
        for _, path in self._rows_of(sql, (low, low[:-1] + b"0")):
            yield _text(path)

    def inherits(self, inv: int) -> bool:
        """Whether some entries of inventory ``inv`` are stored in older archives."""
        row = self._db.execute(
            "SELECT 1 FROM entry WHERE inv = ? AND archive IS NOT NULL LIMIT 1", (inv,)
        ).fetchone()
        return row is not None

    def older_archives(self) -> list[str]:
        """The older archives holding the bytes of chosen entries, sorted."""
        sql = "SELECT DISTINCT archive FROM entry WHERE inv = 0 AND chosen AND archive IS NOT NULL"
        return sorted(archive for (archive,) in self._db.execute(sql))

    def stored_paths(self, inv: int) -> Iterator[tuple[int, str]]:
        """Row id and path of every entry inventory ``inv``'s own archive stores."""
        sql = "SELECT id, path FROM entry WHERE id BETWEEN ? AND ? AND archive IS NULL ORDER BY id"
        for number, path in self._rows_of(sql, self._ranges[inv]):
            yield number, _text(path)

    def walk(self, inv: int, archive: str | None, *, outputs: bool) -> StoredWalk:
        """A :class:`StoredWalk` of inventory ``inv``'s stored entries (``archive`` as
        :meth:`wants` takes it; ``outputs``: whether its lookups give the chosen entries too)."""
        return StoredWalk(self, inv, archive, outputs=outputs)

    def _walk_rows(
        self, inv: int, archive: str | None, *, shared: bool
    ) -> Iterator[tuple[Any, ...]]:
        """The rows :meth:`stored_paths` names, in id order, led by :data:`_ENTRY_COLUMNS`, then
        ``source`` and whether (when ``shared``) another entry takes its bytes from it."""
        others = (
            "EXISTS (SELECT 1 FROM entry AS other WHERE other.source = entry.path "
            "AND other.archive IS ? AND other.id != entry.id)"
            if shared
            else "?"
        )
        sql = (
            f"SELECT {_ENTRY_COLUMNS}, source, {others} FROM entry "
            "WHERE id BETWEEN ? AND ? AND archive IS NULL ORDER BY id"
        )
        return self._rows_of(sql, (archive if shared else 0, *self._ranges[inv]))

    def members(self) -> Iterator[Member]:
        """Every index member, in the order added."""
        return map(_member, self._rows_of("SELECT * FROM member ORDER BY number"))

    # -- outputs ---------------------------------------------------------------------------

    def wants(self, archive: str | None, source: str) -> bool:
        """Whether a chosen entry takes its bytes from member ``source`` of ``archive``
        (None: the archive restored)."""
        row = self._db.execute(
            "SELECT 1 FROM entry WHERE source = ? AND archive IS ? LIMIT 1",
            (_name(source), archive),
        ).fetchone()
        return row is not None

    def sources(self, archive: str | None) -> Iterator[str]:
        """The paths of the members of ``archive`` (as :meth:`wants` takes it) that chosen
        entries take their bytes from, each once."""
        sql = "SELECT DISTINCT source FROM entry WHERE source IS NOT NULL AND archive IS ?"
        for (source,) in self._rows_of(sql, (archive,)):
            yield _text(source)

    def all_outputs(self, archive: str | None) -> Iterator[Outputs]:
        """For every member of ``archive`` that chosen entries need, those entries (files
        first)."""
        sql = (
            f"SELECT {_ENTRY_COLUMNS}, source FROM entry WHERE source IS NOT NULL "
            "AND archive IS ? ORDER BY source, kind, id"
        )
        rows = self._rows_of(sql, (archive,))
        for source, group in itertools.groupby(rows, key=lambda row: row[-1]):
            yield Outputs(_text(source), tuple(map(_entry, group)))

    # -- index members ---------------------------------------------------------------------

    def member(self, inv: int, path: str) -> Member | None:
        """The last index member of inventory ``inv``'s archive at ``path``, or None."""
        row = self._db.execute(
            "SELECT * FROM member WHERE inv = ? AND path = ? ORDER BY number DESC LIMIT 1",
            (inv, _name(path)),
        ).fetchone()
        return None if row is None else _member(row)

    def member_at(self, number: int) -> Member | None:
        """The index member numbered ``number`` (in the order added), or None."""
        row = self._db.execute("SELECT * FROM member WHERE number = ?", (number,)).fetchone()
        return None if row is None else _member(row)


def without_repeats(stream: InventoryStream) -> Iterator[InventoryEntry]:
    """The entries of ``stream`` as they come; InventoryFormatError naming its archive when a
    path repeats.

    For a reader that keeps only some of each entry (a listing, a search) and so cannot
    see a repeat itself. ``ship`` lists paths in scan order: depth first, each directory's
    names sorted by their bytes. That is strictly increasing order of the paths' bytes
    with ``/`` counted lowest, so in such an inventory a repeat is the path just before,
    and finding one needs no memory. Once a path comes out of that order (an inventory
    written by other means), every path is checked after the last is given, by reading
    the inventory again into an :class:`EntryTable` on disk: a caller that acts only once
    the iteration ends (a table printed at the end) acts on no inventory with a repeat.
    """
    where = stream.archive.name
    last = b""
    ordered = True
    for entry in stream.entries:
        if ordered:
            key = _name(entry.path).replace(b"/", b"\x00")
            if key == last:
                raise InventoryFormatError(f"inventory of {where}: path {entry.path!r} repeats")
            ordered, last = key > last, key
        yield entry
    if not ordered:
        with EntryTable() as table:
            table.add(stream.select(_every_path), where=where)


def _every_path(path: str) -> bool:
    return True


def _member(row: tuple[Any, ...]) -> Member:
    _, _, path, kind, size, mode, mtime, uid, gid, link, offset, first, count, sha256 = row
    return Member(
        _text(path), kind, size, mode, mtime, uid, gid, _text(link), offset,
        range(first, first + count), sha256,
    )  # fmt: skip


class StoredWalk:
    """Looks up the members of an archive, in the order its tar holds them, by walking its
    inventory's rows alongside: ship writes the members in inventory order, so each is
    the next row, found without a query. A member out of that order (an archive written
    by another tool, or a crafted one) is looked up by a query instead, with the same answer.
    """

    def __init__(self, table: EntryTable, inv: int, archive: str | None, *, outputs: bool) -> None:
        self._table = table
        self._inv = inv
        self._archive = archive
        self._outputs = outputs
        self._rows = table._walk_rows(inv, archive, shared=outputs)
        self._next: tuple[Any, ...] | None = next(self._rows, None)

    def _take(self, name: bytes, seen: SeenSet) -> tuple[Any, ...] | None:
        """The next row when it is at ``name`` (rows already seen skipped), else None."""
        row = self._next
        while row is not None and row[0] in seen:
            row = next(self._rows, None)
        self._next = row
        if row is None or row[1] != name:
            return None
        self._next = next(self._rows, None)
        return row

    def stored(self, path: str, seen: SeenSet) -> tuple[int, InventoryEntry] | None:
        """What :meth:`EntryTable.stored` gives for ``path``; ``seen``: the rows met so far."""
        row = self._take(_name(path), seen)
        if row is None:
            return self._table.stored(self._inv, path)
        return row[0], _entry(row)

    def member_entries(
        self, path: str, seen: SeenSet
    ) -> tuple[tuple[int, InventoryEntry] | None, tuple[InventoryEntry, ...]]:
        """What :meth:`EntryTable.member_entries` gives for ``path`` (the walk made with
        ``outputs``); ``seen``: the rows met so far."""
        assert self._outputs
        name = _name(path)
        row = self._take(name, seen)
        if row is None or row[12]:  # out of order, or other entries share its bytes
            return self._table.member_entries(self._inv, self._archive, path)
        entry = _entry(row)
        mine = row[11] == name and self._archive is None  # a chosen file: its own output
        return (row[0], entry), (entry,) if mine else ()
