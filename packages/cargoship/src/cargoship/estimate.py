"""What shipping a tree would store and cost, from a sample, without uploading anything.

``cargoship estimate DIR`` walks the tree with :func:`cargoship.scan.scan`
(the walk ``ship`` makes), finds identical files with the packer's own
:func:`cargoship.pack.plan_duplicates` (stored
once, so their copies cost nothing), and measures compressibility on a
sample of the remaining bytes:

* the sample is up to ``sample_bytes`` taken as blocks at evenly spaced
  offsets across the unique files' bytes, in scan order, so every part of
  a large tree is represented and the same tree always gives the same
  sample (and the same figures);
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from blobcodec import get_codec
from cargoship.inventory import EntryType
from cargoship.pack import plan_duplicates
from cargoship.scan import SourceEntry, scan
from s3opt.pricing import PriceTable

__all__ = ["SAMPLE_BLOCK", "Estimate", "estimate", "sample_blocks"]

_logger = logging.getLogger(__name__)

SAMPLE_BLOCK: Final = 256 * 1024
"""Bytes read at each sampled offset: long enough for a compressor to find repeats."""


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


def sample_blocks(
    sizes: Sequence[int], sample_bytes: int, block: int = SAMPLE_BLOCK
) -> Iterator[tuple[int, int, int]]:
    """``(file index, offset, length)`` of the blocks to read from files of ``sizes``.

    Every byte, ``block`` at a time, when the files hold at most ``sample_bytes``;
    otherwise ``sample_bytes // block`` blocks starting at evenly spaced positions
    of the files' concatenated bytes, each cut at the end of its file.
    """
    total = sum(sizes)
    if total <= sample_bytes:
        for index, size in enumerate(sizes):
            for offset in range(0, size, block):
                yield index, offset, min(block, size - offset)
        return
    count = max(1, sample_bytes // block)
    index = 0
    start = 0  # position of file ``index``'s first byte in the concatenation
    for number in range(count):
        position = number * total // count
        while start + sizes[index] <= position:
            start += sizes[index]
            index += 1
        offset = position - start
        yield index, offset, min(block, sizes[index] - offset)


def _read(path: Path, offset: int, length: int) -> bytes | None:
    """``length`` bytes of ``path`` from ``offset``; ``None`` (logged) if it cannot be read."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(length)
    except OSError as exc:
        _logger.warning("estimate: cannot read %s: %s", path, exc.strerror or exc)
        return None


def _measure(
    files: Sequence[SourceEntry], compression: str, level: int | None, sample_bytes: int
) -> tuple[int, float]:
    """Sampled bytes and the ratio the codec achieves on them."""
    if compression == "none":
        get_codec(compression, level)  # refuses a level for "none" as ship would
        return 0, 1.0
    compressor = get_codec(compression, level).compressor()
    sampled = 0
    compressed = 0
    for index, offset, length in sample_blocks([f.size for f in files], sample_bytes):
        data = _read(files[index].path, offset, length)
        if data:
            sampled += len(data)
            compressed += len(compressor.compress(data))
    compressed += len(compressor.flush())
    if sampled == 0:
        return 0, 1.0
    return sampled, sampled / compressed


def estimate(
    source: Path,
    *,
    compression: str = "zstd",
    level: int | None = None,
    sample_bytes: int = 64 << 20,
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
    sampled, ratio = _measure(unique, compression, level, sample_bytes)
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
