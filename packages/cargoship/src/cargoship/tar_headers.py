"""Tar member headers as bytes: a ustar block, preceded by a pax extended header when needed.

Each member is a ustar header (POSIX.1-2017, pax, "ustar Interchange
Format") preceded, when a field does not fit, by a pax extended header
(typeflag ``x``, "pax Extended Header") with these records:

* ``path`` / ``linkpath``: names longer than the ustar field or not ASCII;
  names that are not valid UTF-8 keep their exact bytes and the header starts
  with ``hdrcharset=BINARY`` ("pax Extended Header Keywords");
* ``mtime``: whenever it has a sub-second part (exact to the nanosecond, as
  decimal text) or does not fit the 11 octal digits (before 1970, after 2242);
* ``size``, ``uid``, ``gid``: when they do not fit their octal fields.

No atime, ctime, user or group names are written, and the ``prefix`` field is
never used, so the same fields always give the same bytes. A header is built
from three pieces rather than filled in field by field: the 148 bytes before
the checksum (name and five numbers, one ``%`` format), the checksum, and the
356 bytes after it, which for a member without a link name depend on the
typeflag alone and are made once (their share of the checksum too). The
field encodings (checksum, pax records and times, magic, typeflags) are
:mod:`blobcodec.tarformat`'s. Which header a scanned entry gets is
:func:`entry_header`'s: the packer writes it, and ``estimate`` lays out the
stream with it (:class:`cargoship.sample.TarLayout`).
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Final

from blobcodec.tarformat import (
    BLOCK_SIZE,
    DIRTYPE,
    LNKTYPE,
    REGTYPE,
    SYMTYPE,
    USTAR_MAGIC,
    XHDTYPE,
    checksum,
    format_pax_record,
    format_pax_time,
)
from cargoship.inventory import EntryType

if TYPE_CHECKING:
    from cargoship.scan import SourceEntry

__all__ = ["BLOCK_SIZE", "NS_PER_SECOND", "entry_header", "member_header"]

NS_PER_SECOND: Final = 1_000_000_000

_PAX_NAME: Final = b"././@PaxHeader".ljust(100, b"\x00")
_NAME_FIELD: Final = 100
_NUMBERS: Final = b"%07o\x00%07o\x00%07o\x00%011o\x00%011o\x00"
"""mode, uid, gid (8 bytes each), size, mtime (12 bytes each): zero-padded octal and a NUL."""
_ID_LIMIT: Final = 8**7
_SIZE_LIMIT: Final = 8**11
# magic "ustar\0" and version "00", empty uname/gname (32 bytes each), devmajor/devminor
# "0000000\0", then the unused prefix (155 bytes) and the block's last 12 bytes.
_AFTER_LINK: Final = USTAR_MAGIC + bytes(64) + b"0000000\x00" * 2 + bytes(167)


def _tail(typeflag: bytes, link: bytes) -> bytes:
    """The 356 bytes after the checksum: typeflag, link name and the fixed fields."""
    return typeflag + link[:_NAME_FIELD].ljust(_NAME_FIELD, b"\x00") + _AFTER_LINK


_FS_ENCODING: Final = sys.getfilesystemencoding()
_FS_ERRORS: Final = sys.getfilesystemencodeerrors()
_NO_HEAD: Final = bytes(156)
_TAILS: Final = {
    flag: (tail, checksum(_NO_HEAD + tail))
    for flag in (REGTYPE, LNKTYPE, SYMTYPE, DIRTYPE, XHDTYPE)
    for tail in [_tail(flag, b"")]
}
"""The tail of a member without a link name, and its share of the checksum, per typeflag."""


def _ustar(
    name: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, typeflag: bytes, link: bytes
) -> bytes:
    """A 512-byte ustar header block; names longer than a field are cut (pax carries them).
    Every number must fit its field."""
    head = name[:_NAME_FIELD].ljust(_NAME_FIELD, b"\x00") + _NUMBERS % (mode, uid, gid, size, mtime)
    if link:
        tail = _tail(typeflag, link)
        tail_checksum = checksum(_NO_HEAD + tail)
    else:
        tail, tail_checksum = _TAILS[typeflag]
    return b"%s%06o\x00 %s" % (head, sum(head) + tail_checksum, tail)


def member_header(
    name: bytes,
    typeflag: bytes,
    mode: int,
    uid: int,
    gid: int,
    mtime_ns: int,
    size: int = 0,
    link: bytes = b"",
) -> bytes:
    """One member's header blocks: the pax extended header when a field needs one (see the
    module docstring), then the ustar block. ``typeflag`` is ``0``, ``1``, ``2`` or ``5``
    (file, hard link, symlink, directory: what cargoship archives)."""
    seconds, fraction = divmod(mtime_ns, NS_PER_SECOND)
    whole = 0 <= seconds < _SIZE_LIMIT
    if (
        len(name) <= _NAME_FIELD
        and name.isascii()
        and len(link) <= _NAME_FIELD
        and link.isascii()
        and 0 <= uid < _ID_LIMIT
        and 0 <= gid < _ID_LIMIT
        and 0 <= size < _SIZE_LIMIT
    ):  # the usual member: a ustar block, with a pax mtime record for sub-second times
        ustar = _ustar(name, mode, uid, gid, size, seconds if whole else 0, typeflag, link)
        if not whole:
            return _with_pax(format_pax_record(b"mtime", format_pax_time(mtime_ns)), ustar)
        if not fraction:
            return ustar
        # format_pax_record(b"mtime", format_pax_time(mtime_ns)) made at once: the text of a
        # time from 1970 to 2242 has 3 to 20 characters, so the record's length (itself
        # counted) is always the two digits of len(text) + 10.
        text = (b"%d.%09d" % (seconds, fraction)).rstrip(b"0")
        return _with_pax(b"%d mtime=%s\n" % (len(text) + 10, text), ustar)
    records: list[bytes] = []
    binary = False
    for keyword, value in ((b"path", name), (b"linkpath", link)):
        if len(value) > _NAME_FIELD or not value.isascii():
            records.append(format_pax_record(keyword, value))
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                binary = True
    numbers = []
    for keyword, number, limit in (
        (b"uid", uid, _ID_LIMIT),
        (b"gid", gid, _ID_LIMIT),
        (b"size", size, _SIZE_LIMIT),
    ):
        if 0 <= number < limit:
            numbers.append(number)
        else:
            numbers.append(0)
            records.append(format_pax_record(keyword, b"%d" % number))
    if fraction or not whole:
        records.append(format_pax_record(b"mtime", format_pax_time(mtime_ns)))
    if binary:
        records.insert(0, format_pax_record(b"hdrcharset", b"BINARY"))
    ustar = _ustar(
        name, mode, numbers[0], numbers[1], numbers[2], seconds if whole else 0, typeflag, link
    )
    return _with_pax(b"".join(records), ustar)


def entry_header(entry: SourceEntry, hardlink_to: str | None = None) -> bytes:
    """The header blocks ``ship`` writes for ``entry``: a file's (its data follows), a
    directory's (its name ending in ``/``), a symlink's, or, with ``hardlink_to``, a hard
    link's to the member of that name."""
    name = entry.name.encode(_FS_ENCODING, _FS_ERRORS)  # os.fsencode
    size = 0
    link = b""
    if hardlink_to is not None:
        typeflag, link = LNKTYPE, hardlink_to.encode(_FS_ENCODING, _FS_ERRORS)
    elif entry.type is EntryType.FILE:
        typeflag, size = REGTYPE, entry.size
    elif entry.type is EntryType.DIRECTORY:
        typeflag, name = DIRTYPE, name + b"/"
    else:
        typeflag, link = SYMTYPE, (entry.link or "").encode(_FS_ENCODING, _FS_ERRORS)
    return member_header(
        name, typeflag, entry.mode, entry.uid, entry.gid, entry.mtime_ns, size, link
    )


@functools.lru_cache(maxsize=1024)
def _pax_ustar(length: int) -> bytes:
    """The ustar block of a pax extended header of ``length`` bytes of records (only the size
    field varies: a few sizes serve most members)."""
    return _ustar(_PAX_NAME, 0o644, 0, 0, length, 0, XHDTYPE, b"")


def _with_pax(records: bytes, ustar: bytes) -> bytes:
    """A pax extended header holding ``records`` (padded to whole blocks), then ``ustar``."""
    return b"%s%s%s%s" % (
        _pax_ustar(len(records)),
        records,
        bytes(-len(records) % BLOCK_SIZE),
        ustar,
    )
