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
sha256 as it passes, never held.
"""

from __future__ import annotations

import dataclasses

from blobcodec.checksum import Sha256
from blobcodec.errors import CorruptDataError
from blobcodec.index._model import Member, MemberType

__all__ = ["TarStreamParser"]

BLOCK = 512

# ustar typeflags; "0", NUL and "7" (contiguous) are regular files, as are unknown flags (POSIX).
_TYPES: dict[bytes, MemberType] = {
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "chardev",
    b"4": "blockdev",
    b"5": "directory",
    b"6": "fifo",
}
_EXTENDED = (b"x", b"g", b"L", b"K")  # pax local, pax global, GNU long name, GNU long link
_SPARSE = b"S"
_POSIX_MAGIC = b"ustar\x0000"


def _number(field: bytes, what: str, at: int) -> int:
    """A numeric header field: octal ASCII, or GNU base-256 when the top bit of byte 0 is set."""
    if field and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * len(field) - 8)) if field[0] == 0xFF else value
    text = field.split(b"\x00", 1)[0].strip(b" ")
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise CorruptDataError(
            f"tar header at offset {at}: {what} field {field!r} is not an octal number"
        ) from None


def _cstring(field: bytes) -> bytes:
    return field.split(b"\x00", 1)[0]


def _checksum_ok(block: bytes) -> bool:
    stored = _cstring(block[148:156]).strip(b" ")
    try:
        expected = int(stored, 8)
    except ValueError:
        return False
    blanked = block[:148] + b" " * 8 + block[156:]
    if sum(blanked) == expected:
        return True
    return sum(b - 256 if b > 127 else b for b in blanked) == expected  # old tars sum signed bytes


def _pax_records(data: bytes, at: int) -> dict[str, bytes]:
    """Parse pax extended header records ``"<length> <key>=<value>\\n"`` (values stay bytes)."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            length = 0
        record = data[pos : pos + length]
        if space < 0 or length <= space - pos or not record.endswith(b"\n") or b"=" not in record:
            raise CorruptDataError(f"pax extended header at offset {at}: bad record at byte {pos}")
        key, _, value = record[space - pos + 1 : -1].partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value
        pos += length
    return records


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
                take = min(BLOCK - len(self._block), len(view))
                self._block += view[:take]
                self.position += take
                if len(self._block) == BLOCK:
                    block, self._block = bytes(self._block), bytearray()
                    self._header(block, self.position - BLOCK)
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
        self._state, self._remaining, self._padding = state, size, -size % BLOCK
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
        if kind == b"x":
            self._local.update(_pax_records(payload, at))
        elif kind == b"g":
            self._global.update(_pax_records(payload, at))
        elif kind == b"L":
            self._local["path"] = _cstring(payload)
        else:
            self._local["linkpath"] = _cstring(payload)

    def _header(self, block: bytes, at: int) -> None:
        if not any(block):
            self._state = "end"
            return
        if not _checksum_ok(block):
            raise CorruptDataError(f"tar header at offset {at} has a bad checksum")
        typeflag = block[156:157]
        size = _number(block[124:136], "size", at)
        if typeflag in _EXTENDED:
            self._extended_kind = typeflag
            self._payload("extended", size)
            return
        pax = {**self._global, **self._local}
        self._local = {}
        if typeflag == _SPARSE or any(key.startswith("GNU.sparse.") for key in pax):
            raise CorruptDataError(f"tar member at offset {at} is a GNU sparse file: not supported")
        name = _cstring(block[0:100])
        if block[257:265] == _POSIX_MAGIC and block[345] != 0:
            name = _cstring(block[345:500]) + b"/" + name
        name = pax.get("path", name)
        link = pax.get("linkpath", _cstring(block[157:257]))
        kind = _TYPES.get(typeflag, "file")
        if typeflag in (b"0", b"\x00") and name.endswith(b"/"):
            kind = "directory"  # old tars mark directories by a trailing slash
        if kind == "directory":
            name = name.rstrip(b"/") or name
        size = _pax_int(pax, "size", size, at)
        offset = at + BLOCK
        has_data = kind == "file"
        member = Member(
            path=name.decode("utf-8", "surrogateescape"),
            type=kind,
            size=size if has_data else 0,
            mode=_number(block[100:108], "mode", at),
            mtime=_pax_float(pax, "mtime", _number(block[136:148], "mtime", at), at),
            uid=_pax_int(pax, "uid", _number(block[108:116], "uid", at), at),
            gid=_pax_int(pax, "gid", _number(block[116:124], "gid", at), at),
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
