"""A bounded sample of a tree's file contents, measured by ``auto`` and ``--dry-run``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from blobcodec import choose, get_codec
from cargoship.inventory import EntryType
from cargoship.scan import SourceEntry

__all__ = ["PIECE_BYTES", "SAMPLE_BYTES", "choose_codec", "compressed_ratio", "sample_tree"]

_logger = logging.getLogger(__name__)

SAMPLE_BYTES: Final = 8 << 20
"""Most bytes read for a sample."""
PIECE_BYTES: Final = 256 << 10
"""Bytes taken from the start of each sampled file."""


def sample_tree(entries: Sequence[SourceEntry], budget: int = SAMPLE_BYTES) -> bytes:
    """Up to ``budget`` bytes: the first :data:`PIECE_BYTES` of files spread evenly through
    ``entries`` (every file when few enough). Files that cannot be read are passed over."""
    files = [entry for entry in entries if entry.type is EntryType.FILE and entry.size]
    wanted = max(1, budget // PIECE_BYTES)
    stride = max(1, len(files) // wanted)
    sample = bytearray()
    for entry in files[::stride]:
        if len(sample) >= budget:
            break
        try:
            with entry.path.open("rb") as file:
                sample += file.read(min(PIECE_BYTES, budget - len(sample)))
        except OSError as exc:
            _logger.debug("not sampled: %s: %s", entry.path, exc)
    return bytes(sample)


def choose_codec(sample: bytes) -> tuple[str, int | None]:
    """The codec and level :func:`blobcodec.choose` ("balanced") picks for ``sample``;
    zstd at its default level when there is nothing to measure."""
    if not sample:
        return "zstd", None
    choice = choose(sample)
    _logger.info("compression auto: %s", choice.reason)
    return choice.codec, choice.level


def compressed_ratio(sample: bytes, compression: str, level: int | None) -> float:
    """Uncompressed over compressed size of ``sample`` with that codec (1.0 for no sample)."""
    if not sample:
        return 1.0
    return len(sample) / max(1, len(get_codec(compression, level).compress(sample)))
