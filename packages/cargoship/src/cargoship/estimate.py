"""What shipping a tree would store and cost, from a sample, without uploading anything.

``cargoship estimate DIR`` walks the tree with :func:`cargoship.scan.scan`
(the walk ``ship`` makes), finds identical files with the packer's own
:func:`cargoship.pack.plan_duplicates` (stored once: their copies become hard-link
members), and lays out the tar stream ``ship`` would write
(:class:`cargoship.sample.TarLayout`: its size is exact, from the scan alone):

* the sample is up to ``sample_bytes`` of that stream, headers and padding with
  the data, taken by :mod:`cargoship.sample` (whole frames of the archive, evenly
  spaced across it: the sampler ``ship --dry-run`` uses too), so every part of a
  large tree is represented and the same tree always gives the same sample (and
  the same figures);
* each frame is compressed on its own with the chosen codec and level, as the
  archive's are; ``ratio`` = sampled bytes / compressed bytes (1.0 for ``none``).

``projected_bytes`` = the stream's bytes / ratio: the archive object. The
member index and the inventory are left out (about 40 and 400 bytes per file,
in STANDARD). ``monthly_cost`` prices ``projected_bytes`` as one object in each
storage class of :class:`s3opt.pricing.PriceTable`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from blobcodec import get_codec
from cargoship.inventory import EntryType
from cargoship.pack import plan_duplicates
from cargoship.sample import SAMPLE_BYTES, TarLayout, measure_ratio
from cargoship.scan import scan
from cargoship.source_table import SourceTable
from s3opt.pricing import PriceTable

__all__ = ["Estimate", "estimate"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Estimate:
    """The projection for one tree and codec.

    ``files`` and ``bytes_in`` count regular files; ``dedup_bytes`` are the bytes
    of copies stored as hard links instead; ``tar_bytes`` is the size of the tar
    stream ``ship`` would compress, ``sampled_bytes`` and ``ratio`` its sample's;
    ``monthly_cost`` maps storage class to dollars per month for ``projected_bytes``.
    """

    files: int
    bytes_in: int
    sampled_bytes: int
    ratio: float
    dedup_bytes: int
    tar_bytes: int
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
    get_codec(compression, level)  # a bad codec or level is refused before the tree is read

    def unreadable(path: Path, exc: OSError) -> None:
        _logger.warning("estimate: skipping unreadable %s: %s", path, exc.strerror or exc)

    entries = SourceTable(source, scan(source, on_unreadable=unreadable))
    links = plan_duplicates(entries).copies(entries)
    layout = TarLayout(entries, links)
    sampled, ratio = measure_ratio(layout.frames(sample_bytes), compression, level)
    projected = math.ceil(layout.size / ratio)
    files = bytes_in = dedup_bytes = 0
    for entry in entries:
        if entry.type is EntryType.FILE:
            files += 1
            bytes_in += entry.size
            if entry.name in links:
                dedup_bytes += entry.size
    prices = PriceTable.load()
    return Estimate(
        files=files,
        bytes_in=bytes_in,
        sampled_bytes=sampled,
        ratio=ratio,
        dedup_bytes=dedup_bytes,
        tar_bytes=layout.size,
        projected_bytes=projected,
        monthly_cost={
            storage_class: prices.monthly_storage(projected, 1, storage_class)
            for storage_class in prices.storage_classes
        },
    )
