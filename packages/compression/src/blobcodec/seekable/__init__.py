"""Seekable zstd archives: the zstd project's seekable format, written in parallel, read by range.

Follows "Zstandard Seekable Format" 0.1.0 (facebook/zstd,
contrib/seekable_format/zstd_seekable_compression_format.md): independent zstd
frames followed by a seek table in a skippable frame, so stock ``zstd -d`` and
``tar --zstd`` read the archive as one ordinary stream.
"""

from blobcodec.seekable._reader import TAIL_READ_BYTES as TAIL_READ_BYTES
from blobcodec.seekable._reader import AsyncReadAt as AsyncReadAt
from blobcodec.seekable._reader import AsyncSeekableReader as AsyncSeekableReader
from blobcodec.seekable._reader import ReadAt as ReadAt
from blobcodec.seekable._reader import SeekableReader as SeekableReader
from blobcodec.seekable._table import Frame as Frame
from blobcodec.seekable._table import SeekTable as SeekTable
from blobcodec.seekable._writer import DEFAULT_FRAME_SIZE as DEFAULT_FRAME_SIZE
from blobcodec.seekable._writer import SeekableWriter as SeekableWriter
from blobcodec.seekable._writer import WritableBinary as WritableBinary

__all__ = [
    "DEFAULT_FRAME_SIZE",
    "TAIL_READ_BYTES",
    "AsyncReadAt",
    "AsyncSeekableReader",
    "Frame",
    "ReadAt",
    "SeekTable",
    "SeekableReader",
    "SeekableWriter",
    "WritableBinary",
]
