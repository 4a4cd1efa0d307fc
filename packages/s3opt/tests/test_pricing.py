"""s3opt.pricing against figures computed by hand from the packaged price file's numbers.

The numbers below are the file's (us-east-1): STANDARD $0.023/GB-month, STANDARD_IA
$0.0125 with a 128 KiB minimum object, DEEP_ARCHIVE $0.00099 with 32 KiB + 8 KiB
(at STANDARD's price) per object, Deep Archive Bulk $0.0025/GB + $0.025 per 1,000
requests within 48 h. A GB is 2^30 bytes. If the file's prices change, so must these.
"""

from __future__ import annotations

import importlib.resources
from datetime import date
from pathlib import Path

import pytest
import yaml

from s3opt.errors import InvalidRestoreTierError, InvalidStorageClassError
from s3opt.pricing import PriceTable, Retrieval

GB = 2**30


@pytest.fixture(scope="module")
def prices() -> PriceTable:
    return PriceTable.load()


def test_the_packaged_file_says_where_and_when(prices: PriceTable) -> None:
    assert prices.source == "https://aws.amazon.com/s3/pricing/"
    assert (prices.currency, prices.region) == ("USD", "us-east-1")
    assert date.fromisoformat(prices.as_of).year >= 2025
    assert {"STANDARD", "STANDARD_IA", "GLACIER", "DEEP_ARCHIVE"} <= set(prices.storage_classes)


def test_standard_storage_is_size_times_rate(prices: PriceTable) -> None:
    # 100 GB at $0.023: $2.30; object count does not matter for STANDARD.
    assert prices.monthly_storage(100 * GB, 5_000, "STANDARD") == pytest.approx(2.30)


def test_small_infrequent_access_objects_are_billed_at_128_kib(prices: PriceTable) -> None:
    # 1,000 objects of 1 KiB each bill as 1,000 x 128 KiB = 128,000 KiB = 0.1220703125 GB,
    # x $0.0125 = $0.00152587890625.
    assert prices.monthly_storage(1000 * 1024, 1000, "STANDARD_IA") == pytest.approx(
        0.00152587890625
    )
    # Above the minimum, the size itself: 1 GB in 1,000 objects = $0.0125.
    assert prices.monthly_storage(GB, 1000, "STANDARD_IA") == pytest.approx(0.0125)


def test_deep_archive_adds_the_per_object_overhead(prices: PriceTable) -> None:
    # 1 TiB in 10,000 objects: 1024 GB x $0.00099 = $1.01376,
    # + 10,000 x 32 KiB = 0.30517578 GB x $0.00099 = $0.000302124,
    # + 10,000 x 8 KiB = 0.07629395 GB x $0.023 = $0.001754761.
    cost = prices.monthly_storage(1024 * GB, 10_000, "DEEP_ARCHIVE")
    assert cost == pytest.approx(1.01376 + 0.000302124 + 0.001754761, rel=1e-6)


def test_request_cost(prices: PriceTable) -> None:
    # GLACIER: 2,000 PUTs and 1,000 LISTs at $0.03/1,000 = $0.09; 10,000 GETs at $0.0004 = $0.004.
    assert prices.request_cost("GLACIER", puts=2000, lists=1000, gets=10_000) == pytest.approx(
        0.094
    )
    # 1,000,000 lifecycle transitions into DEEP_ARCHIVE at $0.05/1,000 = $50.
    assert prices.request_cost("DEEP_ARCHIVE", transitions=1_000_000) == pytest.approx(50.0)
    assert prices.request_cost("STANDARD") == 0.0


def test_retrieval_cost_and_time(prices: PriceTable) -> None:
    # 500 GB in 2,000 objects, Bulk: 500 x $0.0025 + 2 x $0.025 = $1.30, within 48 h.
    bulk = prices.retrieval(500 * GB, 2000, "DEEP_ARCHIVE", "Bulk")
    assert isinstance(bulk, Retrieval)
    assert (bulk.storage_class, bulk.tier, bulk.hours) == ("DEEP_ARCHIVE", "Bulk", 48.0)
    assert bulk.cost == pytest.approx(1.30)
    standard = prices.retrieval(500 * GB, 2000, "DEEP_ARCHIVE", "Standard")
    assert standard.cost == pytest.approx(10.2)  # 500 x $0.02 + 2 x $0.10
    assert standard.hours == 12.0
    expedited = prices.retrieval(GB, 1000, "GLACIER", "Expedited")
    assert expedited.cost == pytest.approx(0.03 + 10.0)
    assert expedited.hours < 0.1


def test_minimum_days(prices: PriceTable) -> None:
    assert [
        prices.minimum_days(c) for c in ("STANDARD", "STANDARD_IA", "GLACIER", "DEEP_ARCHIVE")
    ] == [
        0,
        30,
        90,
        180,
    ]


def test_unknown_names_are_refused_by_name(prices: PriceTable) -> None:
    with pytest.raises(InvalidStorageClassError, match="'COLD'"):
        prices.monthly_storage(1, 1, "COLD")
    with pytest.raises(ValueError, match="'EXPRESS_ONEZONE'"):  # a real class, not priced here
        prices.minimum_days("EXPRESS_ONEZONE")
    with pytest.raises(InvalidRestoreTierError, match="'Fast'"):
        prices.retrieval(1, 1, "GLACIER", "Fast")
    with pytest.raises(ValueError, match="'Expedited' is not offered for DEEP_ARCHIVE"):
        prices.retrieval(1, 1, "DEEP_ARCHIVE", "Expedited")
    with pytest.raises(ValueError, match="'STANDARD_IA' is not restored"):
        prices.retrieval(1, 1, "STANDARD_IA", "Bulk")
    with pytest.raises(ValueError, match="objects must be an integer >= 0"):
        prices.monthly_storage(1, -1, "STANDARD")


def test_a_file_of_ones_own(tmp_path: Path) -> None:
    packaged = importlib.resources.files("s3opt").joinpath("data/prices.yaml")
    raw = yaml.safe_load(packaged.read_text(encoding="utf-8"))
    raw["region"] = "eu-west-1"
    raw["classes"]["STANDARD"]["storage_gb_month"] = 0.024
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(raw))
    mine = PriceTable.load(path)
    assert mine.region == "eu-west-1"
    assert mine.monthly_storage(10 * GB, 1, "STANDARD") == pytest.approx(0.24)


@pytest.mark.parametrize(
    "text",
    ["not: [yaml", "[]", "as_of: '2026-01-01'\n", "classes: {COLD: {}}\n"],
)
def test_malformed_price_files_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match="malformed price file"):
        PriceTable.load(path)
    with pytest.raises(ValueError, match="cannot read price file"):
        PriceTable.load(tmp_path / "absent.yaml")
