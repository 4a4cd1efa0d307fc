"""The gzip codec: RFC 1952 members holding RFC 1951 deflate data, via zlib.

zlib with ``wbits=31`` writes and reads the gzip wrapper (RFC 1952 section
2.3: header, deflate data, CRC32 and ISIZE trailer), and checks the CRC32 and
the length on the way back, so a flipped byte is detected. Concatenated
members decode one after another (RFC 1952 section 2.2), as ``gzip -d``
does; anything after the last member that is not another member is an error
rather than silently ignored.
"""

from __future__ import annotations

import zlib

from blobcodec.errors import ChecksumMismatchError, CorruptDataError, TruncatedDataError

__all__ = ["GZIP_MAX_LEVEL", "GZIP_MIN_LEVEL", "GzipCodec", "GzipStreamDecompressor"]

GZIP_MIN_LEVEL = 1
GZIP_MAX_LEVEL = 9
_GZIP_WBITS = 31  # 16 (gzip wrapper) + 15 (32 KiB window)
_GZIP_MAGIC = b"\x1f\x8b"  # ID1, ID2 (RFC 1952 section 2.3.1)


class GzipStreamDecompressor:
    """Incremental gzip decompression of one or more concatenated members.

    ``decompress(data, max_length)`` follows the standard library's bz2/lzma
    decompressors: at most ``max_length`` bytes are returned (all when
    negative) and the rest kept; :attr:`needs_input` says whether more
    compressed data is needed. :attr:`eof` is true at a member boundary.
    """

    def __init__(self) -> None:
        self._member = zlib.decompressobj(_GZIP_WBITS)
        self._tail = b""  # input not yet consumed: zlib's unconsumed_tail or the next member
        self._member_start = 0
        self._member_fed = 0  # bytes the current member's decompressor has consumed
        self._members_done = 0
        # A full output buffer may leave decoded bytes inside zlib with no input left.
        self._more_output = False

    @property
    def eof(self) -> bool:
        """Whether the data so far ends exactly at the end of a member."""
        return self._members_done > 0 and self._member_fed == 0 and self.needs_input

    @property
    def needs_input(self) -> bool:
        """Whether the next :meth:`decompress` call needs more compressed data."""
        return not self._tail and not self._more_output

    @property
    def position(self) -> int:
        """How many compressed bytes have been consumed."""
        return self._member_start + self._member_fed

    def describe_truncation(self) -> str:
        """Say what the data lacks when it ends here (for :class:`TruncatedDataError`)."""
        end = self.position + len(self._tail)
        if end == 0:
            return "gzip data is empty: no member"
        return (
            f"gzip data ends at byte {end} inside the member starting at byte "
            f"{self._member_start} (deflate data or the CRC32/ISIZE trailer is missing)"
        )

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        """Feed ``data``; return up to ``max_length`` decompressed bytes (all if negative)."""
        chunk = self._tail + data if self._tail else data
        self._tail = b""
        out = bytearray()
        while chunk or self._more_output:
            room = max_length - len(out)
            if max_length >= 0 and room == 0:
                self._tail = chunk
                break
            if self._member_fed == 0 and self._members_done and chunk:
                self._check_member_start(chunk)
            try:
                produced = self._member.decompress(chunk, room if max_length >= 0 else 0)
            except zlib.error as exc:
                where = f"in the gzip member starting at byte {self._member_start}"
                if "incorrect data check" in str(exc) or "incorrect length check" in str(exc):
                    raise ChecksumMismatchError(f"{exc} {where}") from exc
                raise CorruptDataError(f"{exc} {where}") from exc
            out += produced
            rest = self._member.unused_data if self._member.eof else self._member.unconsumed_tail
            self._member_fed += len(chunk) - len(rest)
            chunk = rest
            self._more_output = max_length >= 0 and len(produced) == room and not chunk
            if self._member.eof:
                self._member_start += self._member_fed
                self._member_fed = 0
                self._members_done += 1
                self._more_output = False
                self._member = zlib.decompressobj(_GZIP_WBITS)
        return bytes(out)

    def _check_member_start(self, chunk: bytes) -> None:
        if not chunk.startswith(_GZIP_MAGIC[: len(chunk)]):
            raise CorruptDataError(
                f"data after the gzip member ending at byte {self._member_start} "
                "is not another gzip member"
            )


class _GzipStreamCompressor:
    """Incremental gzip compression of one member (``zlib.compressobj`` with the wrapper)."""

    def __init__(self, level: int) -> None:
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)

    def compress(self, data: bytes) -> bytes:
        """Compress a chunk; returns the compressed bytes ready (maybe none)."""
        return self._deflate.compress(data)

    def flush(self) -> bytes:
        """End the member (final deflate block, CRC32, ISIZE)."""
        return self._deflate.flush(zlib.Z_FINISH)


class GzipCodec:
    """gzip members at ``level`` 1..9 (``gzip -1`` .. ``gzip -9``); MTIME 0, OS 3 (Unix)."""

    def __init__(self, level: int = 6) -> None:
        if isinstance(level, bool) or not isinstance(level, int):
            raise TypeError(f"level must be an int, not {type(level).__name__}")
        if not GZIP_MIN_LEVEL <= level <= GZIP_MAX_LEVEL:
            raise ValueError(
                f"level={level} is not a gzip level: use {GZIP_MIN_LEVEL}..{GZIP_MAX_LEVEL}"
            )
        self._level = level

    @property
    def name(self) -> str:
        """``"gzip"``."""
        return "gzip"

    @property
    def level(self) -> int:
        """The compression level."""
        return self._level

    def __repr__(self) -> str:
        return f"GzipCodec(level={self._level})"

    def compress(self, data: bytes) -> bytes:
        """One gzip member."""
        return zlib.compress(data, self._level, wbits=_GZIP_WBITS)

    def decompress(self, data: bytes) -> bytes:
        """All members in ``data``; raises CorruptDataError or TruncatedDataError."""
        decompressor = GzipStreamDecompressor()
        out = decompressor.decompress(data)
        if not decompressor.eof:
            raise TruncatedDataError(decompressor.describe_truncation())
        return out

    def compressor(self) -> _GzipStreamCompressor:
        """A new incremental compressor writing one member."""
        return _GzipStreamCompressor(self._level)

    def decompressor(self) -> GzipStreamDecompressor:
        """A new incremental, output-bounded decompressor."""
        return GzipStreamDecompressor()
