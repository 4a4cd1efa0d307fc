"""Lifecycle rules: parsing durations, S3's rule constraints, merging, and real PUTs to moto."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from cargoship.errors import CargoshipError
from cargoship.lifecycle import (
    apply_lifecycle,
    build_rule,
    merge_rules,
    parse_days,
    plan_lifecycle,
    rule_id,
)
from s3opt import LocalStore, ObjectStore, S3Store
from s3opt.pricing import PriceTable

KIB = 1024
MIB = 1024 * KIB

OTHER_RULE = {
    "ID": "expire-logs",
    "Filter": {"Prefix": "logs/"},
    "Status": "Enabled",
    "Expiration": {"Days": 30},
}


@pytest.mark.parametrize(
    ("text", "days"),
    [("90d", 90), ("90", 90), ("12w", 84), ("6m", 180), ("1y", 365), (" 2Y ", 730), ("0d", 0)],
)
def test_parse_days_units(text: str, days: int) -> None:
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["", "d", "-5d", "1.5y", "3 months", "10h", "9x"])
def test_parse_days_refuses_and_names_the_text(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse_days(text)


def test_rule_shape_follows_the_s3_api() -> None:
    rule = build_rule("archives", archive_after_days=90, to="DEEP_ARCHIVE", expire_after_days=3650)
    assert rule == {
        "ID": "cargoship:archives/",
        "Filter": {"Prefix": "archives/"},
        "Status": "Enabled",
        "Transitions": [{"Days": 90, "StorageClass": "DEEP_ARCHIVE"}],
        "Expiration": {"Days": 3650},
    }
    assert "Expiration" not in build_rule("a/", archive_after_days=0, to="GLACIER")


def test_rule_id_stays_within_s3s_255_characters() -> None:
    long_prefix = "p" * 600 + "/"
    assert len(rule_id(long_prefix)) <= 255
    assert rule_id(long_prefix) != rule_id("p" * 601 + "/")
    assert rule_id("x/") == "cargoship:x/"


@pytest.mark.parametrize(
    ("days", "to", "expire", "message"),
    [
        (90, "STANDARD", None, "cannot transition to 'STANDARD'"),
        (90, "glacier", None, "cannot transition to 'glacier'"),
        (10, "STANDARD_IA", None, "at least 30 days"),
        (29, "ONEZONE_IA", None, "at least 30 days"),
        (-1, "GLACIER", None, "0 or more"),
        (90, "DEEP_ARCHIVE", 90, "after the transition"),
        (90, "DEEP_ARCHIVE", 30, "after the transition"),
    ],
)
def test_rules_s3_would_refuse_are_refused(
    days: int, to: str, expire: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_rule("p/", archive_after_days=days, to=to, expire_after_days=expire)


def test_ia_at_thirty_days_is_allowed() -> None:
    rule = build_rule("p/", archive_after_days=30, to="STANDARD_IA")
    assert rule["Transitions"] == [{"Days": 30, "StorageClass": "STANDARD_IA"}]


def test_early_deletion_is_warned_not_refused(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cargoship.lifecycle"):
        build_rule(
            "p/", archive_after_days=10, to="DEEP_ARCHIVE", expire_after_days=100, minimum_days=180
        )
    assert "early deletion" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cargoship.lifecycle"):
        build_rule(
            "p/", archive_after_days=10, to="DEEP_ARCHIVE", expire_after_days=190, minimum_days=180
        )
    assert caplog.text == ""


def test_merge_replaces_our_rule_in_place_and_keeps_the_others() -> None:
    first = build_rule("a/", archive_after_days=90)
    tail = {"ID": "z", "Filter": {"Prefix": "z/"}, "Status": "Enabled", "Expiration": {"Days": 5}}
    merged = merge_rules([OTHER_RULE, first, tail], build_rule("a/", archive_after_days=7))
    assert [rule["ID"] for rule in merged] == ["expire-logs", "cargoship:a/", "z"]
    assert merged[1]["Transitions"] == [{"Days": 7, "StorageClass": "DEEP_ARCHIVE"}]
    assert merged[0] == OTHER_RULE
    assert merged[2] == tail


def test_overlapping_rules_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    whole_bucket = {"ID": "all", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 9}}
    nested = {
        "ID": "deeper",
        "Filter": {"And": {"Prefix": "a/b/", "ObjectSizeGreaterThan": 1}},
        "Status": "Enabled",
        "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}],
    }
    disabled = {**nested, "ID": "off", "Status": "Disabled"}
    with caplog.at_level(logging.WARNING, logger="cargoship.lifecycle"):
        merge_rules(
            [OTHER_RULE, whole_bucket, nested, disabled], build_rule("a/", archive_after_days=1)
        )
    assert "'all'" in caplog.text
    assert "'deeper'" in caplog.text
    assert "expire-logs" not in caplog.text
    assert "'off'" not in caplog.text


# -- against moto's S3 server ------------------------------------------------------------------


async def _rules(store: ObjectStore) -> list[dict[str, object]]:
    assert isinstance(store, S3Store)
    return await store.lifecycle_rules()


@pytest.mark.asyncio
async def test_plan_then_apply_merges_with_an_existing_rule(store: ObjectStore) -> None:
    assert isinstance(store, S3Store)
    await store.put_lifecycle_rules([OTHER_RULE])
    plan = await plan_lifecycle(store, prefix="archives", archive_after_days=90)
    assert await _rules(store) == [OTHER_RULE]  # planning (--dry-run) changes nothing
    await apply_lifecycle(store, plan)
    rules = await _rules(store)
    assert rules == [
        OTHER_RULE,
        {
            "ID": "cargoship:archives/",
            "Filter": {"Prefix": "archives/"},
            "Status": "Enabled",
            "Transitions": [{"Days": 90, "StorageClass": "DEEP_ARCHIVE"}],
        },
    ]


@pytest.mark.asyncio
async def test_rerunning_replaces_our_rule_instead_of_adding_one(store: ObjectStore) -> None:
    assert isinstance(store, S3Store)
    await store.put_lifecycle_rules([OTHER_RULE])
    await apply_lifecycle(
        store, await plan_lifecycle(store, prefix="archives/", archive_after_days=90)
    )
    await apply_lifecycle(
        store,
        await plan_lifecycle(
            store, prefix="archives/", archive_after_days=30, to="GLACIER", expire_after_days=400
        ),
    )
    rules = await _rules(store)
    assert [rule["ID"] for rule in rules] == ["expire-logs", "cargoship:archives/"]
    assert rules[1]["Transitions"] == [{"Days": 30, "StorageClass": "GLACIER"}]
    assert rules[1]["Expiration"] == {"Days": 400}


@pytest.mark.asyncio
async def test_projected_cost_before_and_after(store: ObjectStore) -> None:
    # 2 MiB goes to DEEP_ARCHIVE; 100 KiB is under S3's 128 KiB transition minimum and stays;
    # 1 MiB already in DEEP_ARCHIVE stays; 512 KiB in GLACIER moves down to DEEP_ARCHIVE.
    await store.put("big.tar.zst", b"a" * (2 * MIB))
    await store.put("small.inventory.yaml", b"b" * (100 * KIB))
    await store.put("old.tar.zst", b"c" * MIB, storage_class="DEEP_ARCHIVE")
    await store.put("mid.tar.zst", b"d" * (512 * KIB), storage_class="GLACIER")
    prices = PriceTable.load()
    plan = await plan_lifecycle(store, prefix="archives", archive_after_days=90)
    expected_before = (
        prices.monthly_storage(2 * MIB + 100 * KIB, 2, "STANDARD")
        + prices.monthly_storage(MIB, 1, "DEEP_ARCHIVE")
        + prices.monthly_storage(512 * KIB, 1, "GLACIER")
    )
    expected_after = prices.monthly_storage(100 * KIB, 1, "STANDARD") + prices.monthly_storage(
        2 * MIB + MIB + 512 * KIB, 3, "DEEP_ARCHIVE"
    )
    assert plan.cost_before == pytest.approx(expected_before)
    assert plan.cost_after == pytest.approx(expected_after)
    assert plan.cost_after < plan.cost_before


@pytest.mark.asyncio
async def test_a_directory_store_has_no_lifecycle(tmp_path: Path) -> None:
    with pytest.raises(CargoshipError, match="lifecycle"):
        await plan_lifecycle(LocalStore(tmp_path), prefix="", archive_after_days=90)
