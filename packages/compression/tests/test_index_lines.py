"""ArchiveIndex.dumps writes each member line exactly as ``json.dumps`` of the documented record."""

from __future__ import annotations

import base64
import json
import struct

import zstandard
from hypothesis import given
from hypothesis import strategies as st

from blobcodec.index import ArchiveIndex, Member

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
