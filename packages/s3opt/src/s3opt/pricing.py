"""What storing, requesting and restoring objects costs on S3, from one data file.

The figures live in ``s3opt/data/prices.yaml`` (shipped in the wheel), with the
date they were taken and their source, the AWS S3 pricing page: list prices of
one region, the first storage tier (first 50 TB a month). Tools estimate with
them; they are not a bill (no free tier, volume discounts, data transfer or
Intelligent-Tiering monitoring fees)::

    prices = PriceTable.load()
    prices.monthly_storage(500 * 2**30, 2_000, "DEEP_ARCHIVE")   # USD a month
    prices.retrieval(500 * 2**30, 2_000, "DEEP_ARCHIVE", "Bulk")  # cost, hours

How S3 bills what is modelled here (S3 User Guide, "Understanding and managing
Amazon S3 storage classes"; the pricing page's footnotes):

* storage per GB-month, a GB being 2^30 bytes;
* objects smaller than a class's minimum billable size (128 KiB for the
  Infrequent Access and Glacier Instant Retrieval classes) are billed as that size;
* each object in GLACIER or DEEP_ARCHIVE adds 32 KiB at the class's price and
  8 KiB at STANDARD's (its index and metadata);
* objects deleted or moved before a class's minimum duration are billed for it
  (:meth:`PriceTable.minimum_days`);
* a restore costs per GB and per 1,000 requests (one request per object), by tier.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from s3opt.protocols import RESTORE_TIERS, STORAGE_CLASSES, check_restore_tier, check_storage_class

__all__ = ["PriceTable", "Retrieval"]

PRICES_RESOURCE: Final = "data/prices.yaml"
"""The packaged price file, relative to the ``s3opt`` package."""


@dataclass(frozen=True)
class Retrieval:
    """A restore of ``objects`` objects from ``storage_class`` at ``tier``: its cost, and
    ``hours``, the longest S3 says it may take."""

    storage_class: str
    tier: str
    cost: float
    hours: float


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class _Requests(_Frozen):
    put: float = Field(ge=0)
    get: float = Field(ge=0)
    transition: float = Field(ge=0)


class _Overhead(_Frozen):
    class_bytes: int = Field(ge=0)
    standard_bytes: int = Field(ge=0)


class _Tier(_Frozen):
    per_gb: float = Field(ge=0)
    per_1000_requests: float = Field(ge=0)
    hours: float = Field(gt=0)


class _ClassPrices(_Frozen):
    storage_gb_month: float = Field(ge=0)
    minimum_days: int = Field(ge=0)
    minimum_object_bytes: int = Field(ge=0)
    requests: _Requests
    overhead: _Overhead | None = None
    retrieval: dict[str, _Tier] = Field(default_factory=dict)

    @field_validator("retrieval")
    @classmethod
    def _known_tiers(cls, value: dict[str, _Tier]) -> dict[str, _Tier]:
        for tier in value:
            check_restore_tier(tier)
        return value


class _PriceFile(_Frozen):
    as_of: str
    source: str
    currency: str
    region: str
    gb_bytes: int = Field(gt=0)
    classes: dict[str, _ClassPrices]

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: dict[str, _ClassPrices]) -> dict[str, _ClassPrices]:
        for name in value:
            check_storage_class(name)
        if "STANDARD" not in value:
            raise ValueError("STANDARD must be priced (Glacier overhead is billed at its price)")
        return value


class PriceTable:
    """S3 prices of one region, loaded from a price file (see the module doc)."""

    def __init__(self, prices: _PriceFile, origin: str) -> None:
        self._prices = prices
        self._origin = origin
        self.as_of: str = prices.as_of
        """The date the figures were taken (ISO 8601)."""
        self.source: str = prices.source
        """Where they were taken from (a URL)."""
        self.currency: str = prices.currency
        self.region: str = prices.region
        self.storage_classes: tuple[str, ...] = tuple(
            name for name in STORAGE_CLASSES if name in prices.classes
        )
        """The storage classes priced, in :data:`s3opt.protocols.STORAGE_CLASSES` order."""

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """The prices in ``path`` (default: the file shipped with s3opt).

        A file that is missing, not YAML, or not in the expected shape raises
        :class:`ValueError` naming it.
        """
        if path is None:
            resource = importlib.resources.files("s3opt").joinpath(PRICES_RESOURCE)
            origin, text = f"s3opt/{PRICES_RESOURCE}", resource.read_text(encoding="utf-8")
        else:
            origin = str(path)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"cannot read price file {origin!r}: {exc.strerror}") from None
        try:
            prices = _PriceFile.model_validate(yaml.safe_load(text))
        except (yaml.YAMLError, ValidationError) as exc:
            first = str(exc).splitlines()
            detail = "; ".join(line.strip() for line in first[1:3]) if first else ""
            raise ValueError(f"malformed price file {origin!r}: {detail}") from None
        return cls(prices, origin)

    def __repr__(self) -> str:
        return f"PriceTable({self._origin!r}, region={self.region!r}, as_of={self.as_of!r})"

    def _class(self, storage_class: str) -> _ClassPrices:
        check_storage_class(storage_class)
        prices = self._prices.classes.get(storage_class)
        if prices is None:
            raise ValueError(
                f"no prices for storage class {storage_class!r} in {self._origin}; priced: "
                f"{', '.join(self.storage_classes)}"
            )
        return prices

    def _gb(self, nbytes: float) -> float:
        return nbytes / self._prices.gb_bytes

    def monthly_storage(self, size: int, objects: int, storage_class: str) -> float:
        """A month of storing ``objects`` objects of ``size`` bytes in all.

        Objects below the class's minimum billable size count as that size; the
        total is taken as ``max(size, objects * minimum)``, exact when all objects
        are on the same side of the minimum. Glacier classes add their per-object
        overhead.
        """
        _check_counts(size=size, objects=objects)
        prices = self._class(storage_class)
        billable = max(size, objects * prices.minimum_object_bytes)
        cost = self._gb(billable) * prices.storage_gb_month
        if prices.overhead is not None:
            standard = self._prices.classes["STANDARD"].storage_gb_month
            cost += self._gb(objects * prices.overhead.class_bytes) * prices.storage_gb_month
            cost += self._gb(objects * prices.overhead.standard_bytes) * standard
        return cost

    def request_cost(
        self,
        storage_class: str,
        *,
        puts: int = 0,
        gets: int = 0,
        lists: int = 0,
        transitions: int = 0,
    ) -> float:
        """Requests on objects of ``storage_class``: PUT/COPY/POST and LIST at one rate, GET at
        another, and lifecycle ``transitions`` into the class."""
        _check_counts(puts=puts, gets=gets, lists=lists, transitions=transitions)
        rates = self._class(storage_class).requests
        return (
            (puts + lists) * rates.put + gets * rates.get + transitions * rates.transition
        ) / 1000

    def retrieval(self, size: int, objects: int, storage_class: str, tier: str) -> Retrieval:
        """Restoring ``objects`` objects (``size`` bytes in all) from an archive class at ``tier``.

        ``ValueError`` naming the class or tier when the class has no restores
        (only GLACIER and DEEP_ARCHIVE do) or does not offer the tier (DEEP_ARCHIVE
        has no Expedited).
        """
        _check_counts(size=size, objects=objects)
        check_restore_tier(tier)
        prices = self._class(storage_class)
        if not prices.retrieval:
            raise ValueError(
                f"storage class {storage_class!r} is not restored (its objects are readable "
                "at once); restores apply to GLACIER and DEEP_ARCHIVE"
            )
        rates = prices.retrieval.get(tier)
        if rates is None:
            offered = ", ".join(t for t in RESTORE_TIERS if t in prices.retrieval)
            raise ValueError(f"tier {tier!r} is not offered for {storage_class}; it has {offered}")
        cost = self._gb(size) * rates.per_gb + objects * rates.per_1000_requests / 1000
        return Retrieval(storage_class, tier, cost, rates.hours)

    def minimum_days(self, storage_class: str) -> int:
        """Days an object of ``storage_class`` is billed for at least (0: no minimum)."""
        return self._class(storage_class).minimum_days


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
