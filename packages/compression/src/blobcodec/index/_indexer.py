"""Index a tar stream while it is written into a seekable zstd archive."""

from __future__ import annotations

from blobcodec.checksum import sha256_tag
from blobcodec.errors import CorruptDataError
from blobcodec.index._model import ArchiveIndex
from blobcodec.index._tar import TarStreamParser
from blobcodec.seekable import SeekableWriter

__all__ = ["TarIndexer"]


class TarIndexer:
    """A file object for ``tarfile`` (or any tar producer): bytes go on to ``writer``,
    their tar headers are parsed on the way, and :meth:`close` returns the member index.

    ``writer`` must be fresh: member offsets count from its first byte.
    """

    def __init__(self, writer: SeekableWriter) -> None:
        if writer.bytes_in:
            raise ValueError("TarIndexer needs a SeekableWriter that has not been written to")
        self._writer = writer
        self._parser = TarStreamParser(writer.frame_size)

    def tell(self) -> int:
        """Bytes of the tar stream seen so far (``tarfile`` asks)."""
        return self._parser.position

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Parse ``data`` as the next bytes of the tar stream and write it to the archive."""
        try:
            self._parser.feed(data)
        except BaseException:
            self._writer.abort()
            raise
        return self._writer.write(data)

    def close(self) -> ArchiveIndex:
        """Finish the archive (its seek table) and return the index of its members.

        A tar stream that stopped before its end-of-archive block raises
        CorruptDataError and leaves the archive without a seek table.
        """
        if not self._parser.ended:
            self._writer.abort()
            raise CorruptDataError(
                f"tar stream ended {self._parser.describe_position()}; "
                "the archive was left without a seek table"
            )
        self._writer.close()
        table = self._writer.table
        return ArchiveIndex(
            self._parser.members,
            frame_count=len(table.frames),
            size=table.decompressed_size,
            compressed_size=self._writer.bytes_out,
            seek_table_sha256=sha256_tag(table.encode()),
        )

    def abort(self) -> None:
        """Give up: the archive gets no seek table."""
        self._writer.abort()
