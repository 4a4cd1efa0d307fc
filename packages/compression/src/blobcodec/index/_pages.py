"""The paged index (format version 2): a small directory, then pages of member lines, so a
reader that needs a few members fetches the directory and their pages, not the whole index.

Byte layout (integers little-endian)::

    offset  size  field
    0       8     magic  b"BCINDEX\\x00"
    8       2     format version, 2
    10      2     reserved, 0
    12      4     D, bytes of the directory
    16      D     the directory: one zstd frame (content size and XXH64 checksum set) of
                  UTF-8 JSON lines:
                  line 1     the archive, as in version 1, plus "page_members": P
                  one line per page, in order: {"length": its compressed bytes,
                             "members": its member count, "low": path, "high": path}
    16 + D  ...   the pages, back to back: each one zstd frame (content size and checksum
                  set) of its members' JSON lines, exactly as version 1 writes them; every
                  page holds P members but the last, which holds 1 to P

``low`` and ``high`` are the least and greatest path of the page's members in *path
order*: names compared as bytes with ``/`` below every other byte (:func:`path_key`),
the order of a depth-first walk that sorts each directory's children, which is how
GNU tar's ``--sort=name`` and cargoship write archives. Names that are not valid UTF-8
go in ``low_b64`` / ``high_b64``. When each page's ``high`` is at most the next page's
``low`` (the members were written in path order), the pages that can hold a path are
found by bisection (one; two for a path stored twice across a page boundary):
:func:`read_members_async` fetches the directory with the index's first bytes, then only
those pages. An index whose pages are out of path order is read whole.

A member line is at most :data:`MAX_LINE_BYTES` (paths and link targets are at most
4,096 bytes, ``\\uXXXX``-escaped at worst), so a page's text may be at most that times its
member count, and a directory's 64 MiB: either expanding further is refused.
"""

from __future__ import annotations

import bisect
import io
import struct
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

import zstandard

from blobcodec.errors import IndexFormatError
from blobcodec.index._model import (
    _HEADER,
    _MAGIC,
    INDEX_FORMAT_VERSION,
    MIN_INDEX_TEXT_LIMIT,
    ArchiveIndex,
    Member,
    _check_within,
    _decode_line,
    _get,
    _json_line,
    _member,
    _name,
    _name_field,
    _payload_lines,
    _record,
)

__all__ = [
    "FIRST_READ_BYTES",
    "MAX_LINE_BYTES",
    "PAGE_MEMBERS",
    "IndexDirectory",
    "IndexPage",
    "PageWriter",
    "path_key",
    "read_members_async",
    "read_paged",
]

PAGE_MEMBERS: Final = 512
"""Members per page (about 20 KiB compressed when each carries a sha256)."""
FIRST_READ_BYTES: Final = 16 << 10
"""Bytes :func:`read_members_async` reads first: the header and, mostly, the directory."""
MAX_LINE_BYTES: Final = 64 << 10
_LEVEL: Final = 1
"""zstd level of pages and directory. Member lines are mostly SHA-256 hex, which no level
shrinks: level 1 gives within 2% of level 9's size at a seventh of its CPU (0.04 s against
0.27 s for 85,000 members, on the thread that packs the archive)."""
_LENGTH: Final = struct.Struct("<I")
_HEAD_SIZE: Final = _HEADER.size + _LENGTH.size


def path_key(path: str) -> bytes:
    """``path`` as a key of path order: its bytes, with ``/`` the lowest byte."""
    return path.encode("utf-8", "surrogateescape").replace(b"/", b"\x00")


@dataclass(frozen=True, slots=True)
class IndexPage:
    """Where one page lies in the index and the range of paths it holds."""

    offset: int
    """From the index's first byte."""
    length: int
    members: int
    low: str
    high: str


@dataclass(frozen=True, slots=True)
class IndexDirectory:
    """A paged index's directory: the archive's identity and its pages."""

    frame_count: int
    size: int
    compressed_size: int
    seek_table_sha256: str
    members: int
    page_members: int
    pages: tuple[IndexPage, ...]

    @property
    def end(self) -> int:
        """Bytes of the whole index."""
        return self.pages[-1].offset + self.pages[-1].length if self.pages else 0

    def pages_holding(self, paths: Iterable[str]) -> list[IndexPage] | None:
        """The pages that can hold members at ``paths``, in index order; None when the pages
        are out of path order (then any page may hold any path)."""
        lows = [path_key(page.low) for page in self.pages]
        highs = [path_key(page.high) for page in self.pages]
        if any(high > low for high, low in zip(highs, lows[1:], strict=False)):
            return None
        chosen: set[int] = set()
        for path in paths:
            key = path_key(path)
            number = bisect.bisect_right(lows, key) - 1
            while number >= 0 and highs[number] >= key:  # highs never decrease
                chosen.add(number)
                number -= 1
        return [self.pages[number] for number in sorted(chosen)]

    def identity(self, members: Iterable[Member]) -> ArchiveIndex:
        """An :class:`ArchiveIndex` of ``members`` with this directory's archive identity."""
        return ArchiveIndex(
            members,
            frame_count=self.frame_count,
            size=self.size,
            compressed_size=self.compressed_size,
            seek_table_sha256=self.seek_table_sha256,
        )


class PageWriter:
    """Compresses member lines into pages as they come; :meth:`head` then gives what goes
    before the pages (header and directory)."""

    def __init__(self) -> None:
        self._compressor = zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True)
        self._lines: list[bytes] = []
        self._paths: list[str] = []
        self._pages: list[bytes] = []  # each page's directory line
        self.members = 0

    def add(self, path: str, line: bytes) -> bytes | None:
        """Take the member line ``line`` of the member at ``path``; the compressed page it
        completes, if it completes one."""
        self._lines.append(line)
        self._paths.append(path)
        self.members += 1
        return self.flush() if len(self._lines) == PAGE_MEMBERS else None

    def flush(self) -> bytes | None:
        """The compressed page of the lines taken since the last one, if any."""
        if not self._lines:
            return None
        # path_key of each path, inline: a page's keys made at once cost less than per add
        keys = [
            (path.encode("utf-8", "surrogateescape").replace(b"/", b"\x00"), path)
            for path in self._paths
        ]
        page = self._compressor.compress(b"".join(self._lines))
        fields = [
            f'{{"length":{len(page):d},"members":{len(self._lines):d}',
            _name_field("low", min(keys)[1]),
            _name_field("high", max(keys)[1]) + "}\n",
        ]
        self._pages.append(",".join(fields).encode())
        self._lines.clear()
        self._paths.clear()
        return page

    def head(
        self, *, frame_count: int, size: int, compressed_size: int, seek_table_sha256: str
    ) -> bytes:
        """The header and directory, for the pages given so far (:meth:`flush` first)."""
        assert not self._lines
        head = _json_line(
            {
                "frames": frame_count,
                "size": size,
                "compressed_size": compressed_size,
                "seek_table_sha256": seek_table_sha256,
                "members": self.members,
                "page_members": PAGE_MEMBERS,
            }
        )
        directory = self._compressor.compress(head + b"".join(self._pages))
        header = _HEADER.pack(_MAGIC, INDEX_FORMAT_VERSION, 0)
        return header + _LENGTH.pack(len(directory)) + directory


def _directory(data: bytes) -> IndexDirectory:
    """The directory in ``data`` (the index from its first byte, at least through the
    directory), checked: counts agree, every page but the last is full."""
    (length,) = _LENGTH.unpack_from(data, _HEADER.size)
    lines = _payload_lines(
        io.BytesIO(data[_HEAD_SIZE : _HEAD_SIZE + length]), length, MIN_INDEX_TEXT_LIMIT
    )
    first = next(lines, None)
    if first is None:
        raise IndexFormatError("archive member index directory is empty: no archive line")
    head = _record(_decode_line(first), 1)
    frame_count = _get(head, "frames", int, 1)
    size = _get(head, "size", int, 1)
    compressed_size = _get(head, "compressed_size", int, 1)
    digest = _get(head, "seek_table_sha256", str, 1)
    members = _get(head, "members", int, 1)
    page_members = _get(head, "page_members", int, 1)
    if not page_members:
        raise IndexFormatError("archive member index directory line 1: 'page_members' is 0")
    pages: list[IndexPage] = []
    offset = _HEAD_SIZE + length
    for line, text in enumerate(lines, 2):
        record = _record(_decode_line(text), line)
        page = IndexPage(
            offset,
            _get(record, "length", int, line),
            _get(record, "members", int, line),
            _name(record, "low", line),
            _name(record, "high", line),
        )
        if not 0 < page.members <= page_members:
            raise IndexFormatError(
                f"archive member index directory line {line}: a page of {page.members} "
                f"members (pages hold 1 to {page_members})"
            )
        if pages and pages[-1].members != page_members:
            raise IndexFormatError(
                f"archive member index directory line {line - 1}: a page of "
                f"{pages[-1].members} members before the last (pages hold {page_members})"
            )
        pages.append(page)
        offset += page.length
    if sum(page.members for page in pages) != members:
        raise IndexFormatError(
            f"archive member index announces {members} members but its pages hold "
            f"{sum(page.members for page in pages)}"
        )
    return IndexDirectory(
        frame_count, size, compressed_size, digest, members, page_members, tuple(pages)
    )


def _read_page(
    file: BinaryIO,
    page: IndexPage,
    directory: IndexDirectory,
    first_line: int,
    keep: Callable[[Member], bool] | None,
    members: list[Member],
) -> None:
    """Check the members of ``page`` (its bytes next in ``file``) against the directory and
    the archive's bounds, appending to ``members`` those ``keep`` accepts; ``first_line``
    is the index line of its first member, for errors."""
    lines = _payload_lines(file, page.length, page.members * MAX_LINE_BYTES)
    low, high = path_key(page.low), path_key(page.high)
    line = first_line - 1
    for line, text in enumerate(lines, first_line):
        member = _member(_record(_decode_line(text), line), line)
        _check_within(member, directory.frame_count, directory.size, line)
        if not low <= member.path.encode("utf-8", "surrogateescape").replace(b"/", b"\x00") <= high:
            raise IndexFormatError(
                f"archive member index line {line}: member {member.path!r} is outside its "
                f"page's paths {page.low!r} to {page.high!r}"
            )
        if keep is None or keep(member):
            members.append(member)
    if line - first_line + 1 != page.members:
        raise IndexFormatError(
            f"archive member index page at byte {page.offset} announces {page.members} "
            f"members but holds {line - first_line + 1}"
        )


def read_paged(file: BinaryIO, keep: Callable[[Member], bool] | None) -> ArchiveIndex:
    """The whole paged index in ``file`` (at its start), as :meth:`ArchiveIndex.read` reads
    it: every member checked, those ``keep`` accepts held."""
    head = file.read(_HEAD_SIZE)
    if len(head) < _HEAD_SIZE:
        raise IndexFormatError("archive member index is truncated in its header")
    (length,) = _LENGTH.unpack_from(head, _HEADER.size)
    data = head + file.read(length)
    if len(data) < _HEAD_SIZE + length:
        raise IndexFormatError("archive member index is truncated in its directory")
    directory = _directory(data)
    members: list[Member] = []
    for number, page in enumerate(directory.pages):
        _read_page(file, page, directory, 2 + number * directory.page_members, keep, members)
    if file.read(1):
        raise IndexFormatError("archive member index has bytes after its last page")
    return directory.identity(members)


async def read_members_async(
    read_at: Callable[[int, int], Awaitable[bytes]],
    paths: Collection[str],
    *,
    keep: Callable[[Member], bool] | None = None,
) -> ArchiveIndex | None:
    """The members of a paged index that can be at ``paths``, read with ``read_at(offset,
    size)`` (fewer bytes only at the index's end): its first :data:`FIRST_READ_BYTES`
    (the directory, with a second read when it is longer), then the pages that can hold
    them, adjacent ones in one read. Every member of those pages is checked and passed to
    ``keep`` as :meth:`ArchiveIndex.read` does; the result holds those it accepts.

    None when the index cannot be read this way: version 1 (one frame), or pages out of
    path order. Then read it whole (:meth:`ArchiveIndex.read`).
    """
    data = await read_at(0, FIRST_READ_BYTES)
    if len(data) < _HEADER.size or data[: len(_MAGIC)] != _MAGIC:
        raise IndexFormatError("not an archive member index: the magic bytes are missing")
    _, version, _ = _HEADER.unpack_from(data)
    if version != INDEX_FORMAT_VERSION:
        return None
    if len(data) < _HEAD_SIZE:
        raise IndexFormatError("archive member index is truncated in its header")
    (length,) = _LENGTH.unpack_from(data, _HEADER.size)
    if len(data) < _HEAD_SIZE + length:
        data += await read_at(len(data), _HEAD_SIZE + length - len(data))
        if len(data) < _HEAD_SIZE + length:
            raise IndexFormatError("archive member index is truncated in its directory")
    directory = _directory(data)
    pages = directory.pages_holding(paths)
    if pages is None:
        return None
    members: list[Member] = []
    for run in _adjacent(pages):
        start, end = run[0].offset, run[-1].offset + run[-1].length
        if end <= len(data):
            blob = data[start:end]
        else:
            blob = await read_at(start, end - start)
            if len(blob) != end - start:
                raise IndexFormatError(
                    f"archive member index ends at byte {start + len(blob)}, inside the page "
                    f"at byte {run[-1].offset}"
                )
        file = io.BytesIO(blob)
        for page in run:
            first_line = 2 + directory.pages.index(page) * directory.page_members
            _read_page(file, page, directory, first_line, keep, members)
    return directory.identity(members)


def _adjacent(pages: list[IndexPage]) -> Iterator[list[IndexPage]]:
    """``pages`` (in index order) in runs that lie back to back."""
    run: list[IndexPage] = []
    for page in pages:
        if run and run[-1].offset + run[-1].length != page.offset:
            yield run
            run = []
        run.append(page)
    if run:
        yield run
