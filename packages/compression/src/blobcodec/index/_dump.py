"""An archive member index written a member at a time and serialised without holding its members.

:meth:`ArchiveIndex.dumps <blobcodec.index.ArchiveIndex.dumps>` needs every
:class:`~blobcodec.index.Member` in memory: for millions of members that is
gigabytes. :class:`IndexSpool` writes each member's JSON line to a file as the
member is added (about 200 bytes on disk, nothing kept in memory) and at the
end writes the index (format in :mod:`blobcodec.index._model`): the header,
then one zstd frame, level 9, with the content size and checksum.

Up to :data:`ONE_SHOT_LIMIT` bytes of JSON text (about 250,000 members) the
text is read back and compressed in one call, as ``dumps`` does: the same
bytes. Beyond, it is compressed from the file in chunks with the size pledged
up front: the frame decompresses to the same text, but its compressed bytes
differ from a one-shot frame (zstd's streaming match finder sees the input
through its window buffer, not all at once), and memory stays at a chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Final

import zstandard

from blobcodec.index._model import (
    _HEADER,
    _MAGIC,
    INDEX_FORMAT_VERSION,
    Member,
    _json_line,
    _member_line,
)

__all__ = ["ONE_SHOT_LIMIT", "SPOOL_CHUNK_SIZE", "IndexSpool"]

SPOOL_CHUNK_SIZE: Final = 1 << 20
"""Bytes of member lines read back and compressed per step."""
ONE_SHOT_LIMIT: Final = 64 << 20
"""Bytes of JSON text compressed in one call (byte-identical to ``dumps``); more is streamed."""
_LEVEL: Final = 9  # what ArchiveIndex.dumps compresses with


class IndexSpool:
    """Member lines spooled to ``file`` (an empty binary file open for reading and writing,
    e.g. :func:`tempfile.TemporaryFile`; the caller closes it)."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._count = 0
        self._text_size = 0

    def __len__(self) -> int:
        """Members added so far."""
        return self._count

    def add(self, member: Member) -> None:
        """Write ``member``'s line (members must come in archive order)."""
        line = _member_line(member)
        self._file.write(line)
        self._count += 1
        self._text_size += len(line)

    def pieces(
        self, *, frame_count: int, size: int, compressed_size: int, seek_table_sha256: str
    ) -> Iterator[bytes]:
        """The serialised index in pieces: joined, what
        :meth:`ArchiveIndex.dumps <blobcodec.index.ArchiveIndex.dumps>` writes for the same
        members and archive fields, up to :data:`ONE_SHOT_LIMIT` bytes of text (see the module
        docstring). Reads the file from its start: add nothing meanwhile."""
        head = _json_line(
            {
                "frames": frame_count,
                "size": size,
                "compressed_size": compressed_size,
                "seek_table_sha256": seek_table_sha256,
                "members": self._count,
            }
        )
        header = _HEADER.pack(_MAGIC, INDEX_FORMAT_VERSION, 0)
        compressor = zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True)
        self._file.flush()
        self._file.seek(0)
        if self._text_size <= ONE_SHOT_LIMIT:
            yield header + compressor.compress(head + self._file.read())
            return
        stream = compressor.compressobj(size=len(head) + self._text_size)
        yield header + stream.compress(head)
        while chunk := self._file.read(SPOOL_CHUNK_SIZE):
            if out := stream.compress(chunk):
                yield out
        yield stream.flush()
