"""Lifecycle rules: parsing durations, S3's rule constraints, merging, and real PUTs to moto."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from cargoship.errors import CargoshipError
from cargoship.lifecycle import (
    abort_rule_id,
    apply_lifecycle,
    build_rules,
    expiry_rule_id,
    merge_rules,
    parse_days,
    plan_lifecycle,
    project_cost,
    rule_id,
)
from cargoship.ship import ShipOptions, ship
from s3opt import LocalStore, ObjectInfo, ObjectStore, S3Store
from s3opt.pricing import PriceTable

KIB = 1024
MIB = 1024 * KIB

ARCHIVE_TAG = {"Key": "cargoship-role", "Value": "archive"}
OUR_FILTER = {"And": {"Prefix": "archives/", "Tags": [ARCHIVE_TAG]}}


def abort_rule(prefix: str, days: int = 7) -> dict[str, object]:
    """The rule aborting incomplete uploads, as the S3 API Reference spells it."""
    return {
        "ID": f"cargoship-uploads:{prefix}",
        "Filter": {"Prefix": prefix},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
    }


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
    # S3 API Reference, LifecycleRuleFilter / LifecycleRuleAndOperator: Prefix AND Tags.
    rules = build_rules(
        "archives", archive_after_days=90, to="DEEP_ARCHIVE", expire_after_days=3650
    )
    assert rules == [
        {
            "ID": "cargoship:archives/",
            "Filter": OUR_FILTER,
            "Status": "Enabled",
            "Transitions": [{"Days": 90, "StorageClass": "DEEP_ARCHIVE"}],
        },
        {  # archive, index and inventory expire together
            "ID": "cargoship-expire:archives/",
            "Filter": {"Prefix": "archives/"},
            "Status": "Enabled",
            "Expiration": {"Days": 3650},
        },
        # A prefix alone: S3 refuses AbortIncompleteMultipartUpload in a rule with tags.
        abort_rule("archives/"),
    ]
    assert build_rules("a/", archive_after_days=0, to="GLACIER", abort_uploads_after_days=30) == [
        {
            "ID": "cargoship:a/",
            "Filter": {"And": {"Prefix": "a/", "Tags": [ARCHIVE_TAG]}},
            "Status": "Enabled",
            "Transitions": [{"Days": 0, "StorageClass": "GLACIER"}],
        },
        abort_rule("a/", 30),
    ]
    # The bucket's root: the tag alone (an And needs two conditions); uploads anywhere.
    root = build_rules("", archive_after_days=1)
    assert root[0]["Filter"] == {"Tag": ARCHIVE_TAG}
    assert root[1] == abort_rule("")


def test_rule_id_stays_within_s3s_255_characters() -> None:
    long_prefix = "p" * 600 + "/"
    assert len(rule_id(long_prefix)) <= 255
    assert rule_id(long_prefix) != rule_id("p" * 601 + "/")
    assert rule_id("x/") == "cargoship:x/"
    assert len(expiry_rule_id(long_prefix)) <= 255
    assert expiry_rule_id("x/") == "cargoship-expire:x/"
    assert len(abort_rule_id(long_prefix)) <= 255
    assert abort_rule_id("x/") == "cargoship-uploads:x/"


@pytest.mark.parametrize(
    ("days", "to", "expire", "abort", "message"),
    [
        (90, "STANDARD", None, 7, "cannot transition to 'STANDARD'"),
        (90, "glacier", None, 7, "cannot transition to 'glacier'"),
        (10, "STANDARD_IA", None, 7, "at least 30 days"),
        (29, "ONEZONE_IA", None, 7, "at least 30 days"),
        (-1, "GLACIER", None, 7, "0 or more"),
        (90, "DEEP_ARCHIVE", 90, 7, "after the transition"),
        (90, "DEEP_ARCHIVE", 30, 7, "after the transition"),
        (90, "DEEP_ARCHIVE", None, 0, "abort incomplete uploads after 0 days"),
        (90, "DEEP_ARCHIVE", None, -3, "1 or more"),
    ],
)
def test_rules_s3_would_refuse_are_refused(
    days: int, to: str, expire: int | None, abort: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_rules(
            "p/",
            archive_after_days=days,
            to=to,
            expire_after_days=expire,
            abort_uploads_after_days=abort,
        )


def test_ia_at_thirty_days_is_allowed() -> None:
    rule, _ = build_rules("p/", archive_after_days=30, to="STANDARD_IA")
    assert rule["Transitions"] == [{"Days": 30, "StorageClass": "STANDARD_IA"}]


def test_early_deletion_is_warned_not_refused(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cargoship.lifecycle"):
        build_rules(
            "p/", archive_after_days=10, to="DEEP_ARCHIVE", expire_after_days=100, minimum_days=180
        )
    assert "early deletion" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cargoship.lifecycle"):
        build_rules(
            "p/", archive_after_days=10, to="DEEP_ARCHIVE", expire_after_days=190, minimum_days=180
        )
    assert caplog.text == ""


def test_merge_replaces_our_rules_in_place_and_keeps_the_others() -> None:
    first = build_rules("a/", archive_after_days=90, expire_after_days=400)
    tail = {"ID": "z", "Filter": {"Prefix": "z/"}, "Status": "Enabled", "Expiration": {"Days": 5}}
    other_prefix = build_rules("b/", archive_after_days=1)
    existing = [OTHER_RULE, *first, *other_prefix, tail]
    merged = merge_rules(existing, build_rules("a/", archive_after_days=7), "a")
    # Our expiration rule is gone with the rerun that asked for none; b/'s rules are not ours.
    assert [rule["ID"] for rule in merged] == [
        "expire-logs",
        "cargoship:a/",
        "cargoship-uploads:a/",
        "cargoship:b/",
        "cargoship-uploads:b/",
        "z",
    ]
    assert merged[1]["Transitions"] == [{"Days": 7, "StorageClass": "DEEP_ARCHIVE"}]
    assert merged[0] == OTHER_RULE
    assert merged[3:] == [*other_prefix, tail]
    again = merge_rules(merged, build_rules("a/", archive_after_days=7, expire_after_days=9), "a/")
    assert [rule["ID"] for rule in again] == [
        "expire-logs",
        "cargoship:a/",
        "cargoship-expire:a/",
        "cargoship-uploads:a/",
        "cargoship:b/",
        "cargoship-uploads:b/",
        "z",
    ]


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
            [OTHER_RULE, whole_bucket, nested, disabled],
            build_rules("a/", archive_after_days=1, expire_after_days=2),
            "a/",
        )
    assert "'all'" in caplog.text
    assert "'deeper'" in caplog.text
    assert "expire-logs" not in caplog.text
    assert "'off'" not in caplog.text
    assert "'cargoship:a/'" not in caplog.text  # our rules overlap each other by design
    assert "'cargoship-expire:a/'" not in caplog.text
    assert "'cargoship-uploads:a/'" not in caplog.text


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
            "Filter": OUR_FILTER,
            "Status": "Enabled",
            "Transitions": [{"Days": 90, "StorageClass": "DEEP_ARCHIVE"}],
        },
        abort_rule("archives/"),
    ]


@pytest.mark.asyncio
async def test_the_plan_lists_the_uploads_left_pending_under_the_prefix(
    store: ObjectStore, boto3_client: Any, bucket: str
) -> None:
    assert isinstance(store, S3Store)
    assert (await plan_lifecycle(store, prefix="archives", archive_after_days=90)).pending == ()
    s3 = boto3_client  # a plain client: uploads an interrupted ship would have left
    s3.create_multipart_upload(Bucket=bucket, Key="archives/20260101T000000Z.tar.zst")
    s3.create_multipart_upload(Bucket=bucket, Key="archives/20260101T000000Z.inventory.yaml")
    s3.create_multipart_upload(Bucket=bucket, Key="elsewhere/x.bin")
    plan = await plan_lifecycle(store, prefix="archives", archive_after_days=90)
    assert sorted(upload.key for upload in plan.pending) == [
        "20260101T000000Z.inventory.yaml",
        "20260101T000000Z.tar.zst",
    ]
    assert all(upload.initiated is not None for upload in plan.pending)


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
            store,
            prefix="archives/",
            archive_after_days=30,
            to="GLACIER",
            expire_after_days=400,
            abort_uploads_after_days=14,
        ),
    )
    rules = await _rules(store)
    assert [rule["ID"] for rule in rules] == [
        "expire-logs",
        "cargoship:archives/",
        "cargoship-expire:archives/",
        "cargoship-uploads:archives/",
    ]
    assert rules[3] == abort_rule("archives/", 14)
    assert rules[1]["Transitions"] == [{"Days": 30, "StorageClass": "GLACIER"}]
    assert rules[1]["Filter"] == OUR_FILTER
    assert rules[2]["Expiration"] == {"Days": 400}
    assert rules[2]["Filter"] == {"Prefix": "archives/"}


@pytest.mark.asyncio
async def test_projected_cost_before_and_after(store: ObjectStore) -> None:
    # Tagged archive objects move: 2 MiB goes to DEEP_ARCHIVE; 100 KiB is under S3's 128 KiB
    # transition minimum and stays; 1 MiB already in DEEP_ARCHIVE stays. Untagged objects
    # stay: a 300 KiB index, an archive shipped before tagging, 512 KiB of other data.
    role = {"cargoship-role": "archive"}
    await store.put("20250101T000000Z.tar.zst", b"a" * (2 * MIB), tags=role)
    await store.put("20250102T000000Z.tar", b"b" * (100 * KIB), tags=role)
    await store.put("20250103T000000Z.tar.gz", b"c" * MIB, storage_class="DEEP_ARCHIVE", tags=role)
    await store.put("20250103T000000Z.index", b"e" * (300 * KIB))
    await store.put("20240101T000000Z.tar.zst", b"f" * (200 * KIB))  # shipped before tagging
    await store.put("notes/data.bin", b"d" * (512 * KIB), storage_class="GLACIER")
    prices = PriceTable.load()
    plan = await plan_lifecycle(store, prefix="archives", archive_after_days=90)
    expected_before = (
        prices.monthly_storage(2 * MIB + 600 * KIB, 4, "STANDARD")
        + prices.monthly_storage(MIB, 1, "DEEP_ARCHIVE")
        + prices.monthly_storage(512 * KIB, 1, "GLACIER")
    )
    expected_after = (
        prices.monthly_storage(600 * KIB, 3, "STANDARD")
        + prices.monthly_storage(2 * MIB + MIB, 2, "DEEP_ARCHIVE")
        + prices.monthly_storage(512 * KIB, 1, "GLACIER")
    )
    assert plan.cost_before == pytest.approx(expected_before)
    assert plan.cost_after == pytest.approx(expected_after)
    assert plan.cost_after < plan.cost_before
    assert plan.untagged == ("20240101T000000Z.tar.zst",)


def test_a_transition_moves_objects_only_down_the_waterfall() -> None:
    prices = PriceTable.load()
    glacier = ObjectInfo("a.tar.zst", 512 * KIB, "e", storage_class="GLACIER")
    deep = ObjectInfo("b.tar.zst", 512 * KIB, "e", storage_class="DEEP_ARCHIVE")
    moving = {"a.tar.zst", "b.tar.zst"}
    assert project_cost([glacier, deep], prices, to="DEEP_ARCHIVE", moving=moving) == (
        pytest.approx(prices.monthly_storage(MIB, 2, "DEEP_ARCHIVE"))
    )
    assert project_cost([glacier, deep], prices, to="GLACIER", moving=moving) == (
        pytest.approx(project_cost([glacier, deep], prices))
    )
    assert project_cost([glacier], prices, to="DEEP_ARCHIVE") == pytest.approx(
        prices.monthly_storage(512 * KIB, 1, "GLACIER")
    )


@pytest.mark.asyncio
async def test_ship_tags_only_the_archive_object_and_the_rule_matches_only_it(
    store: ObjectStore, sample_tree: Path
) -> None:
    assert isinstance(store, S3Store)
    shipped = await ship(store, sample_tree, ShipOptions(compression="none"))
    keys = shipped.keys
    assert await store.object_tags(keys.archive) == {"cargoship-role": "archive"}
    assert await store.object_tags(keys.index) == {}
    assert await store.object_tags(keys.inventory) == {}
    plan = await plan_lifecycle(store, prefix="archives", archive_after_days=90)
    assert plan.untagged == ()
    await apply_lifecycle(store, plan)
    # S3's filter semantics: a key matches And when it has the prefix and every listed tag.
    rule, uploads = await _rules(store)
    assert uploads == abort_rule("archives/")
    conditions = rule["Filter"]["And"]  # type: ignore[index]
    for key, moves in ((keys.archive, True), (keys.index, False), (keys.inventory, False)):
        tags = await store.object_tags(key)
        matches = ("archives/" + key).startswith(conditions["Prefix"]) and all(
            tags.get(tag["Key"]) == tag["Value"] for tag in conditions["Tags"]
        )
        assert matches is moves, key


@pytest.mark.asyncio
async def test_a_directory_store_has_no_lifecycle(tmp_path: Path) -> None:
    with pytest.raises(CargoshipError, match="lifecycle"):
        await plan_lifecycle(LocalStore(tmp_path), prefix="", archive_after_days=90)
