"""A streaming tar header parser: it watches a tar stream pass in any chunking and lists members.

Reads the formats Python's ``tarfile`` and GNU tar write: POSIX ustar headers
(POSIX.1-2017, pax, "ustar Interchange Format": 512-byte blocks, octal fields,
``prefix`` + ``name``), pax extended headers (typeflag ``x``, and ``g`` for
global ones; records ``"<length> <key>=<value>\\n"``; ``path``, ``linkpath``,
``size``, ``uid``, ``gid``, ``mtime`` override the ustar fields), GNU long
names (typeflags ``L`` and ``K``) and GNU base-256 numbers. The archive ends at
the first all-zero header block (what ``tarfile`` writes as the first of two).

Names are bytes in the archive; pax ``path`` values are taken as bytes too, so
``hdrcharset=BINARY`` names and UTF-8 names come out alike. They are decoded
with UTF-8 and ``surrogateescape``. Each regular file's data is hashed with
sha256 as it passes, never held. The header fields are decoded by
:mod:`blobcodec.tarformat`.
"""

from __future__ import annotations

import dataclasses

from blobcodec.checksum import Sha256
from blobcodec.errors import CorruptDataError
from blobcodec.index._model import Member
from blobcodec.tarformat import (
    AREGTYPE,
    BLOCK_SIZE,
    GNUTYPE_LONGLINK,
    GNUTYPE_LONGNAME,
    GNUTYPE_SPARSE,
    MEMBER_TYPES,
    REGTYPE,
    USTAR_MAGIC,
    XGLTYPE,
    XHDTYPE,
    checksum_matches,
    nul_terminated,
    parse_number,
    parse_pax_records,
)

__all__ = ["TarStreamParser"]

_EXTENDED = (XHDTYPE, XGLTYPE, GNUTYPE_LONGNAME, GNUTYPE_LONGLINK)
_SIZE_NUMBER = (("size", 124, 136),)
_MEMBER_NUMBERS = (("mode", 100, 108), ("mtime", 136, 148), ("uid", 108, 116), ("gid", 116, 124))
"""The number fields read after ``size``, in the order a bad one is reported."""


def _bad_number(block: bytes, at: int, fields: tuple[tuple[str, int, int], ...]) -> None:
    """Raise CorruptDataError naming the first of ``fields`` that is no number (the header is
    parsed without this check; it runs once parsing failed)."""
    for what, start, end in fields:
        field = block[start:end]
        try:
            parse_number(field)
        except ValueError:
            raise CorruptDataError(
                f"tar header at offset {at}: {what} field {field!r} is not an octal number"
            ) from None


class TarStreamParser:
    """Feed the bytes of a tar stream in order; finished members collect in :attr:`members`."""

    def __init__(self, frame_size: int) -> None:
        self.members: list[Member] = []
        self.position = 0
        """Bytes of the stream consumed."""
        self._frame_size = frame_size
        self._state = "header"  # header, extended, data, skip, end
        self._block = bytearray()
        self._remaining = 0  # bytes left of the current extended header, data or padding
        self._padding = 0  # zero bytes after the current payload, up to a block boundary
        self._extended_kind = b""
        self._extended = bytearray()
        self._global: dict[str, bytes] = {}
        self._local: dict[str, bytes] = {}
        self._current: tuple[Member, Sha256] | None = None

    @property
    def ended(self) -> bool:
        """Whether the end-of-archive block has been seen."""
        return self._state == "end"

    def describe_position(self) -> str:
        """Where the stream stands, for an error message about a stream that stopped early."""
        if self._current is not None:
            return f"inside the data of member {self._current[0].path!r}"
        return f"at offset {self.position}, before the end-of-archive block"

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Consume the next bytes of the stream."""
        view = memoryview(data).cast("B")
        while view:
            if self._state == "end":
                self.position += len(view)
                return
            if self._state == "header":
                take = min(BLOCK_SIZE - len(self._block), len(view))
                self._block += view[:take]
                self.position += take
                if len(self._block) == BLOCK_SIZE:
                    block, self._block = bytes(self._block), bytearray()
                    self._header(block, self.position - BLOCK_SIZE)
            else:
                take = min(self._remaining, len(view))
                if self._state == "extended":
                    self._extended += view[:take]
                elif self._state == "data" and self._current is not None:
                    self._current[1].update(view[:take])
                self.position += take
                self._remaining -= take
                if not self._remaining:
                    self._finish_payload()
            view = view[take:]

    def _payload(self, state: str, size: int) -> None:
        """Expect ``size`` bytes of payload, then zeros up to the next block boundary."""
        self._state, self._remaining, self._padding = state, size, -size % BLOCK_SIZE
        if not size:
            self._finish_payload()

    def _finish_payload(self) -> None:
        if self._state == "extended":
            self._apply_extended(bytes(self._extended))
            self._extended = bytearray()
        elif self._state == "data" and self._current is not None:
            member, digest = self._current
            self.members.append(dataclasses.replace(member, sha256=digest.tag()))
            self._current = None
        if self._state != "skip" and self._padding:
            self._state, self._remaining, self._padding = "skip", self._padding, 0
        else:
            self._state = "header"

    def _apply_extended(self, payload: bytes) -> None:
        kind, at = self._extended_kind, self.position - len(payload)
        if kind in (XHDTYPE, XGLTYPE):
            try:
                records = parse_pax_records(payload)
            except ValueError as error:
                raise CorruptDataError(f"pax extended header at offset {at}: {error}") from None
            found = self._local if kind == XHDTYPE else self._global
            for key, value in records:  # a later record overrides an earlier one; values stay bytes
                found[key.decode("utf-8", "surrogateescape")] = value
        elif kind == GNUTYPE_LONGNAME:
            self._local["path"] = nul_terminated(payload)
        else:
            self._local["linkpath"] = nul_terminated(payload)

    def _header(self, block: bytes, at: int) -> None:
        if not any(block):
            self._state = "end"
            return
        if not checksum_matches(block):
            raise CorruptDataError(f"tar header at offset {at} has a bad checksum")
        typeflag = block[156:157]
        try:
            size = parse_number(block[124:136])
        except ValueError:
            _bad_number(block, at, _SIZE_NUMBER)
            raise
        if typeflag in _EXTENDED:
            self._extended_kind = typeflag
            self._payload("extended", size)
            return
        pax = {**self._global, **self._local}
        self._local = {}
        if typeflag == GNUTYPE_SPARSE or any(key.startswith("GNU.sparse.") for key in pax):
            raise CorruptDataError(f"tar member at offset {at} is a GNU sparse file: not supported")
        name = nul_terminated(block[0:100])
        if block[257:265] == USTAR_MAGIC and block[345] != 0:  # the ustar prefix field
            name = nul_terminated(block[345:500]) + b"/" + name
        name = pax.get("path", name)
        link = pax.get("linkpath", nul_terminated(block[157:257]))
        kind = MEMBER_TYPES.get(typeflag, "file")  # POSIX: an unknown typeflag is a regular file
        if typeflag in (REGTYPE, AREGTYPE) and name.endswith(b"/"):
            kind = "directory"  # old tars mark directories by a trailing slash
        if kind == "directory":
            name = name.rstrip(b"/") or name
        size = _pax_int(pax, "size", size, at)
        try:
            mode = parse_number(block[100:108])
            mtime = parse_number(block[136:148])
            uid = parse_number(block[108:116])
            gid = parse_number(block[116:124])
        except ValueError:
            _bad_number(block, at, _MEMBER_NUMBERS)
            raise
        offset = at + BLOCK_SIZE
        has_data = kind == "file"
        member = Member(
            path=name.decode("utf-8", "surrogateescape"),
            type=kind,
            size=size if has_data else 0,
            mode=mode,
            mtime=_pax_float(pax, "mtime", mtime, at),
            uid=_pax_int(pax, "uid", uid, at),
            gid=_pax_int(pax, "gid", gid, at),
            link=link.decode("utf-8", "surrogateescape") if kind in ("hardlink", "symlink") else "",
            offset=offset,
            frames=self._frames(offset, size if has_data else 0),
            sha256=None,
        )
        if has_data:
            self._current = (member, Sha256())
            self._payload("data", size)
        else:
            self.members.append(member)

    def _frames(self, offset: int, size: int) -> range:
        first = offset // self._frame_size
        if not size:
            return range(first, first)
        return range(first, (offset + size - 1) // self._frame_size + 1)


def _pax_int(pax: dict[str, bytes], key: str, default: int, at: int) -> int:
    if key not in pax:
        return default
    try:
        return int(pax[key])
    except ValueError:
        raise CorruptDataError(f"pax header for the member at offset {at}: bad {key}") from None


def _pax_float(pax: dict[str, bytes], key: str, default: int, at: int) -> float:
    """A pax record read as a float, else the header's integer ``default`` as a float."""
    if key not in pax:
        return float(default)  # Member.mtime is a float, whatever the header format
    try:
        return float(pax[key])
    except ValueError:
        raise CorruptDataError(f"pax header for the member at offset {at}: bad {key}") from None
