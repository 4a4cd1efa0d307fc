"""The seams of blobcodec: the ``Codec`` Protocol and its streaming halves.

A codec compresses whole buffers (:meth:`Codec.compress`) or streams
(:meth:`Codec.compressor` returns an object fed chunk by chunk), so memory
stays bounded by the chunk size whatever the size of the data. Decompression
mirrors it. Ratios are measured on real data (``blobcodec.choose``), never
assumed from the codec's name.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Codec", "StreamCompressor", "StreamDecompressor"]


@runtime_checkable
class StreamCompressor(Protocol):
    """Incremental compression: feed chunks, then ``flush()`` once to end the stream."""

    def compress(self, data: bytes) -> bytes:
        """Compress a chunk; returns whatever compressed bytes are ready (maybe none)."""
        ...

    def flush(self) -> bytes:
        """End the stream and return the remaining compressed bytes."""
        ...


@runtime_checkable
class StreamDecompressor(Protocol):
    """Incremental decompression of one compressed stream, with output bounded per call.

    The ``max_length`` convention of the standard library's bz2 and lzma
    decompressors: ``decompress(data, max_length)`` returns at most
    ``max_length`` bytes and keeps the rest, so a small input that expands to
    gigabytes (a decompression bomb) never lands in memory at once.
    ``needs_input`` is false while it still holds input or output; the next
    call may then pass ``b""``.
    """

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        """Decompress a chunk; return at most ``max_length`` bytes (all when negative)."""
        ...

    @property
    def needs_input(self) -> bool:
        """Whether more compressed input is needed before more output can be produced."""
        ...

    @property
    def eof(self) -> bool:
        """Whether the end of the compressed stream has been reached."""
        ...


@runtime_checkable
class Codec(Protocol):
    """A compression format at a chosen level: zstd, lz4 (frame format), gzip or none."""

    @property
    def name(self) -> str:
        """The registry name: ``"zstd"``, ``"lz4"``, ``"gzip"`` or ``"none"``."""
        ...

    def compress(self, data: bytes) -> bytes:
        """Compress one buffer into one complete stream the format's own tools read."""
        ...

    def decompress(self, data: bytes) -> bytes:
        """Decompress one complete stream; raises :class:`blobcodec.errors.CorruptDataError`."""
        ...

    def compressor(self) -> StreamCompressor:
        """A new incremental compressor writing one stream."""
        ...

    def decompressor(self) -> StreamDecompressor:
        """A new incremental decompressor reading one stream."""
        ...
