"""Reading a member line's record: the usual record is taken at once, any other checked field
by field. Both readings must agree on every record, valid or not."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blobcodec.errors import IndexFormatError
from blobcodec.index._model import Member, _checked_member, _member

_VALID: dict[str, Any] = {
    "path": "dir/file.txt",
    "type": "file",
    "size": 10,
    "mode": 0o644,
    "mtime": 1_700_000_000,
    "uid": 1000,
    "gid": 1000,
    "offset": 512,
    "frames": [0, 1],
    "sha256": "sha256:" + "ab" * 32,
}

# What a JSON line can hold in a field: the types json.loads gives, and edge values.
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.just(2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "x", "file", "symlink", "sha256:" + "AB" * 32, "sha256:" + "ab" * 32]),
    st.lists(st.integers(-1, 3), max_size=3),
    st.just([0, True]),
    st.just({"a": 1}),
)
_KEYS = [*_VALID, "link", "path_b64", "link_b64"]


def _reading(record: dict[str, Any]) -> Member | str:
    try:
        return _checked_member(record, 7)
    except IndexFormatError as error:
        return str(error)


def _fast_reading(record: dict[str, Any]) -> Member | str:
    try:
        return _member(record, 7)
    except IndexFormatError as error:
        return str(error)


def _same(a: Member | str, b: Member | str) -> bool:
    """Equal readings (a NaN mtime, which JSON allows, equal to itself)."""
    if isinstance(a, Member) and isinstance(b, Member):
        times = a.mtime == b.mtime or (math.isnan(a.mtime) and math.isnan(b.mtime))
        return times and dataclasses.replace(a, mtime=0.0) == dataclasses.replace(b, mtime=0.0)
    return a == b


@settings(max_examples=2000)
@given(
    changes=st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=4),
    dropped=st.sets(st.sampled_from(list(_VALID)), max_size=2),
)
def test_both_readings_agree_on_any_record(changes: dict[str, Any], dropped: set[str]) -> None:
    record = {key: value for key, value in _VALID.items() if key not in dropped}
    record.update(changes)
    assert _same(_fast_reading(record), _reading(record))


@pytest.mark.parametrize(
    ("extra", "link"),
    [
        ({}, ""),
        ({"link": "target"}, "target"),
        ({"link_b64": "dGFyZ2V0"}, "target"),  # no plain link: the base64 one is read
        ({"link": "plain", "link_b64": "dGFyZ2V0"}, "plain"),
    ],
)
def test_a_link_is_read_from_either_field(extra: dict[str, str], link: str) -> None:
    record = {**_VALID, "type": "hardlink", "sha256": None, **extra}
    assert _member(record, 1).link == link


def test_the_usual_record_gives_its_member() -> None:
    member = _member(dict(_VALID), 1)
    assert member == Member(
        "dir/file.txt", "file", 10, 0o644, 1_700_000_000.0, 1000, 1000, "", 512, range(1),
        "sha256:" + "ab" * 32,
    )  # fmt: skip
    assert type(member.mtime) is float
