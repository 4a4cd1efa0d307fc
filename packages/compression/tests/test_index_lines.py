"""ArchiveIndex.dumps writes each member line exactly as ``json.dumps`` of the documented record."""

from __future__ import annotations

import base64
import io
import json
import math
import struct

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from blobcodec.index import ArchiveIndex, IndexSpool, Member

_TYPES = ("file", "hardlink", "symlink", "directory", "chardev", "blockdev", "fifo")

# Names with quotes, backslashes, control characters, non-ASCII text and bytes that are not
# UTF-8 (decoded with surrogateescape, as os.fsdecode gives them).
names = st.one_of(
    st.text(min_size=1, max_size=40),
    st.binary(min_size=1, max_size=40).map(lambda raw: raw.decode("utf-8", "surrogateescape")),
)
members = st.builds(
    Member,
    path=names,
    type=st.sampled_from(_TYPES),
    size=st.integers(0, 2**40),
    mode=st.integers(0, 0o7777),
    mtime=st.one_of(
        st.integers(-(2**40), 2**40).map(float),
        st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False),
    ),
    uid=st.integers(0, 2**32),
    gid=st.integers(0, 2**32),
    link=st.one_of(st.just(""), names),
    offset=st.just(0),
    frames=st.just(range(0)),
    sha256=st.one_of(
        st.none(), st.binary(min_size=32, max_size=32).map(lambda d: "sha256:" + d.hex())
    ),
)


def _expected(member: Member) -> str:
    """The record in the module docstring's key order, by the json module."""

    def name(key: str, value: str) -> dict[str, str]:
        raw = value.encode("utf-8", "surrogateescape")
        try:
            return {key: raw.decode("utf-8")}
        except UnicodeDecodeError:
            return {key + "_b64": base64.b64encode(raw).decode("ascii")}

    mtime = int(member.mtime) if member.mtime.is_integer() else member.mtime
    record: dict[str, object] = {
        **name("path", member.path),
        "type": member.type,
        "size": member.size,
        "mode": member.mode,
        "mtime": mtime,
        "uid": member.uid,
        "gid": member.gid,
        "offset": member.offset,
        "frames": [member.frames.start, len(member.frames)],
    }
    if member.link:
        record.update(name("link", member.link))
    if member.sha256 is not None:
        record["sha256"] = member.sha256
    return json.dumps(record, separators=(",", ":"))


@given(st.lists(members, max_size=8))
def test_member_lines_are_json_dumps_of_the_documented_record(listed: list[Member]) -> None:
    index = ArchiveIndex(
        listed,
        frame_count=0,
        size=2**41,
        compressed_size=1,
        seek_table_sha256="sha256:" + "0" * 64,
    )
    data = index.dumps()
    (length,) = struct.unpack_from("<I", data, 12)  # the directory's; the pages follow it
    pages = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)
    text = pages.decompress(data[16 + length :]).decode("utf-8") if listed else ""
    assert text.splitlines() == [_expected(member) for member in listed]
    loaded = ArchiveIndex.load(data)
    assert [(m.path, m.link, m.mtime) for m in loaded.members] == [
        (m.path, m.link, m.mtime) for m in listed
    ]


def _spooled_text(listed: list[Member], *, by_fields: bool) -> str:
    """The member lines an IndexSpool writes for ``listed``, by ``add`` or ``add_fields``."""
    file = io.BytesIO()
    spool = IndexSpool(file)
    for member in listed:
        if by_fields:
            spool.add_fields(
                member.path,
                member.type,
                member.size,
                member.mode,
                member.mtime,
                member.uid,
                member.gid,
                member.link,
                member.offset,
                member.frames,
                member.sha256,
            )
        else:
            spool.add(member)
    data = b"".join(
        spool.pieces(
            frame_count=0, size=2**41, compressed_size=1, seek_table_sha256="sha256:" + "0" * 64
        )
    )
    (length,) = struct.unpack_from("<I", data, 12)
    pages = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)
    return pages.decompress(data[16 + length :]).decode("utf-8") if listed else ""


@given(st.lists(members, max_size=8))
def test_add_fields_writes_the_lines_of_add(listed: list[Member]) -> None:
    text = _spooled_text(listed, by_fields=True)
    assert text.splitlines() == [_expected(member) for member in listed]
    assert text == _spooled_text(listed, by_fields=False)


@pytest.mark.parametrize(
    ("mtime", "written"),
    [(math.inf, "Infinity"), (-math.inf, "-Infinity"), (math.nan, "NaN"), (-0.0, "0")],
)
def test_unusual_mtimes_are_written_as_json_dumps_writes_them(mtime: float, written: str) -> None:
    member = Member("a", "file", 0, 0o644, mtime, 0, 0, "", 0, range(0), None)
    line = _spooled_text([member], by_fields=True)
    assert f'"mtime":{written},' in line
    assert line.rstrip("\n") == _expected(member)
