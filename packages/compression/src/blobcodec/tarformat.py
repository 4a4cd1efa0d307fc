"""Tar header fields as bytes: the pieces every tar reader and writer of the platform shares.

Follows POSIX.1-2017, pax, "ustar Interchange Format" (the 512-byte header
block: NUL-terminated name fields, zero-filled octal number fields, the magic
``ustar\\0`` and version ``00``, the typeflag values of ``<tar.h>``, the header
checksum) and "pax Interchange Format", "pax Extended Header" (records
``"<length> <keyword>=<value>\\n"``, times as decimal seconds). GNU tar's
extensions a reader meets are named too: typeflags ``L``, ``K`` and ``S``, and
base-256 numbers (GNU tar manual, "Basic Tar Format").

These are primitives, not a reader: the blobcodec member index's stream
parser, cargoship's pax member reader and cargoship's header writer each keep
their own control flow (and their caches) and share this field knowledge.
Decoders raise :class:`ValueError` for bytes that are not what the field holds;
a caller turns that into its own error, naming where the header lies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from blobcodec.index import MemberType

__all__ = [
    "AREGTYPE",
    "BLKTYPE",
    "BLOCK_SIZE",
    "CHRTYPE",
    "CONTTYPE",
    "DIRTYPE",
    "FIFOTYPE",
    "GNUTYPE_LONGLINK",
    "GNUTYPE_LONGNAME",
    "GNUTYPE_SPARSE",
    "LNKTYPE",
    "MEMBER_TYPES",
    "REGTYPE",
    "SYMTYPE",
    "USTAR_MAGIC",
    "XGLTYPE",
    "XHDTYPE",
    "checksum",
    "checksum_matches",
    "format_pax_record",
    "format_pax_time",
    "nul_terminated",
    "parse_number",
    "parse_octal",
    "parse_pax_records",
    "parse_pax_time",
]

BLOCK_SIZE: Final = 512
"""A tar archive is a sequence of 512-byte blocks; each header is one block."""
USTAR_MAGIC: Final = b"ustar\x0000"
"""The ``magic`` field (``ustar`` and a NUL) and the ``version`` field (``00``): bytes 257-264."""

# Typeflag values: POSIX <tar.h> names, pax's "x" and "g", and GNU tar's names for its own.
REGTYPE: Final = b"0"
AREGTYPE: Final = b"\x00"
"""A regular file, as written by tars older than POSIX."""
LNKTYPE: Final = b"1"
SYMTYPE: Final = b"2"
CHRTYPE: Final = b"3"
BLKTYPE: Final = b"4"
DIRTYPE: Final = b"5"
FIFOTYPE: Final = b"6"
CONTTYPE: Final = b"7"
"""A contiguous file: POSIX lets a reader take it as a regular file."""
XHDTYPE: Final = b"x"
"""A pax extended header for the next member."""
XGLTYPE: Final = b"g"
"""A pax global extended header, for every member after it."""
GNUTYPE_LONGNAME: Final = b"L"
GNUTYPE_LONGLINK: Final = b"K"
GNUTYPE_SPARSE: Final = b"S"

MEMBER_TYPES: Final[Mapping[bytes, MemberType]] = {
    REGTYPE: "file",
    AREGTYPE: "file",
    CONTTYPE: "file",
    GNUTYPE_SPARSE: "file",  # a regular file whose data is stored sparse
    LNKTYPE: "hardlink",
    SYMTYPE: "symlink",
    CHRTYPE: "chardev",
    BLKTYPE: "blockdev",
    DIRTYPE: "directory",
    FIFOTYPE: "fifo",
}
"""The kind of member (:data:`blobcodec.index.MemberType`) each known typeflag stands for.
POSIX says a reader takes an unknown typeflag as a regular file; whether to is the caller's
choice (``MEMBER_TYPES.get(flag, "file")``)."""

_BLANK_CHECKSUM_SUM: Final = 8 * ord(" ")
_ASCII: Final = bytes(range(128))
_DECIMAL_TIME: Final = re.compile(rb"(-?)([0-9]+)(?:\.([0-9]+))?")
_NS_PER_SECOND: Final = 1_000_000_000
_MAX_LENGTH_DIGITS: Final = 20  # as Python's tarfile reads record lengths


def nul_terminated(field: bytes) -> bytes:
    """A name or text field's value: its bytes up to the first NUL (all of them when the value
    fills the field)."""
    return field.partition(b"\x00")[0]


def parse_octal(field: bytes) -> int:
    """A numeric field: octal digits up to the first NUL, spaces around them ignored, empty
    meaning 0. ValueError for anything else, GNU base-256 numbers included (their first
    byte, 0x80 or 0xff, is no octal digit): see :func:`parse_number`."""
    return int(field.partition(b"\x00")[0].strip(b" ") or b"0", 8)


def parse_number(field: bytes) -> int:
    """A numeric field as :func:`parse_octal` reads it, or in GNU tar's base-256 (the first
    byte 0x80 for a positive number, 0xff for a negative one in two's complement, the rest
    big-endian): how GNU tar stores a size, id or time too large for the octal digits."""
    if field and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * len(field) - 8)) if field[0] == 0xFF else value
    # parse_octal written out: the member index parser reads five numbers per member.
    return int(field.partition(b"\x00")[0].strip(b" ") or b"0", 8)


def checksum(block: bytes) -> int:
    """The header checksum of the 512-byte ``block`` as POSIX defines it: the unsigned sum of
    its bytes with the ``chksum`` field (bytes 148-155) taken as eight spaces.

    The sum adds byte by byte, so a reader or writer that meets the same 356 bytes after the
    field again and again (no link name, fixed fields) may keep ``checksum(bytes(156) + tail)``
    and add ``sum(block[:148])`` to it: cargoship's header writer and reader do.
    """
    return sum(block[:148]) + _BLANK_CHECKSUM_SUM + sum(block[156:])


def checksum_matches(block: bytes) -> bool:
    """Whether the ``chksum`` field of ``block`` holds its checksum: the unsigned sum, or the
    sum of the bytes taken as signed that some old tars wrote (Python's tarfile and GNU tar
    accept both)."""
    # Written out rather than through parse_octal and checksum: the member index parser calls
    # this for every member. An empty field is no checksum.
    try:
        stored = int(block[148:156].partition(b"\x00")[0].strip(b" "), 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + _BLANK_CHECKSUM_SUM + sum(block[156:])
    if stored == unsigned:
        return True
    high_bytes = len(block[:148].translate(None, _ASCII)) + len(block[156:].translate(None, _ASCII))
    return stored == unsigned - 256 * high_bytes


def parse_pax_records(data: bytes) -> list[tuple[bytes, bytes]]:
    """The ``(keyword, value)`` records of a pax extended header's data, in order.

    Each record is ``"<length> <keyword>=<value>\\n"``, the decimal length counting the whole
    record. The records end with ``data`` or at a NUL where a record would start (padding).
    ValueError ``"bad record at byte N"`` for a record that breaks that syntax, as GNU tar
    refuses it: a length that is not digits then a space, that reaches past ``data``, that
    does not end at a newline, or no ``=``; and, as Python's tarfile, a length of more than
    20 digits. An empty keyword (GNU tar ignores the record) or a keyword named twice is
    listed as it is: its meaning is the caller's.
    """
    records: list[tuple[bytes, bytes]] = []
    pos, end = 0, len(data)
    while pos < end and data[pos]:
        space = data.find(b" ", pos, pos + _MAX_LENGTH_DIGITS + 1)
        digits = data[pos:space]
        if space < 0 or not digits.isdigit():
            raise ValueError(f"bad record at byte {pos}")
        stop = pos + int(digits)
        if stop > end or stop < space + 3 or data[stop - 1] != 0x0A:
            raise ValueError(f"bad record at byte {pos}")
        keyword, equals, value = data[space + 1 : stop - 1].partition(b"=")
        if not equals:
            raise ValueError(f"bad record at byte {pos}")
        records.append((keyword, value))
        pos = stop
    return records


def format_pax_record(keyword: bytes, value: bytes) -> bytes:
    """``"<length> <keyword>=<value>\\n"``, where the length counts the whole record, its own
    digits included."""
    body = b" " + keyword + b"=" + value + b"\n"
    length = len(body) + len(str(len(body)))
    length = len(body) + len(str(length))  # one more digit at most
    return b"%d" % length + body


def parse_pax_time(value: bytes) -> int:
    """A pax time record's value (``mtime``, ``atime``: decimal seconds, ``-12.5``) as integer
    nanoseconds, digits past the ninth dropped. ValueError for anything else."""
    match = _DECIMAL_TIME.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a pax time")
    sign, seconds, fraction = match.groups()
    ns = int(seconds) * _NS_PER_SECOND + int((fraction or b"")[:9].ljust(9, b"0"))
    return -ns if sign else ns


def format_pax_time(ns: int) -> bytes:
    """Nanoseconds as a pax time value, exact: ``1700000000.123456789``, trailing zeros of the
    fraction dropped, no fraction for whole seconds."""
    sign = b"-" if ns < 0 else b""
    seconds, fraction = divmod(abs(ns), _NS_PER_SECOND)
    text = b"%s%d" % (sign, seconds)
    return text + (b".%09d" % fraction).rstrip(b"0") if fraction else text
