"""Benchmark: blobcodec's streaming zstd and lz4 against the zstd and lz4 command-line tools.

Builds a corpus of real files from this machine (Python standard library
source, ELF binaries from /usr/bin and /usr/lib, already-compressed files such
as .gz/.zip/.whl/.xz found under /usr), chosen deterministically (sorted
paths, fixed shares), and writes it to one temporary file. Then, pinned to one
core, it compresses and decompresses that file with blobcodec's streaming API
(``compress_stream`` / ``decompress_stream``, file to file) and with
``zstd -3 -T1`` and ``lz4 -1``, and prints MB/s and ratio side by side with the
ratio of the speeds. Finally multi-threaded zstd (``threads=-1``) is compared
with ``zstd -3 -T0``, both on every core.

    python benchmarks/compression_codecs.py              # 256 MiB corpus
    python benchmarks/compression_codecs.py --size 32    # smaller corpus
    python benchmarks/compression_codecs.py --json       # one JSON document on stdout
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from blobcodec.lz4_codec import Lz4Codec
from blobcodec.protocols import Codec
from blobcodec.streams import compress_stream, decompress_stream
from blobcodec.zstd_codec import ZstdCodec

MiB = 1 << 20
SHARES = {"text": 0.4, "binary": 0.4, "compressed": 0.2}
COMPRESSED_SUFFIXES = (".gz", ".zip", ".whl", ".xz", ".zst", ".bz2", ".jar", ".png", ".jpg")
MIN_FILE = 4096
MAX_FILE = 4 * MiB  # at most this much of one file, so each share holds many files


@dataclass
class Part:
    """One share of the corpus."""

    kind: str
    files: int
    bytes: int


@dataclass
class Row:
    """One measured operation: blobcodec against the tool."""

    operation: str
    cores: str
    blobcodec_mb_per_s: float
    tool: str
    tool_mb_per_s: float
    blobcodec_ratio: float | None
    tool_ratio: float | None

    @property
    def speed_ratio(self) -> float:
        return self.blobcodec_mb_per_s / self.tool_mb_per_s


def _walk_sorted(root: Path) -> Iterator[Path]:
    """Regular files under ``root`` in sorted order, not following symlinks."""
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        for name in sorted(files):
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                yield path


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _candidates(kind: str) -> Iterator[Path]:
    if kind == "text":
        yield from (
            p for p in _walk_sorted(Path(sysconfig.get_paths()["stdlib"])) if p.suffix == ".py"
        )
    elif kind == "binary":
        for root in (Path("/usr/bin"), Path("/usr/lib")):
            yield from (p for p in _walk_sorted(root) if _is_elf(p))
    else:
        yield from (p for p in _walk_sorted(Path("/usr")) if p.suffix in COMPRESSED_SUFFIXES)


def build_corpus(path: Path, size: int) -> list[Part]:
    """Write ``size`` bytes of real files to ``path``: text, binaries, compressed files."""
    parts = []
    with path.open("wb") as out:
        for kind, share in SHARES.items():
            budget = int(size * share) if kind != "compressed" else size - out.tell()
            files = written = 0
            for candidate in _candidates(kind):
                if written >= budget:
                    break
                try:
                    data = candidate.read_bytes()
                except OSError:
                    continue
                if len(data) < MIN_FILE:
                    continue
                data = data[: min(budget - written, MAX_FILE)]
                out.write(data)
                written += len(data)
                files += 1
            parts.append(Part(kind, files, written))
    return parts


def _pin_to_one_core() -> set[int]:
    every = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(every)})
    return every


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _stream_file(codec: Codec, source: Path, target: Path, *, compress: bool) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        (compress_stream if compress else decompress_stream)(codec, src, dst)


def _tool(args: list[str], source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        subprocess.run(args, stdin=src, stdout=dst, check=True)


def _measure_pair(
    label: str,
    cores: str,
    codec: Codec,
    tool_name: str,
    compress_args: list[str],
    decompress_args: list[str],
    corpus: Path,
    work: Path,
) -> list[Row]:
    size = corpus.stat().st_size
    ours, theirs = work / "ours.out", work / "theirs.out"
    ours_back, theirs_back = work / "ours.back", work / "theirs.back"
    t_ours = _timed(lambda: _stream_file(codec, corpus, ours, compress=True))
    t_theirs = _timed(lambda: _tool(compress_args, corpus, theirs))
    rows = [
        Row(
            f"compress {label}",
            cores,
            size / t_ours / 1e6,
            tool_name,
            size / t_theirs / 1e6,
            size / ours.stat().st_size,
            size / theirs.stat().st_size,
        )
    ]
    # Each side decompresses its own output; both must give the corpus back.
    t_ours = _timed(lambda: _stream_file(codec, ours, ours_back, compress=False))
    t_theirs = _timed(lambda: _tool(decompress_args, theirs, theirs_back))
    for back in (ours_back, theirs_back):
        if back.stat().st_size != size:
            raise SystemExit(f"round trip of {label} through {back.name} lost data")
    rows.append(
        Row(
            f"decompress {label}",
            cores,
            size / t_ours / 1e6,
            tool_name,
            size / t_theirs / 1e6,
            None,
            None,
        )
    )
    for path in (ours, theirs, ours_back, theirs_back):
        path.unlink()
    return rows


def run(size: int, work: Path) -> tuple[list[Part], list[Row]]:
    corpus = work / "corpus.bin"
    parts = build_corpus(corpus, size)
    zstd, lz4 = shutil.which("zstd") or "/usr/bin/zstd", shutil.which("lz4") or "/usr/bin/lz4"
    every_core = _pin_to_one_core()
    try:
        rows = _measure_pair(
            "zstd -3",
            "1",
            ZstdCodec(3),
            "zstd -3 -T1",
            [zstd, "-3", "-T1", "-q", "-c"],
            [zstd, "-d", "-q", "-c"],
            corpus,
            work,
        )
        rows += _measure_pair(
            "lz4 -1",
            "1",
            Lz4Codec(1),
            "lz4 -1",
            [lz4, "-1", "-q", "-c"],
            [lz4, "-d", "-q", "-c"],
            corpus,
            work,
        )
    finally:
        os.sched_setaffinity(0, every_core)
    rows += _measure_pair(
        "zstd -3 threads=-1",
        str(len(every_core)),
        ZstdCodec(3, threads=-1),
        "zstd -3 -T0",
        [zstd, "-3", "-T0", "-q", "-c"],
        [zstd, "-d", "-q", "-c"],
        corpus,
        work,
    )
    return parts, rows


def print_table(size: int, parts: list[Part], rows: list[Row]) -> None:
    total = sum(p.bytes for p in parts)
    print(f"corpus: {total / MiB:.0f} MiB of real files (requested {size / MiB:.0f} MiB)")
    for part in parts:
        print(f"  {part.kind:<10} {part.bytes / MiB:8.1f} MiB from {part.files} files")
    header = (
        f"{'operation':<30}{'cores':>6}{'blobcodec MB/s':>16}{'tool':>14}{'tool MB/s':>11}"
        f"{'speed ratio':>13}{'ratio':>9}{'tool ratio':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = f"{r.blobcodec_ratio:.3f}" if r.blobcodec_ratio else "-"
        tool_ratio = f"{r.tool_ratio:.3f}" if r.tool_ratio else "-"
        print(
            f"{r.operation:<30}{r.cores:>6}{r.blobcodec_mb_per_s:>16.1f}{r.tool:>14}"
            f"{r.tool_mb_per_s:>11.1f}{r.speed_ratio:>13.2f}{ratio:>9}{tool_ratio:>12}"
        )
    print("speed ratio = blobcodec MB/s / tool MB/s (MB = 10**6 bytes of uncompressed data)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256, help="corpus size in MiB (default 256)")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of a table"
    )
    args = parser.parse_args(argv)
    if args.size <= 0:
        parser.error("--size must be positive")
    size = args.size * MiB
    with tempfile.TemporaryDirectory(prefix="blobcodec-bench-") as tmp:
        parts, rows = run(size, Path(tmp))
    if args.json:
        document = {
            "corpus": [asdict(p) for p in parts],
            "rows": [asdict(r) | {"speed_ratio": r.speed_ratio} for r in rows],
        }
        json.dump(document, sys.stdout, indent=2)
        print()
    else:
        print_table(size, parts, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
