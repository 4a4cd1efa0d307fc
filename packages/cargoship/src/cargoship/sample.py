"""The content sample every compressibility figure comes from: ``estimate``, ``ship --dry-run``
and ``ship --compression auto``.

The sample is ``sample_bytes`` taken as blocks of :data:`SAMPLE_BLOCK` contiguous
bytes at evenly spaced positions of the files' concatenated contents, in scan
order (the order ``ship`` writes them into the tar stream); a block that
reaches the end of a file goes on into the next, as the tar stream does. A
tree holding no more than ``sample_bytes`` is read whole.

Why this method (it replaced a second sampler that took the first 256 KiB of
evenly spaced *files*): what an archive stores is a sum over bytes, so the
sample must weigh each byte equally. Counting files instead lets a few large
files that dominate the size (a video among thousands of small text files)
almost vanish from the sample, and reading only file heads measures headers
rather than bodies. Spreading blocks over the bytes is a systematic sample of
exactly what the compressor will see; the same tree always gives the same
sample, and ``estimate``'s ratio stays within 5% of the ``zstd`` tool's on the
same bytes (tested).
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

from blobcodec import choose, get_codec
from cargoship.inventory import EntryType
from cargoship.scan import SourceEntry

__all__ = [
    "CHOICE_SAMPLE_BYTES",
    "SAMPLE_BLOCK",
    "SAMPLE_BYTES",
    "choose_codec",
    "measure_ratio",
    "read_sample",
    "sample_blocks",
]

_logger = logging.getLogger(__name__)

SAMPLE_BLOCK: Final = 256 * 1024
"""Contiguous bytes read at each sampled position: long enough for a compressor to find repeats."""
SAMPLE_BYTES: Final = 64 << 20
"""Bytes sampled for a ratio (``estimate``, ``ship --dry-run``); streamed, never held at once."""
CHOICE_SAMPLE_BYTES: Final = 8 << 20
"""Bytes sampled, and held in memory, for ``--compression auto`` (:func:`blobcodec.choose`)."""


def sample_blocks(
    sizes: Sequence[int], sample_bytes: int, block: int = SAMPLE_BLOCK
) -> Iterator[tuple[int, int, int]]:
    """``(file index, offset, length)`` pieces to read from files of ``sizes``, in order.

    Every byte, ``block`` at a time per file, when the files hold at most
    ``sample_bytes``; otherwise ``sample_bytes // block`` (at least one) blocks
    of ``block`` bytes of the concatenation starting at evenly spaced positions,
    each split into pieces where it crosses from one file into the next (and
    cut at the end of the last file).
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
        end = min(position + block, total)
        while start + sizes[index] <= position:
            start += sizes[index]
            index += 1
        piece_index, piece_start = index, start
        while position < end:
            size = sizes[piece_index]
            length = min(end, piece_start + size) - position
            if length > 0:
                yield piece_index, position - piece_start, length
                position += length
            piece_start += size
            piece_index += 1


def _read(entry: SourceEntry, offset: int, length: int) -> bytes | None:
    """``length`` bytes of the file from ``offset``; None (logged) if it cannot be read."""
    try:
        with entry.path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(length)
    except OSError as exc:
        _logger.warning("not sampled: cannot read %s: %s", entry.path, exc.strerror or exc)
        return None


def read_sample(entries: Iterable[SourceEntry], sample_bytes: int) -> Iterator[bytes]:
    """The sampled pieces of the regular files among ``entries`` (see the module docstring).

    ``entries`` is read twice (a collection, not an iterator): for the sizes, then for
    the files sampled, in order. Files that cannot be read now are logged and passed over.
    """
    if iter(entries) is entries:
        raise TypeError("read_sample reads its entries twice: pass a collection")
    sizes = array("q", (entry.size for entry in _nonempty_files(entries)))
    files = enumerate(_nonempty_files(entries))
    index, entry = -1, None
    for wanted, offset, length in sample_blocks(sizes, sample_bytes):
        while index < wanted:  # sample_blocks goes through the files in order
            index, entry = next(files)
        assert entry is not None
        if data := _read(entry, offset, length):
            yield data


def _nonempty_files(entries: Iterable[SourceEntry]) -> Iterator[SourceEntry]:
    return (entry for entry in entries if entry.type is EntryType.FILE and entry.size)


def measure_ratio(
    entries: Iterable[SourceEntry],
    compression: str,
    level: int | None,
    sample_bytes: int = SAMPLE_BYTES,
) -> tuple[int, float]:
    """Bytes sampled and their uncompressed / compressed size with that codec and level,
    compressed as one stream; ``(0, 1.0)`` for ``none`` or nothing to sample.

    Unknown codecs and levels raise as :func:`blobcodec.get_codec` does.
    """
    codec = get_codec(compression, level)  # refuses a bad codec or level before any reading
    if compression == "none":
        return 0, 1.0
    compressor = codec.compressor()
    sampled = compressed = 0
    for data in read_sample(entries, sample_bytes):
        sampled += len(data)
        compressed += len(compressor.compress(data))
    compressed += len(compressor.flush())
    if sampled == 0:
        return 0, 1.0
    return sampled, sampled / compressed


def choose_codec(
    entries: Iterable[SourceEntry], sample_bytes: int = CHOICE_SAMPLE_BYTES
) -> tuple[str, int | None]:
    """The codec and level :func:`blobcodec.choose` ("balanced") picks for the sample of
    ``entries``; zstd at its default level when there is nothing to measure."""
    sample = b"".join(read_sample(entries, sample_bytes))
    if not sample:
        return "zstd", None
    choice = choose(sample)
    _logger.info("compression auto: %s", choice.reason)
    return choice.codec, choice.level
