"""The seek table of the zstd seekable format: its entries, footer and byte layout.

Follows "Zstandard Seekable Format" 0.1.0 (facebook/zstd,
contrib/seekable_format/zstd_seekable_compression_format.md). All fields are
little-endian ("Overall conventions"). The table is one skippable frame at the
end of the file ("Seek Table Format")::

    Skippable_Magic_Number  4 bytes  0x184D2A5E
    Frame_Size              4 bytes  size of what follows
    Seek_Table_Entries      8 or 12 bytes each, Number_Of_Frames of them:
        Compressed_Size     4 bytes
        Decompressed_Size   4 bytes
        [Checksum]          4 bytes  low 32 bits of XXH64 of the frame's data
    Seek_Table_Footer       9 bytes:
        Number_Of_Frames       4 bytes
        Seek_Table_Descriptor  1 byte   bit 7 Checksum_Flag, bits 6-2 reserved (0)
        Seekable_Magic_Number  4 bytes  0x8F92EAB1, the file's last bytes

This module is pure (no I/O): readers fetch bytes and hand them in here.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import xxhash

from blobcodec.errors import SeekTableError

__all__ = [
    "FOOTER_SIZE",
    "Frame",
    "SeekTable",
    "frame_checksum",
    "parse_footer",
    "table_frame_size",
]

SKIPPABLE_MAGIC = 0x184D2A5E  # "Skippable_Magic_Number"
SEEKABLE_MAGIC = 0x8F92EAB1  # "Seekable_Magic_Number"
FOOTER_SIZE = 9  # "Seek_Table_Footer"
_SKIPPABLE_HEADER_SIZE = 8  # Skippable_Magic_Number + Frame_Size
_CHECKSUM_FLAG = 0x80  # "Seek_Table_Descriptor" bit 7
_RESERVED_BITS = 0x7C  # bits 6-2: "a compliant decoder should ensure they are set to 0"
_U32_MAX = 0xFFFFFFFF

_FOOTER = struct.Struct("<IBI")
_HEADER = struct.Struct("<II")
_ENTRY = struct.Struct("<II")
_ENTRY_WITH_CHECKSUM = struct.Struct("<III")


def frame_checksum(data: bytes | bytearray | memoryview) -> int:
    """The entry ``Checksum``: the least significant 32 bits of XXH64 (seed 0) of ``data``."""
    return xxhash.xxh64_intdigest(data) & _U32_MAX


def table_frame_size(frame_count: int, checksums: bool) -> int:
    """Bytes the seek table frame takes, skippable header and footer included."""
    entry = _ENTRY_WITH_CHECKSUM.size if checksums else _ENTRY.size
    return _SKIPPABLE_HEADER_SIZE + frame_count * entry + FOOTER_SIZE


def parse_footer(footer: bytes) -> tuple[int, bool]:
    """Decode ``Seek_Table_Footer`` (the last 9 bytes): ``(Number_Of_Frames, Checksum_Flag)``."""
    if len(footer) != FOOTER_SIZE:
        raise SeekTableError(
            f"no seek table: the file is {len(footer)} bytes, shorter than the "
            f"{FOOTER_SIZE}-byte seek table footer"
        )
    frame_count, descriptor, magic = _FOOTER.unpack(footer)
    if magic != SEEKABLE_MAGIC:
        raise SeekTableError(
            f"not a seekable zstd archive: the file ends in 0x{magic:08X}, not the "
            f"Seekable_Magic_Number 0x{SEEKABLE_MAGIC:08X} (a plain zstd stream, such as one "
            "written by the zstd command, has no seek table)"
        )
    if descriptor & _RESERVED_BITS:
        raise SeekTableError(
            f"seek table descriptor 0x{descriptor:02X} has reserved bits 6-2 set "
            "(a newer, incompatible version of the seekable format?)"
        )
    return frame_count, bool(descriptor & _CHECKSUM_FLAG)


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a seekable archive, placed in both the compressed and the uncompressed data."""

    index: int
    compressed_offset: int
    compressed_size: int
    decompressed_offset: int
    decompressed_size: int
    checksum: int | None
    """Low 32 bits of XXH64 of the frame's data, or None when the table carries no checksums."""

    @property
    def compressed_end(self) -> int:
        """Offset just past the frame in the compressed file."""
        return self.compressed_offset + self.compressed_size

    @property
    def decompressed_end(self) -> int:
        """Offset just past the frame's data in the uncompressed stream."""
        return self.decompressed_offset + self.decompressed_size


class SeekTable:
    """The frames of a seekable archive, in order, and whether their entries carry checksums."""

    __slots__ = ("_data_frames", "_data_starts", "checksums", "frames")

    def __init__(self, frames: Sequence[Frame], *, checksums: bool) -> None:
        self.frames: tuple[Frame, ...] = tuple(frames)
        self.checksums = checksums
        # Frames with data; skippable or empty ones ("Decompressed_Size ... 0") never need reading.
        self._data_frames = [f for f in self.frames if f.decompressed_size]
        self._data_starts = [f.decompressed_offset for f in self._data_frames]

    @classmethod
    def from_sizes(
        cls, entries: Sequence[tuple[int, int, int | None]], *, checksums: bool
    ) -> SeekTable:
        """Place frames given ``(compressed_size, decompressed_size, checksum)`` in order."""
        frames = []
        compressed = decompressed = 0
        for index, (csize, dsize, checksum) in enumerate(entries):
            frames.append(Frame(index, compressed, csize, decompressed, dsize, checksum))
            compressed += csize
            decompressed += dsize
        return cls(frames, checksums=checksums)

    @property
    def compressed_size(self) -> int:
        """Bytes of frames before the seek table (its offset in the file)."""
        return self.frames[-1].compressed_end if self.frames else 0

    @property
    def decompressed_size(self) -> int:
        """Bytes of the uncompressed stream."""
        return self.frames[-1].decompressed_end if self.frames else 0

    @property
    def encoded_size(self) -> int:
        """Bytes of the encoded seek table frame."""
        return table_frame_size(len(self.frames), self.checksums)

    def covering(self, offset: int, size: int) -> list[Frame]:
        """The frames holding uncompressed bytes ``[offset, offset + size)``, in order."""
        if size <= 0:
            return []
        first = bisect.bisect_right(self._data_starts, offset) - 1
        last = bisect.bisect_left(self._data_starts, offset + size) - 1
        return self._data_frames[max(first, 0) : last + 1]

    def encode(self) -> bytes:
        """The seek table as a skippable frame ("Seek Table Format"), ready to append."""
        out = bytearray(_HEADER.pack(SKIPPABLE_MAGIC, self.encoded_size - _SKIPPABLE_HEADER_SIZE))
        for frame in self.frames:
            if self.checksums:
                if frame.checksum is None:
                    raise ValueError(f"frame {frame.index} has no checksum")
                out += _ENTRY_WITH_CHECKSUM.pack(
                    frame.compressed_size, frame.decompressed_size, frame.checksum
                )
            else:
                out += _ENTRY.pack(frame.compressed_size, frame.decompressed_size)
        descriptor = _CHECKSUM_FLAG if self.checksums else 0
        out += _FOOTER.pack(len(self.frames), descriptor, SEEKABLE_MAGIC)
        return bytes(out)

    @classmethod
    def decode(cls, table: bytes, *, file_size: int | None) -> SeekTable:
        """Parse a whole seek table frame (the file's last ``table_frame_size`` bytes).

        With ``file_size`` known, the frames' compressed sizes plus the table
        must add up to it exactly; anything else is a damaged table.
        """
        frame_count, checksums = parse_footer(table[-FOOTER_SIZE:])
        expected = table_frame_size(frame_count, checksums)
        if len(table) != expected:
            raise SeekTableError(
                f"seek table of {frame_count} frames needs {expected} bytes, got {len(table)}"
                + ("" if file_size is None else f" (the file is {file_size} bytes)")
            )
        magic, frame_size = _HEADER.unpack_from(table)
        if magic != SKIPPABLE_MAGIC:
            raise SeekTableError(
                f"seek table frame starts with 0x{magic:08X}, not the "
                f"Skippable_Magic_Number 0x{SKIPPABLE_MAGIC:08X}"
            )
        if frame_size != expected - _SKIPPABLE_HEADER_SIZE:
            raise SeekTableError(
                f"seek table Frame_Size is {frame_size}, but {frame_count} entries "
                f"and the footer take {expected - _SKIPPABLE_HEADER_SIZE} bytes"
            )
        entry = _ENTRY_WITH_CHECKSUM if checksums else _ENTRY
        entries: list[tuple[int, int, int | None]] = []
        for position in range(_SKIPPABLE_HEADER_SIZE, expected - FOOTER_SIZE, entry.size):
            fields = entry.unpack_from(table, position)
            entries.append((fields[0], fields[1], fields[2] if checksums else None))
        result = cls.from_sizes(entries, checksums=checksums)
        if file_size is not None and result.compressed_size + expected != file_size:
            raise SeekTableError(
                f"seek table frames' compressed sizes add up to {result.compressed_size} "
                f"bytes, but the table starts at byte {file_size - expected} of a "
                f"{file_size}-byte file"
            )
        return result
