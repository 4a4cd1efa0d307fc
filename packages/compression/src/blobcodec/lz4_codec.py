"""The lz4 codec: the LZ4 frame format, content checksum on.

Writes the frame format of the LZ4 project's ``lz4_Frame_format.md`` (magic
0x184D2204, header, blocks, EndMark, Content Checksum), which the ``lz4``
command-line tool reads, never the headerless block format. Concatenated
frames decode one after another and skippable frames (magic 0x184D2A5?) are
skipped, as ``lz4 -d`` does. Levels follow the command-line tool: 1 and 2 are
the fast compressor, 3..12 the high-compression one (LZ4HC).
"""

from __future__ import annotations

from typing import Protocol, cast

import lz4.frame  # type: ignore[import-untyped]

from blobcodec.errors import ChecksumMismatchError, CorruptDataError, TruncatedDataError

__all__ = [
    "LZ4_MAX_LEVEL",
    "LZ4_MIN_LEVEL",
    "Lz4Codec",
    "Lz4StreamCompressor",
    "Lz4StreamDecompressor",
]

LZ4_MIN_LEVEL = 1
LZ4_MAX_LEVEL = 12
"""``lz4 -12``, LZ4HC's strongest level (``LZ4HC_CLEVEL_MAX``)."""


class _FrameDecompressor(Protocol):
    """The part of ``lz4.frame.LZ4FrameDecompressor`` used here (lz4 ships no types)."""

    eof: bool
    needs_input: bool
    unused_data: bytes | None

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...
    def reset(self) -> None: ...


class _FrameCompressor(Protocol):
    """The part of ``lz4.frame.LZ4FrameCompressor`` used here."""

    def begin(self) -> bytes: ...
    def compress(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class Lz4StreamCompressor:
    """Incremental lz4 compression of one frame; the header comes with the first output."""

    def __init__(self, level: int) -> None:
        self._frame = cast(
            "_FrameCompressor",
            lz4.frame.LZ4FrameCompressor(compression_level=level, content_checksum=True),
        )
        self._header: bytes | None = self._frame.begin()

    def _take_header(self) -> bytes:
        header, self._header = self._header or b"", None
        return header

    def compress(self, data: bytes) -> bytes:
        """Compress a chunk; returns the compressed bytes ready (maybe none)."""
        if not data:
            return b""
        return self._take_header() + self._frame.compress(data)

    def flush(self) -> bytes:
        """End the frame (EndMark and content checksum) and return the remaining bytes."""
        return self._take_header() + self._frame.flush()


class Lz4StreamDecompressor:
    """Incremental lz4 decompression of one or more concatenated frames.

    ``decompress(data, max_length)`` follows the standard library's bz2/lzma
    decompressors: at most ``max_length`` bytes are returned (all when
    negative) and the rest kept; :attr:`needs_input` says whether more
    compressed data is needed. :attr:`eof` is true at a frame boundary.
    """

    def __init__(self) -> None:
        self._frame = cast("_FrameDecompressor", lz4.frame.LZ4FrameDecompressor())
        self._backlog = b""  # bytes after a finished frame, not yet fed
        self._frame_start = 0
        self._frame_fed = 0  # bytes fed to the current frame
        self._frames_done = 0
        # The frame may hold input or decoded output back when max_length stopped it.
        self._more_output = False

    @property
    def eof(self) -> bool:
        """Whether the data so far ends exactly at the end of a frame."""
        return self._frames_done > 0 and self._frame_fed == 0 and self.needs_input

    @property
    def needs_input(self) -> bool:
        """Whether the next :meth:`decompress` call needs more compressed data."""
        return not self._backlog and not self._more_output

    @property
    def position(self) -> int:
        """How many compressed bytes have been fed, up to the end of the current frame."""
        return self._frame_start + self._frame_fed

    def describe_truncation(self) -> str:
        """Say what the data lacks when it ends here (for :class:`TruncatedDataError`)."""
        end = self.position
        if end == 0:
            return "lz4 data is empty: no frame"
        return f"lz4 data ends at byte {end} inside the frame starting at byte {self._frame_start}"

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        """Feed ``data``; return up to ``max_length`` decompressed bytes (all if negative)."""
        chunk = self._backlog + data if self._backlog else data
        self._backlog = b""
        out = bytearray()
        while True:
            room = -1 if max_length < 0 else max_length - len(out)
            if room == 0:
                self._backlog = chunk
                break
            try:
                produced = self._frame.decompress(chunk, room)
            except RuntimeError as exc:
                where = f"in the lz4 frame starting at byte {self._frame_start}"
                if "contentChecksum" in str(exc):
                    raise ChecksumMismatchError(f"content checksum mismatch {where}") from exc
                raise CorruptDataError(f"{exc} {where}") from exc
            out += produced
            self._frame_fed += len(chunk)
            chunk = b""
            # A full output buffer may leave decoded bytes inside the frame decompressor.
            self._more_output = not self._frame.needs_input or len(produced) == room
            if self._frame.eof:
                unused = self._frame.unused_data or b""
                # lz4 4.x keeps input held back by max_length after a frame ends; drop it
                # (it is in unused_data) or the next frame would see it twice.
                self._frame.reset()
                self._frame_start += self._frame_fed - len(unused)
                self._frame_fed = 0
                self._frames_done += 1
                self._more_output = False
                chunk = unused
                if not chunk:
                    break
            elif not self._more_output:
                break
        return bytes(out)


class Lz4Codec:
    """lz4 frames at ``level`` 1..12 (1-2 fast, 3..12 LZ4HC), content checksum on."""

    def __init__(self, level: int = 1) -> None:
        if isinstance(level, bool) or not isinstance(level, int):
            raise TypeError(f"level must be an int, not {type(level).__name__}")
        if not LZ4_MIN_LEVEL <= level <= LZ4_MAX_LEVEL:
            raise ValueError(
                f"level={level} is not an lz4 level: use {LZ4_MIN_LEVEL}..{LZ4_MAX_LEVEL}"
            )
        self._level = level

    @property
    def name(self) -> str:
        """``"lz4"``."""
        return "lz4"

    @property
    def level(self) -> int:
        """The compression level."""
        return self._level

    def __repr__(self) -> str:
        return f"Lz4Codec(level={self._level})"

    def compress(self, data: bytes) -> bytes:
        """One lz4 frame with the content size and content checksum in it."""
        return cast(
            bytes,
            lz4.frame.compress(
                data, compression_level=self._level, content_checksum=True, store_size=True
            ),
        )

    def decompress(self, data: bytes) -> bytes:
        """All frames in ``data``; raises CorruptDataError or TruncatedDataError."""
        decompressor = Lz4StreamDecompressor()
        out = decompressor.decompress(data)
        if not decompressor.eof:
            raise TruncatedDataError(decompressor.describe_truncation())
        return out

    def compressor(self) -> Lz4StreamCompressor:
        """A new incremental compressor writing one frame."""
        return Lz4StreamCompressor(self._level)

    def decompressor(self) -> Lz4StreamDecompressor:
        """A new incremental, output-bounded decompressor."""
        return Lz4StreamDecompressor()
