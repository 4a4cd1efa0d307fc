"""ArchiveIndex.load reads an index member by member: memory beyond the members kept is flat."""

from __future__ import annotations

import hashlib
import tracemalloc

from blobcodec.index import ArchiveIndex, Member

_SEEK_TABLE = "sha256:" + "0" * 64


def _index_bytes(count: int) -> bytes:
    """A serialised index of ``count`` 100-byte files, one per 64 KiB frame."""
    members = [
        Member(
            path=f"data/run-{number // 1000:04d}/sample-{number:07d}.csv",
            type="file",
            size=100,
            mode=0o644,
            mtime=1_753_610_400.0,
            uid=1000,
            gid=1000,
            link="",
            offset=number * 1024 + 512,
            frames=range(number // 64, number // 64 + 1),
            sha256="sha256:" + hashlib.sha256(str(number).encode()).hexdigest(),
        )
        for number in range(count)
    ]
    return ArchiveIndex(
        members,
        frame_count=count // 64 + 1,
        size=count * 1024 + 1024,
        compressed_size=count * 200,
        seek_table_sha256=_SEEK_TABLE,
    ).dumps()


def _load_peak(data: bytes) -> int:
    """Bytes allocated at the peak of loading ``data`` keeping no member."""
    tracemalloc.start()
    try:
        index = ArchiveIndex.load(data, keep=lambda member: False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(index) == 0
    return peak


def test_load_peak_does_not_grow_per_member() -> None:
    # The JSON text is ~300 bytes per member and a Member ~600: loading the text whole
    # (or holding every member) grows the peak by about 1 KB per member; streamed, only the
    # compressed payload's copy in the decompressor (~40 bytes per member here) grows.
    small, large = _index_bytes(5_000), _index_bytes(20_000)
    slope = (_load_peak(large) - _load_peak(small)) / 15_000
    assert slope < 100, f"{slope:.0f} bytes per member"


def test_keep_sees_every_member_in_order_and_holds_only_its_choice() -> None:
    data = _index_bytes(3_000)
    seen: list[str] = []

    def keep(member: Member) -> bool:
        seen.append(member.path)
        return member.path.endswith("7.csv")

    index = ArchiveIndex.load(data, keep=keep)
    assert seen == [f"data/run-{n // 1000:04d}/sample-{n:07d}.csv" for n in range(3_000)]
    assert len(index) == 300  # numbers ending in 7
    assert index.lookup("data/run-0002/sample-0002997.csv").offset == 2997 * 1024 + 512
    assert "data/run-0000/sample-0000001.csv" not in index
    assert (index.frame_count, index.size) == (3_000 // 64 + 1, 3_000 * 1024 + 1024)
