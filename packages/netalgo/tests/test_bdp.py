"""BDP arithmetic and part sizing at S3's published limits (5 MiB, 5 GiB, 10,000 parts, 5 TiB)."""

from __future__ import annotations

import math

import pytest

from netalgo.bdp import bdp, inflight_for, part_size

MiB = 1024**2
GiB = 1024**3
TiB = 1024**4
S3 = {"min_part": 5 * MiB, "max_part": 5 * GiB, "max_parts": 10_000}


def test_bdp_values() -> None:
    assert bdp(1e6, 0.1) == 100_000  # 1 MB/s * 100 ms
    assert bdp(12.5e6, 0.05) == 625_000  # 100 Mbit/s * 50 ms
    assert bdp(1000.0, 0.0015) == 2  # 1.5 bytes rounds up


def test_inflight_for_gain() -> None:
    assert inflight_for(1e6, 0.1) == 100_000
    assert inflight_for(1e6, 0.1, gain=2.0) == 200_000  # BBR's cwnd_gain = 2
    assert inflight_for(1e6, 0.1, gain=0.5) == 50_000


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: bdp(0.0, 0.1), "bandwidth"),
        (lambda: bdp(-1.0, 0.1), "bandwidth"),
        (lambda: bdp(1e6, math.nan), "rtt"),
        (lambda: inflight_for(1e6, 0.1, gain=0.0), "gain"),
        (lambda: part_size(-1, 1e6, 0.1, **S3), "total_size"),
        (lambda: part_size(0, 0.0, 0.1, **S3), "bandwidth"),
        (lambda: part_size(0, 1e6, 0.0, **S3), "rtt"),
        (lambda: part_size(0, 1e6, 0.1, min_part=0, max_part=1, max_parts=1), "min_part"),
        (lambda: part_size(0, 1e6, 0.1, min_part=2, max_part=1, max_parts=1), "max_part"),
        (lambda: part_size(0, 1e6, 0.1, min_part=1, max_part=1, max_parts=0), "max_parts"),
        (lambda: part_size(0, 1e6, 0.1, parts_in_flight=0, **S3), "parts_in_flight"),
    ],
)
def test_bad_input_names_the_parameter(call: object, name: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=name):
        call()


def test_zero_byte_object_gets_the_minimum_part() -> None:
    assert part_size(0, 1e6, 0.1, **S3) == 5 * MiB


def test_small_object_is_one_minimum_part() -> None:
    # BDP 125 MB / 4 in flight would ask for 31.25 MB, but 1000 bytes need one 5 MiB part.
    assert part_size(1000, 1.25e9, 0.1, **S3) == 5 * MiB


def test_bdp_sets_the_part_size() -> None:
    # 10 Gbit/s = 1.25e9 B/s, 100 ms: BDP 125,000,000 bytes; 4 parts in flight hold it
    # at ceil(125e6 / 4) = 31,250,000 bytes, within [5 MiB, 5 GiB]; a 1 GiB object then
    # needs ceil(2**30 / 31.25e6) = 35 parts, well under 10,000.
    size = part_size(GiB, 1.25e9, 0.1, **S3)
    assert size == 31_250_000
    assert math.ceil(GiB / size) == 35
    # Eight parts in flight: ceil(125e6 / 8) = 15,625,000.
    assert part_size(GiB, 1.25e9, 0.1, parts_in_flight=8, **S3) == 15_625_000


def test_part_never_exceeds_the_object_for_bdp_alone() -> None:
    # The same path with a 10 MiB object: one part of 10 MiB, not 31.25 MB.
    assert part_size(10 * MiB, 1.25e9, 0.1, **S3) == 10 * MiB


def test_huge_bdp_is_clamped_to_max_part() -> None:
    # 1 TB/s * 1 s / 4 = 250 GB > 5 GiB.
    assert part_size(5 * TiB, 1e12, 1.0, **S3) == 5 * GiB


def test_five_tib_object_fits_in_ten_thousand_parts() -> None:
    # S3's largest object, 5 TiB = 5,497,558,138,880 bytes, on a slow path:
    # ceil(5 TiB / 10,000) = ceil(549,755,813.888) = 549,755,814 bytes per part.
    size = part_size(5 * TiB, 1e6, 0.1, **S3)
    assert size == 549_755_814
    assert math.ceil(5 * TiB / size) == 10_000
    # One byte less per part would need 10,001 parts.
    assert math.ceil(5 * TiB / (size - 1)) == 10_001


def test_part_count_limit_boundaries() -> None:
    # Exactly 10,000 parts of 5 MiB: the minimum part is enough.
    assert part_size(10_000 * 5 * MiB, 1e6, 0.1, **S3) == 5 * MiB
    # One byte more needs a bigger part: ceil((50,000 MiB + 1) / 10,000) = 5 MiB + 1.
    assert part_size(10_000 * 5 * MiB + 1, 1e6, 0.1, **S3) == 5 * MiB + 1
    # The largest object 10,000 parts of 5 GiB can carry, and one byte beyond it.
    assert part_size(10_000 * 5 * GiB, 1e6, 0.1, **S3) == 5 * GiB
    with pytest.raises(ValueError, match="total_size"):
        part_size(10_000 * 5 * GiB + 1, 1e6, 0.1, **S3)
