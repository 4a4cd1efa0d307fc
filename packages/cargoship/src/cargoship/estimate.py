"""What shipping a tree would store and cost, from a sample, without uploading anything.

``cargoship estimate DIR`` walks the tree with :func:`cargoship.scan.scan`
(the walk ``ship`` makes), finds identical files with the packer's own
:func:`cargoship.pack.plan_duplicates` (stored
once, so their copies cost nothing), and measures compressibility on a
sample of the remaining bytes:

* the sample is up to ``sample_bytes`` of the unique files' bytes, taken by
  :mod:`cargoship.sample` (blocks evenly spaced across the bytes, in scan
  order: the sampler ``ship --dry-run`` and ``--compression auto`` use too),
  so every part of a large tree is represented and the same tree always
  gives the same sample (and the same figures);
* the sample is compressed as one stream with the chosen codec and level;
  ``ratio`` = sampled bytes / compressed bytes (1.0 for ``none``).

``projected_bytes`` = unique bytes / ratio: the archive's content. The tar
headers (512 bytes per entry before compression), the member index and the
inventory are left out; they matter only for trees of very many tiny files.
``monthly_cost`` prices ``projected_bytes`` as one object in each storage
class of :class:`s3opt.pricing.PriceTable`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from cargoship.inventory import EntryType
from cargoship.pack import plan_duplicates
from cargoship.sample import SAMPLE_BYTES, measure_ratio
from cargoship.scan import scan
from s3opt.pricing import PriceTable

__all__ = ["Estimate", "estimate"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Estimate:
    """The projection for one tree and codec.

    ``files`` and ``bytes_in`` count regular files; ``dedup_bytes`` are the bytes
    of copies stored as hard links instead; ``monthly_cost`` maps storage class
    to dollars per month for ``projected_bytes``.
    """

    files: int
    bytes_in: int
    sampled_bytes: int
    ratio: float
    dedup_bytes: int
    projected_bytes: int
    monthly_cost: dict[str, float]


def estimate(
    source: Path,
    *,
    compression: str = "zstd",
    level: int | None = None,
    sample_bytes: int = SAMPLE_BYTES,
) -> Estimate:
    """Project what ``cargoship ship source`` would store with ``compression`` at ``level``.

    Unreadable files and directories are logged and left out, as ship's
    ``--skip-unreadable`` would. Unknown codecs raise
    :class:`blobcodec.errors.UnknownCodecError`; ``sample_bytes`` below 1, ValueError.
    """
    if sample_bytes < 1:
        raise ValueError(f"sample_bytes must be >= 1, got {sample_bytes}")

    def unreadable(path: Path, exc: OSError) -> None:
        _logger.warning("estimate: skipping unreadable %s: %s", path, exc.strerror or exc)

    files = [
        entry for entry in scan(source, on_unreadable=unreadable) if entry.type is EntryType.FILE
    ]
    linked = plan_duplicates(files).copies(files)
    unique = [entry for entry in files if entry.name not in linked]
    unique_bytes = sum(entry.size for entry in unique)
    sampled, ratio = measure_ratio(unique, compression, level, sample_bytes)
    projected = math.ceil(unique_bytes / ratio)
    prices = PriceTable.load()
    return Estimate(
        files=len(files),
        bytes_in=sum(entry.size for entry in files),
        sampled_bytes=sampled,
        ratio=ratio,
        dedup_bytes=sum(entry.size for entry in files) - unique_bytes,
        projected_bytes=projected,
        monthly_cost={
            storage_class: prices.monthly_storage(projected, 1, storage_class)
            for storage_class in prices.storage_classes
        },
    )
