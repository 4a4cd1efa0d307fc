"""The zstd codec (RFC 8878), with a frame walker that bounds decompression memory.

Compression is python-zstandard's, with the content checksum always written
(RFC 8878 section 3.1.1, ``Content_Checksum_Flag``) so that a damaged frame is
detected. Decompression walks the frame structure itself (section 3.1.1:
frame header, block headers, checksum; section 3.1.2: skippable frames) and
hands libzstd one block at a time. A block never regenerates more than
``Block_Maximum_Size`` (128 KiB, section 3.1.1.2.3), so a caller asking for at
most ``max_length`` bytes gets them while at most one block's output waits,
even for a "zip bomb" of run-length blocks; and the walker knows the byte
offset of every frame and block, so errors say where the data went wrong.
Concatenated frames decode one after another and skippable frames (such as a
seekable archive's seek table) are skipped, as the ``zstd`` tool does.
"""

from __future__ import annotations

import threading

import zstandard

from blobcodec.errors import ChecksumMismatchError, CorruptDataError, TruncatedDataError

__all__ = ["ZSTD_MAX_LEVEL", "ZSTD_MIN_LEVEL", "ZstdCodec", "ZstdStreamDecompressor"]

ZSTD_MAX_LEVEL = 22
"""The strongest level (``zstd --ultra -22``)."""
ZSTD_MIN_LEVEL = -131072
"""The fastest negative level, libzstd's ``ZSTD_minCLevel()`` (``-(1 << 17)``)."""

_FRAME_MAGIC = 0xFD2FB528  # RFC 8878 section 3.1.1
_SKIPPABLE_MAGIC_MIN = 0x184D2A50  # section 3.1.2: 0x184D2A50 .. 0x184D2A5F
_SKIPPABLE_MAGIC_MAX = 0x184D2A5F
_BLOCK_HEADER_SIZE = 3
_CHECKSUM_SIZE = 4
_BLOCK_RAW, _BLOCK_RLE, _BLOCK_COMPRESSED = 0, 1, 2

# What the walker expects next.
_MAGIC = "frame magic number"
_SKIPPABLE_SIZE = "skippable frame size"
_SKIPPABLE_DATA = "skippable frame data"
_FRAME_HEADER = "frame header"
_BLOCK_HEADER = "block header"
_BLOCK_BODY = "block"
_CHECKSUM = "content checksum"


def _frame_header_size(descriptor: int) -> int:
    """Bytes in a frame header from its ``Frame_Header_Descriptor`` (section 3.1.1.1.1)."""
    fcs_flag = descriptor >> 6
    single_segment = bool(descriptor & 0x20)
    window_descriptor_size = 0 if single_segment else 1
    dictionary_id_size = (0, 1, 2, 4)[descriptor & 0x03]
    content_size_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    return 4 + 1 + window_descriptor_size + dictionary_id_size + content_size_size


def check_level(level: int) -> None:
    """Raise TypeError or ValueError unless ``level`` is a zstd level (1..22, or negative).

    Shared by :class:`ZstdCodec` and :class:`blobcodec.seekable.SeekableWriter`, so both
    accept the same levels and reject the others with the same message. 0 is rejected:
    libzstd reads it as "the default level", which would hide a caller's mistake.
    """
    if isinstance(level, bool) or not isinstance(level, int):
        raise TypeError(f"level must be an int, not {type(level).__name__}")
    if level == 0 or not ZSTD_MIN_LEVEL <= level <= ZSTD_MAX_LEVEL:
        raise ValueError(
            f"level={level} is not a zstd level: use 1..{ZSTD_MAX_LEVEL} "
            f"or a negative fast level down to {ZSTD_MIN_LEVEL}"
        )


def zstd_error(error: zstandard.ZstdError, where: str) -> CorruptDataError:
    """The error to raise for libzstd's ``error`` while decoding the frame data ``where``.

    A failed content checksum (RFC 8878 section 3.1.1, ``Content_Checksum``) is a
    :class:`ChecksumMismatchError`; anything else is a :class:`CorruptDataError`. Shared by
    the zstd decompressor and the seekable reader, so the same damage gets the same type.
    """
    if "checksum" in str(error):  # libzstd's ZSTD_error_checksum_wrong
        return ChecksumMismatchError(f"{where}: content checksum mismatch ({error})")
    return CorruptDataError(f"{where} does not decode: {error}")


class ZstdStreamDecompressor:
    """Incremental zstd decompression of one or more concatenated frames.

    ``decompress(data, max_length)`` follows the standard library's bz2/lzma
    decompressors: it returns at most ``max_length`` bytes (all that is ready
    when negative) and keeps the rest; :attr:`needs_input` says whether more
    compressed data is needed before the next call can return anything.
    :attr:`eof` is true at a frame boundary after at least one frame.
    """

    def __init__(self) -> None:
        self._decompressor = zstandard.ZstdDecompressor()
        self._frame: zstandard.ZstdDecompressionObj | None = None
        self._input = bytearray()
        self._input_offset = 0  # absolute offset of self._input[0]
        self._pending = b""  # output beyond the caller's max_length (at most one block)
        self._expect = _MAGIC
        self._need = 4
        self._frame_start = 0
        self._unit_start = 0
        self._has_checksum = False
        self._last_block = False
        self._skip_left = 0
        self._frames_done = 0

    @property
    def eof(self) -> bool:
        """Whether the data so far ends exactly at the end of a frame."""
        return self._frames_done > 0 and self._expect == _MAGIC and not self._input

    @property
    def needs_input(self) -> bool:
        """Whether the next :meth:`decompress` call needs more compressed data."""
        if self._pending:
            return False
        if self._expect == _SKIPPABLE_DATA:
            return not self._input
        return len(self._input) < self._need

    @property
    def position(self) -> int:
        """How many compressed bytes have been consumed."""
        return self._input_offset

    def describe_truncation(self) -> str:
        """Say what the data lacks when it ends here (for :class:`TruncatedDataError`)."""
        end = self._input_offset + len(self._input)
        if self._frames_done == 0 and self._expect == _MAGIC and end == 0:
            return "zstd data is empty: no frame"
        missing = self._need - len(self._input)
        if self._expect == _SKIPPABLE_DATA:
            missing = self._skip_left
        return (
            f"zstd data ends at byte {end} inside the frame starting at byte "
            f"{self._frame_start}: {missing} more bytes needed for the {self._expect} "
            f"at byte {self._unit_start}"
        )

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        """Feed ``data``; return up to ``max_length`` decompressed bytes (all if negative)."""
        if data:
            self._input += data
        pieces = [self._pending] if self._pending else []
        size = len(self._pending)
        self._pending = b""
        try:
            while max_length < 0 or size < max_length:
                piece = self._step()
                if piece is None:
                    break
                if piece:
                    pieces.append(piece)
                    size += len(piece)
        finally:
            self._compact()
        if 0 <= max_length < size:  # only the last piece can overflow: split it
            last = pieces.pop()
            keep = len(last) - (size - max_length)
            pieces.append(last[:keep])
            self._pending = last[keep:]
        return b"".join(pieces)

    def _compact(self) -> None:
        consumed = self._unit_start - self._input_offset
        if consumed:
            del self._input[:consumed]
            self._input_offset = self._unit_start

    def _take(self, size: int) -> bytes:
        """Remove ``size`` bytes of the current unit from the input buffer."""
        start = self._unit_start - self._input_offset
        unit = bytes(self._input[start : start + size])
        self._unit_start += size
        return unit

    def _available(self) -> int:
        return len(self._input) - (self._unit_start - self._input_offset)

    def _step(self) -> bytes | None:
        """Consume one structural unit; return its output, or None when input is short."""
        if self._expect == _SKIPPABLE_DATA:
            skipped = min(self._skip_left, self._available())
            if self._skip_left and not skipped:
                return None
            self._take(skipped)
            self._skip_left -= skipped
            if not self._skip_left:
                self._end_frame()
            return b""
        if self._available() < self._need:
            return None
        unit_start = self._unit_start
        unit = self._take(self._need)
        if self._expect == _MAGIC:
            self._start_frame(unit, unit_start)
            return b""
        if self._expect == _SKIPPABLE_SIZE:
            self._skip_left = int.from_bytes(unit, "little")
            self._expect, self._need = _SKIPPABLE_DATA, 0
            return b""
        if self._expect == _FRAME_HEADER:
            descriptor = unit[4]
            header_size = _frame_header_size(descriptor)
            if len(unit) < header_size:  # first pass read magic + descriptor only
                self._unit_start = unit_start
                self._need = header_size
                return b""
            self._has_checksum = bool(descriptor & 0x04)
            self._frame = self._decompressor.decompressobj()
            self._expect, self._need = _BLOCK_HEADER, _BLOCK_HEADER_SIZE
            return self._feed(unit, unit_start)
        if self._expect == _BLOCK_HEADER:
            header = int.from_bytes(unit, "little")
            self._last_block = bool(header & 1)
            block_type = (header >> 1) & 0x03
            block_size = header >> 3
            if block_type == 3:
                raise CorruptDataError(
                    f"zstd block header at byte {unit_start} has the reserved block type 3"
                )
            self._expect = _BLOCK_BODY
            self._need = 1 if block_type == _BLOCK_RLE else block_size
            out = self._feed(unit, unit_start)
            if self._need == 0:  # an empty raw or compressed block
                self._after_block()
            return out
        if self._expect == _BLOCK_BODY:
            out = self._feed(unit, unit_start)
            self._after_block()
            return out
        # _CHECKSUM
        out = self._feed(unit, unit_start)
        self._end_zstd_frame(unit_start)
        return out

    def _start_frame(self, magic_bytes: bytes, offset: int) -> None:
        magic = int.from_bytes(magic_bytes, "little")
        self._frame_start = offset
        if magic == _FRAME_MAGIC:
            # Re-read the magic with the descriptor byte, then the full header.
            self._unit_start = offset
            self._expect, self._need = _FRAME_HEADER, 5
        elif _SKIPPABLE_MAGIC_MIN <= magic <= _SKIPPABLE_MAGIC_MAX:
            self._expect, self._need = _SKIPPABLE_SIZE, 4
        else:
            raise CorruptDataError(
                f"not a zstd frame at byte {offset}: magic number 0x{magic:08x} "
                f"(expected 0x{_FRAME_MAGIC:08x} or a skippable frame)"
            )

    def _after_block(self) -> None:
        if not self._last_block:
            self._expect, self._need = _BLOCK_HEADER, _BLOCK_HEADER_SIZE
        elif self._has_checksum:
            self._expect, self._need = _CHECKSUM, _CHECKSUM_SIZE
        else:
            self._end_zstd_frame(self._unit_start)

    def _end_zstd_frame(self, offset: int) -> None:
        assert self._frame is not None
        if not self._frame.eof:
            raise CorruptDataError(
                f"zstd frame starting at byte {self._frame_start} did not end at byte {offset}"
            )
        self._frame = None
        self._end_frame()

    def _end_frame(self) -> None:
        self._frames_done += 1
        self._expect, self._need = _MAGIC, 4

    def _feed(self, unit: bytes, offset: int) -> bytes:
        assert self._frame is not None
        try:
            return self._frame.decompress(unit)
        except zstandard.ZstdError as exc:
            where = (
                f"zstd frame starting at byte {self._frame_start} ({self._expect} at byte {offset})"
            )
            raise zstd_error(exc, where) from exc


class ZstdCodec:
    """zstd at ``level`` (1..22, or negative for the fast levels), content checksum on.

    ``threads`` is python-zstandard's: 0 compresses on the calling thread, N
    uses N worker threads, -1 one per CPU. Output is one standard frame either
    way; decompression is single-threaded (as in libzstd).
    """

    def __init__(self, level: int = 3, *, threads: int = 0) -> None:
        check_level(level)
        if isinstance(threads, bool) or not isinstance(threads, int):
            raise TypeError(f"threads must be an int, not {type(threads).__name__}")
        if threads < -1:
            raise ValueError(f"threads={threads}: use 0 (single-threaded), -1 (all CPUs) or N > 0")
        self._level = level
        self._threads = threads
        self._local = threading.local()  # ZstdCompressor objects are not thread-safe

    @property
    def name(self) -> str:
        """``"zstd"``."""
        return "zstd"

    @property
    def level(self) -> int:
        """The compression level."""
        return self._level

    @property
    def threads(self) -> int:
        """Worker threads for compression (0: none, -1: one per CPU)."""
        return self._threads

    def __repr__(self) -> str:
        return f"ZstdCodec(level={self._level}, threads={self._threads})"

    def _new_compressor(self) -> zstandard.ZstdCompressor:
        return zstandard.ZstdCompressor(
            level=self._level, threads=self._threads, write_checksum=True
        )

    def compress(self, data: bytes) -> bytes:
        """One zstd frame with the content size and checksum in it."""
        compressor: zstandard.ZstdCompressor | None = getattr(self._local, "compressor", None)
        if compressor is None:
            compressor = self._local.compressor = self._new_compressor()
        return compressor.compress(data)

    def decompress(self, data: bytes) -> bytes:
        """All frames in ``data``; raises CorruptDataError or TruncatedDataError."""
        decompressor = ZstdStreamDecompressor()
        out = decompressor.decompress(data)
        if not decompressor.eof:
            raise TruncatedDataError(decompressor.describe_truncation())
        return out

    def compressor(self) -> zstandard.ZstdCompressionObj:
        """A new incremental compressor writing one frame (content size not recorded)."""
        return self._new_compressor().compressobj()

    def decompressor(self) -> ZstdStreamDecompressor:
        """A new incremental, output-bounded decompressor."""
        return ZstdStreamDecompressor()
