"""cargoship.pax_members against the trees that wrote the tars and against Python's tarfile.

Tars come from cargoship's header writer, from tarfile (PAX_FORMAT and
GNU_FORMAT) and from GNU tar (``--format=pax`` / ``--format=gnu``); every
one must read exactly as tarfile reads it. For cargoship's own headers the
reader must never call tarfile; for what it does not parse (global headers,
GNU long names, base-256 numbers, other pax keywords, bad checksums) it must
hand the stream to tarfile from that member on.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cargoship.pax_members import TarMemberReader
from cargoship.tar_headers import member_header

BLOCK = 512
NS = 1_000_000_000
END = bytes(2 * BLOCK)

Read = tuple[str, bytes, int, int, int, int, int, str, int, int, bytes]
"""path, typeflag, size, mode, uid, gid, mtime_ns, link, offset, data offset, data."""


class _Pieces:
    """A source handing out ``data`` in pieces of at most ``piece`` bytes."""

    def __init__(self, data: bytes, piece: int) -> None:
        self._data = io.BytesIO(data)
        self._piece = piece

    def read(self, size: int = -1, /) -> bytes:
        return self._data.read(self._piece if size < 0 else min(size, self._piece))


def _read_new(data: bytes, piece: int = 1 << 20) -> list[Read]:
    reader = TarMemberReader(_Pieces(data, piece))
    found = []
    while (member := reader.next()) is not None:
        content = b"".join(iter(lambda: reader.read(1000), b""))
        found.append(
            (
                member.path,
                member.typeflag,
                member.size,
                member.mode,
                member.uid,
                member.gid,
                member.mtime_ns,
                member.link,
                member.offset,
                member.offset_data,
                content,
            )
        )
    return found


def _tarfile_mtime_ns(info: tarfile.TarInfo) -> int:
    text = info.pax_headers.get("mtime")
    return int(Decimal(text) * NS) if text is not None else int(info.mtime) * NS


def _read_tarfile(data: bytes) -> list[Read]:
    found = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for info in tar:
            file = tar.extractfile(info) if info.isreg() else None
            found.append(
                (
                    info.name,
                    info.type,
                    info.size,
                    info.mode,
                    info.uid,
                    info.gid,
                    _tarfile_mtime_ns(info),
                    info.linkname,
                    info.offset,
                    info.offset_data,
                    b"" if file is None else file.read(),
                )
            )
    return found


def _read_both(data: bytes, piece: int = 1 << 20) -> tuple[list[Read], bool]:
    """What the reader reads from ``data`` (checked equal to tarfile's reading), and whether
    it handed the stream to tarfile."""
    with mock.patch.object(tarfile, "open", wraps=tarfile.open) as spy:
        found = _read_new(data, piece)
    assert found == _read_tarfile(data)
    return found, spy.called


@dataclass(frozen=True)
class Spec:
    """One member to write."""

    name: str
    kind: str  # file, dir, symlink, hardlink
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    data: bytes = b""
    link: str = ""


_components = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00/"), min_size=1, max_size=12),
    st.binary(min_size=1, max_size=6)
    .filter(lambda raw: b"\x00" not in raw and b"/" not in raw)
    .map(os.fsdecode),  # not always UTF-8: surrogateescape, as os.fsdecode gives names
    st.integers(90, 160).map(lambda n: "L" * n),  # past the ustar name field
).filter(lambda part: part not in (".", ".."))
_paths = st.lists(_components, min_size=1, max_size=3).map("/".join)
_ids = st.one_of(st.integers(0, 8**7 - 1), st.integers(8**7, 2**31))


@st.composite
def _specs(draw: st.DrawFn) -> list[Spec]:
    names = draw(st.lists(_paths, min_size=1, max_size=8, unique=True))
    specs: list[Spec] = []
    for name in names:
        kind = draw(st.sampled_from(["file", "file", "dir", "symlink", "hardlink"]))
        files = [spec.name for spec in specs if spec.kind == "file"]
        if kind == "hardlink" and not files:
            kind = "file"
        mtime_ns = draw(
            st.one_of(
                st.integers(0, 2**33).map(lambda seconds: seconds * NS),
                st.integers(-(2**40) * NS, 2**40 * NS),
            )
        )
        data, link = b"", ""
        if kind == "file":
            data = draw(st.binary(max_size=1200))
        elif kind == "symlink":
            link = draw(_paths)
        elif kind == "hardlink":
            link = draw(st.sampled_from(files))
        mode, uid, gid = draw(st.integers(0, 0o7777)), draw(_ids), draw(_ids)
        specs.append(Spec(name, kind, mode, uid, gid, mtime_ns, data, link))
    return specs


_FLAGS = {"file": b"0", "dir": b"5", "symlink": b"2", "hardlink": b"1"}


def _cargoship_tar(specs: list[Spec]) -> bytes:
    """The tar cargoship's packer writes for ``specs`` (directories named with a ``/``)."""
    parts = []
    for spec in specs:
        name = os.fsencode(spec.name) + (b"/" if spec.kind == "dir" else b"")
        parts.append(
            member_header(
                name,
                _FLAGS[spec.kind],
                spec.mode,
                spec.uid,
                spec.gid,
                spec.mtime_ns,
                len(spec.data),
                os.fsencode(spec.link),
            )
        )
        parts.append(spec.data + bytes(-len(spec.data) % BLOCK))
    return b"".join([*parts, END])


def _tarfile_tar(specs: list[Spec], tar_format: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tar_format) as tar:
        for spec in specs:
            info = tarfile.TarInfo(spec.name)
            info.type = _FLAGS[spec.kind]
            info.mode, info.uid, info.gid = spec.mode, spec.uid, spec.gid
            seconds, fraction = divmod(spec.mtime_ns, NS)
            info.mtime = spec.mtime_ns / NS if fraction else seconds
            info.linkname, info.size = spec.link, len(spec.data)
            tar.addfile(info, io.BytesIO(spec.data))
    return out.getvalue()


@settings(max_examples=150, deadline=None)
@given(specs=_specs(), piece=st.integers(1, 3000))
def test_cargoships_headers_read_as_written_without_tarfile(specs: list[Spec], piece: int) -> None:
    data = _cargoship_tar(specs)

    found, handed_over = _read_both(data, piece)

    assert not handed_over
    offset = 0
    for spec, read in zip(specs, found, strict=True):
        path, flag, size, mode, uid, gid, mtime_ns, link, at, data_at, content = read
        assert (path, flag, mode, uid, gid, mtime_ns) == (
            spec.name,
            _FLAGS[spec.kind],
            spec.mode,
            spec.uid,
            spec.gid,
            spec.mtime_ns,
        )
        assert (size, content, link) == (len(spec.data), spec.data, spec.link)
        assert at == offset
        offset = data_at + len(spec.data) + -len(spec.data) % BLOCK


@settings(max_examples=100, deadline=None)
@given(
    specs=_specs(),
    tar_format=st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT]),
    piece=st.integers(1, 3000),
)
def test_tarfiles_own_tars_read_as_tarfile_reads_them(
    specs: list[Spec], tar_format: int, piece: int
) -> None:
    _read_both(_tarfile_tar(specs, tar_format), piece)


def _gnu_tree(root: Path) -> None:
    """A tree with what tar formats differ on: long and non-UTF-8 names, links, a sparse
    file, sub-second times."""
    deep = root / ("d" * 60) / ("e" * 70)
    deep.mkdir(parents=True)
    (deep / ("f" * 90 + ".txt")).write_bytes(b"long name\n" * 50)
    (root / "caf\u00e9.txt").write_bytes(b"utf-8 name")
    (root / os.fsdecode(b"raw-\xff\xfe.bin")).write_bytes(b"not utf-8")
    (root / "empty").mkdir()
    (root / "zero.bin").write_bytes(b"")
    os.symlink("caf\u00e9.txt", root / "link-to-cafe")
    os.link(root / "zero.bin", root / "zero-again.bin")
    with open(root / "sparse.bin", "wb") as file:
        file.truncate(1 << 20)
        file.seek(600_000)
        file.write(b"island")
    for number, path in enumerate(sorted(root.rglob("*"))):
        os.utime(
            path,
            ns=(1_700_000_000_123_456_789 + number, 1_700_000_000_987_654_321 + number),
            follow_symlinks=False,
        )


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar is not installed")
@pytest.mark.parametrize("tar_format", ["pax", "gnu"])
@pytest.mark.parametrize("sparse", [False, True])
def test_gnu_tars_read_as_tarfile_reads_them(tmp_path: Path, tar_format: str, sparse: bool) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    _gnu_tree(root)
    command = ["tar", f"--format={tar_format}", "-cf", "-", "-C", str(root), "."]
    data = subprocess.run(
        [*command[:1], *(["--sparse"] if sparse else []), *command[1:]],
        check=True,
        capture_output=True,
    ).stdout

    found, handed_over = _read_both(data)

    # GNU tar's pax headers (path, mtime, atime, ctime) are read here; GNU headers and
    # GNU.sparse records go to tarfile.
    assert handed_over == (tar_format == "gnu" or sparse)
    assert len(found) == 11  # ., 3 directories, 6 files and a symlink
    by_path = {read[0]: read for read in found}
    assert by_path["./sparse.bin"][-1] == bytes(600_000) + b"island" + bytes((1 << 20) - 600_006)
    assert by_path["./" + os.fsdecode(b"raw-\xff\xfe.bin")][-1] == b"not utf-8"


def test_a_bad_checksum_goes_to_tarfile_which_refuses_it() -> None:
    specs = [Spec(f"f{n}", "file", 0o644, 0, 0, NS, data=b"x" * n) for n in range(3)]
    data = bytearray(_cargoship_tar(specs))
    data[BLOCK + 1] ^= 0x01  # the second member's name: its checksum no longer matches
    reader = TarMemberReader(_Pieces(bytes(data), 1 << 20))

    first = reader.next()

    assert first is not None
    assert first.path == "f0"
    with (
        mock.patch.object(tarfile, "open", wraps=tarfile.open) as spy,
        pytest.raises(tarfile.ReadError, match="byte 512: bad checksum"),
    ):
        reader.next()
    assert spy.called
    assert reader.next() is None


def test_a_stream_ending_inside_a_member_raises() -> None:
    data = _cargoship_tar([Spec("a", "file", 0o644, 0, 0, NS, data=b"y" * 700)])

    for cut, message in ((BLOCK + 100, "unexpected end of data"), (100, "truncated header")):
        with pytest.raises(tarfile.ReadError, match=message):
            _read_new(data[:cut], 64)
        with pytest.raises(tarfile.ReadError, match=message):
            _read_tarfile(data[:cut])

    # Unread data skipped by next(): the padding lost at the end is missing data too.
    reader = TarMemberReader(_Pieces(data[: BLOCK + 700], 64))
    assert reader.next() is not None
    with pytest.raises(tarfile.ReadError, match="unexpected end of data"):
        reader.next()


def test_the_end_is_a_zero_block_or_the_end_of_the_stream_after_a_member() -> None:
    one = _cargoship_tar([Spec("a", "file", 0o644, 0, 0, NS, data=b"z")])

    assert [read[0] for read in _read_both(one[: 2 * BLOCK])[0]] == ["a"]  # no end blocks
    assert [read[0] for read in _read_both(one[: 3 * BLOCK] + b"junk")[0]] == ["a"]
    assert _read_both(END)[0] == []
    with pytest.raises(tarfile.ReadError, match="empty file"):
        TarMemberReader(_Pieces(b"", 10)).next()


def _rewrite(header: bytes, field: slice, value: bytes) -> bytes:
    """``header`` with ``field`` set to ``value`` and its checksum made right again."""
    block = bytearray(header)
    block[field] = value
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block)


def test_a_base_256_size_goes_to_tarfile() -> None:
    header = member_header(b"big.bin", b"0", 0o644, 0, 0, NS, 5)
    base_256 = _rewrite(header, slice(124, 136), b"\x80" + (5).to_bytes(11, "big"))
    plain = _cargoship_tar([Spec("before", "dir", 0o755, 0, 0, NS)])[:-1024]
    data = plain + base_256 + b"12345" + bytes(BLOCK - 5) + END

    found, handed_over = _read_both(data)

    assert handed_over
    assert [(read[0], read[2], read[8], read[-1]) for read in found] == [
        ("before", 0, 0, b""),
        ("big.bin", 5, BLOCK, b"12345"),  # offsets count from the stream's start
    ]


def test_a_global_header_a_gnu_long_name_and_other_pax_keywords_go_to_tarfile() -> None:
    specs = [Spec("n" * 150, "file", 0o600, 1, 2, NS, data=b"long")]
    cases = {
        "global": (tarfile.PAX_FORMAT, {"comment": "made by a test"}),
        "gnu long name": (tarfile.GNU_FORMAT, {}),
        "xattr": (tarfile.PAX_FORMAT, {"SCHILY.xattr.user.k": "v"}),
    }
    for name, (tar_format, extra) in cases.items():
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tar_format, pax_headers=extra) as tar:
            if name == "xattr":
                info = tarfile.TarInfo("x.txt")
                info.pax_headers = dict(extra)
                tar.addfile(info)
            tar.addfile(tarfile.TarInfo("plain.txt"))
            for spec in specs:
                info = tarfile.TarInfo(spec.name)
                info.size = len(spec.data)
                tar.addfile(info, io.BytesIO(spec.data))

        found, handed_over = _read_both(out.getvalue())

        assert handed_over, name
        assert (found[-1][0], found[-1][-1]) == ("n" * 150, b"long"), name


def test_members_after_a_hand_over_keep_stream_offsets() -> None:
    ours = _cargoship_tar([Spec("a", "file", 0o644, 0, 0, NS, data=b"a" * 600)])[:-1024]
    theirs = _tarfile_tar(
        [Spec("g" * 120, "file", 0o644, 0, 0, NS, data=b"gnu"), Spec("z", "dir", 0o755, 0, 0, NS)],
        tarfile.GNU_FORMAT,
    )

    found, handed_over = _read_both(ours + theirs)

    assert handed_over
    assert [(read[0], read[8], read[9]) for read in found] == [
        ("a", 0, BLOCK),
        ("g" * 120, 3 * BLOCK, 6 * BLOCK),  # an 'L' header and its name block, then ustar
        ("z", 7 * BLOCK, 8 * BLOCK),
    ]


def test_data_on_a_directory_goes_to_tarfile() -> None:
    header = _rewrite(
        member_header(b"d/", b"5", 0o755, 0, 0, NS), slice(124, 136), b"%011o\x00" % 3
    )

    found, handed_over = _read_both(header + END)

    assert handed_over
    assert [(read[0], read[1], read[2]) for read in found] == [("d", b"5", 3)]


def test_hdrcharset_binary_names_keep_their_bytes() -> None:
    raw = b"\xe9t\xe9-" + b"x" * 120  # Latin-1, not UTF-8, and too long for the name field
    data = _cargoship_tar([Spec(os.fsdecode(raw), "symlink", 0o777, 0, 0, NS, link="t\u00e9")])
    assert b"hdrcharset=BINARY" in data

    found, handed_over = _read_both(data)

    assert not handed_over
    assert os.fsencode(found[0][0]) == raw
    assert found[0][7] == "t\u00e9"
