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
    """Incremental decompression of one compressed stream."""

    def decompress(self, data: bytes) -> bytes:
        """Decompress a chunk of the compressed stream; returns the bytes ready."""
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
