"""An archive member index written a member at a time and serialised without holding its members.

:meth:`ArchiveIndex.dumps <blobcodec.index.ArchiveIndex.dumps>` needs every
:class:`~blobcodec.index.Member` in memory: for millions of members that is
gigabytes. :class:`IndexSpool` compresses each page of member lines
(:mod:`blobcodec.index._pages`) as it fills and writes it to a file, keeping only
the page being filled and a directory line per page; at the end it gives the
header and directory, then the pages back from the file: the bytes ``dumps``
writes for the same members.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Final

from blobcodec.index._model import Member, MemberType, _fields_line, _member_line
from blobcodec.index._pages import PageWriter

__all__ = ["SPOOL_CHUNK_SIZE", "IndexSpool"]

SPOOL_CHUNK_SIZE: Final = 1 << 20
"""Bytes of compressed pages read back from the file per piece."""


class IndexSpool:
    """Compressed pages of member lines spooled to ``file`` (an empty binary file open for
    reading and writing, e.g. :func:`tempfile.TemporaryFile`; the caller closes it)."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._writer = PageWriter()

    def __len__(self) -> int:
        """Members added so far."""
        return self._writer.members

    def add(self, member: Member) -> None:
        """Take ``member`` (members must come in archive order)."""
        page = self._writer.add(member.path, _member_line(member))
        if page is not None:
            self._file.write(page)

    def add_fields(
        self,
        path: str,
        type: MemberType,  # noqa: A002 - the name of Member's field
        size: int,
        mode: int,
        mtime: float,
        uid: int,
        gid: int,
        link: str,
        offset: int,
        frames: range,
        sha256: str | None,
    ) -> None:
        """:meth:`add` of ``Member(path, type, ...)`` (the same fields, in the same order),
        without building the :class:`Member`: for a packer that has the fields at hand and
        adds hundreds of thousands of members."""
        page = self._writer.add(
            path,
            _fields_line(path, type, size, mode, mtime, uid, gid, link, offset, frames, sha256),
        )
        if page is not None:
            self._file.write(page)

    def pieces(
        self, *, frame_count: int, size: int, compressed_size: int, seek_table_sha256: str
    ) -> Iterator[bytes]:
        """The serialised index in pieces: joined, what
        :meth:`ArchiveIndex.dumps <blobcodec.index.ArchiveIndex.dumps>` writes for the same
        members and archive fields. Reads the file from its start: add nothing after."""
        page = self._writer.flush()
        if page is not None:
            self._file.write(page)
        yield self._writer.head(
            frame_count=frame_count,
            size=size,
            compressed_size=compressed_size,
            seek_table_sha256=seek_table_sha256,
        )
        self._file.flush()
        self._file.seek(0)
        while chunk := self._file.read(SPOOL_CHUNK_SIZE):
            yield chunk
