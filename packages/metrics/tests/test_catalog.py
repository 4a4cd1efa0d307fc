"""The catalog follows OpenTelemetry's semantic-convention naming rules
(semantic-conventions docs/general/naming.md and metrics.md) and validates attributes."""

from __future__ import annotations

import re

import pytest

from opsmetrics import catalog
from opsmetrics.catalog import CATALOG, AttributeSpec, MetricKind, MetricSpec

# naming.md, note under "Recommendations for OpenTelemetry authors": lowercase Latin
# letters, digits, underscore and dot; start with a letter, end with a letter or digit,
# no two delimiters in a row.
SEMCONV_NAME = re.compile(r"[a-z][a-z0-9]*(?:[._][a-z0-9]+)*")
# metrics.md "Instrument units": UCUM case-sensitive codes, or a curly-brace annotation
# alone, in the grammatical singular.
UCUM_UNITS = {"s", "By", "By/s"}
ANNOTATION = re.compile(r"\{([a-z_]+)\}")
UNIT_WORDS = {"seconds", "second", "ms", "bytes", "byte", "total", "count", "per", "sec"}


@pytest.mark.parametrize("spec", CATALOG.values(), ids=list(CATALOG))
def test_names_follow_semconv_naming(spec: MetricSpec) -> None:
    assert SEMCONV_NAME.fullmatch(spec.name)
    assert spec.name.split(".")[0] in {"s3opt", "objectfs", "cargoship"}
    words = set(re.split(r"[._]", spec.name))
    # No unit in the name (metrics.md "Units"); no total / count on counters (naming.md).
    assert not words & UNIT_WORDS, spec.name
    for attribute in spec.attributes:
        assert SEMCONV_NAME.fullmatch(attribute.key)


@pytest.mark.parametrize("spec", CATALOG.values(), ids=list(CATALOG))
def test_units_are_ucum_or_singular_annotations(spec: MetricSpec) -> None:
    annotation = ANNOTATION.fullmatch(spec.unit)
    assert spec.unit in UCUM_UNITS or annotation, spec.unit
    if annotation:
        # naming.md "Pluralization": counters of discrete things are plural, the unit is not;
        # "Do not pluralize UpDownCounter names" (our gauges of counts).
        last = spec.name.rsplit(".", 1)[1]
        assert not annotation.group(1).endswith("s")
        if spec.kind is MetricKind.COUNTER:
            assert last.endswith("s")
        else:
            assert not last.endswith("s")
    if spec.name.endswith(".duration"):
        assert (spec.unit, spec.kind) == ("s", MetricKind.HISTOGRAM)


def test_catalog_is_keyed_by_name_and_lists_every_module_constant() -> None:
    constants = {
        value.name
        for value in vars(catalog).values()
        if isinstance(value, MetricSpec)  # every MetricSpec the module defines
    }
    assert constants == set(CATALOG)
    assert all(name == spec.name for name, spec in CATALOG.items())
    assert len(CATALOG) == 15


def test_bucket_boundaries_are_the_documented_ones() -> None:
    # docs/metrics.md: S3 requests 1 ms .. 60 s, filesystem operations 100 µs .. 60 s.
    s3: list[float] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
    ]  # fmt: skip
    fs: list[float] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
        1, 2.5, 5, 10, 30, 60,
    ]  # fmt: skip
    assert list(catalog.S3_REQUEST_DURATION.buckets) == s3
    assert list(catalog.FS_OPERATION_DURATION.buckets) == fs


def test_only_histograms_have_buckets() -> None:
    for spec in CATALOG.values():
        assert bool(spec.buckets) == (spec.kind is MetricKind.HISTOGRAM)


def test_spec_is_frozen() -> None:
    with pytest.raises(AttributeError):
        catalog.S3_REQUESTS.name = "other"  # type: ignore[misc]


def test_unknown_attribute_key_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"'s3opt.requests' has no attribute 'bucket'"):
        catalog.S3_REQUESTS.check_attributes({"rpc.method": "GetObject", "bucket": "b"})


def test_missing_required_attribute_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"needs attribute\(s\) rpc.method"):
        catalog.S3_REQUESTS.check_attributes({"http.response.status_code": 200})


def test_closed_value_sets_are_enforced() -> None:
    with pytest.raises(ValueError, match=r"must be one of l1, l2; got 'l3'"):
        catalog.CACHE_LOOKUPS.check_attributes(
            {"objectfs.cache.level": "l3", "objectfs.cache.result": "hit"}
        )
    with pytest.raises(ValueError, match="must be one of receive, transmit"):
        catalog.S3_IO.check_attributes({"network.io.direction": "upload"})


@pytest.mark.parametrize("value", ["", "Get Object", "a,b", "k=v", "x" * 65, "s3://bucket/key"])
def test_free_form_strings_must_be_short_identifiers(value: str) -> None:
    with pytest.raises(ValueError, match="short identifier"):
        catalog.S3_REQUESTS.check_attributes({"rpc.method": value})


def test_wrong_value_types_are_type_errors() -> None:
    with pytest.raises(TypeError, match=r"'http\.response\.status_code' takes int, got str"):
        catalog.S3_REQUESTS.check_attributes(
            {"rpc.method": "GetObject", "http.response.status_code": "200"}
        )
    with pytest.raises(TypeError, match="takes int, got bool"):
        catalog.S3_REQUESTS.check_attributes(
            {"rpc.method": "GetObject", "http.response.status_code": True}
        )


def test_valid_attributes_pass() -> None:
    catalog.S3_REQUESTS.check_attributes(
        {"rpc.method": "UploadPart", "http.response.status_code": 503, "error.type": "SlowDown"}
    )
    catalog.ARCHIVE_INPUT.check_attributes({})


def test_inconsistent_specs_are_rejected() -> None:
    key = AttributeSpec("a.b", str, "test")
    with pytest.raises(ValueError, match="twice"):
        MetricSpec("x.y", MetricKind.COUNTER, "By", "d", (key, key))
    with pytest.raises(ValueError, match="requires keys it does not allow"):
        MetricSpec("x.y", MetricKind.COUNTER, "By", "d", (key,), frozenset({"c.d"}))
    with pytest.raises(ValueError, match="buckets go with histograms"):
        MetricSpec("x.y", MetricKind.COUNTER, "By", "d", buckets=(1.0,))
    with pytest.raises(ValueError, match="buckets go with histograms"):
        MetricSpec("x.y", MetricKind.HISTOGRAM, "s", "d")
    with pytest.raises(ValueError, match="strictly increase"):
        MetricSpec("x.y", MetricKind.HISTOGRAM, "s", "d", buckets=(1.0, 1.0))
