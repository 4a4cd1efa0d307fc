"""The "none" codec: bytes stored as they are, for data that does not compress.

Already-compressed data (JPEG, zip, zstd...) gains nothing from another pass,
and :func:`blobcodec.choose.choose` picks this codec for it. The format has no
framing, so truncation cannot be detected: any prefix is a valid stream. Pair
it with a checksum (``blobcodec.checksum``) where integrity matters.
"""

from __future__ import annotations

__all__ = ["NoneCodec", "PassthroughCompressor", "PassthroughDecompressor"]


class PassthroughCompressor:
    """The streaming half of :class:`NoneCodec`: returns each chunk unchanged."""

    def compress(self, data: bytes) -> bytes:
        """Return ``data`` as it is."""
        return bytes(data)

    def flush(self) -> bytes:
        """Nothing is buffered, so nothing remains."""
        return b""


class PassthroughDecompressor:
    """The streaming half of :class:`NoneCodec`, honouring ``max_length`` like the others."""

    def __init__(self) -> None:
        self._pending = b""

    @property
    def eof(self) -> bool:
        """Always true: an unframed stream can end anywhere."""
        return True

    @property
    def needs_input(self) -> bool:
        """Whether everything fed so far has been returned."""
        return not self._pending

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        """Return up to ``max_length`` bytes of what was fed (all if negative)."""
        pending = self._pending + data if self._pending else bytes(data)
        if max_length < 0 or len(pending) <= max_length:
            self._pending = b""
            return pending
        self._pending = pending[max_length:]
        return pending[:max_length]


class NoneCodec:
    """Stores data unchanged; it has no levels."""

    @property
    def name(self) -> str:
        """``"none"``."""
        return "none"

    def __repr__(self) -> str:
        return "NoneCodec()"

    def compress(self, data: bytes) -> bytes:
        """Return ``data`` as it is."""
        return bytes(data)

    def decompress(self, data: bytes) -> bytes:
        """Return ``data`` as it is."""
        return bytes(data)

    def compressor(self) -> PassthroughCompressor:
        """A new pass-through stream compressor."""
        return PassthroughCompressor()

    def decompressor(self) -> PassthroughDecompressor:
        """A new pass-through stream decompressor."""
        return PassthroughDecompressor()
