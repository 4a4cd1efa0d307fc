"""Issue 5's "Speed" benchmark: archiving a tree to S3 and restoring it, through the WAN profiles.

One run puts, side by side on the same moto server behind the same emulated path:

* ``cargoship ship DIR s3://...`` / ``cargoship restore``;
* ``tar --zstd -cf - DIR | aws s3 cp - s3://...`` / ``aws s3 cp s3://... - | tar --zstd -xf -``
  (GNU tar's ``--zstd`` runs ``zstd`` at its default level 3);
* ``restic backup`` / ``restic restore latest`` to an S3 repository on the same server.

Two datasets built from files on this machine: ``big`` (at least 1 GiB: two copies of the
Python standard library, this checkout's site-packages and some large shared libraries) and
``small`` (20,000 files of at most 64 KiB from the standard library and site-packages). Each
row: wall time, bytes stored (every object under the tool's prefix, listed from moto
directly), peak memory of the command and its children (``measure.py``). Every restore is
compared with the source tree (content of every file). Then one ``cargoship restore
--include`` of a single file of the big archive, with the bytes it fetched (of the archive
and index; of the inventory and its page table apart: ``inventory_bytes``), and for the
stored-size target ``zstd -3`` of cargoship's own tar (``--compression none``: same headers,
same deduplicated members) and of a GNU tar of each dataset (no deduplication).

    python benchmarks/archive_s3.py                       # big + small, wan + far
    python benchmarks/archive_s3.py --datasets small --profiles wan --big-size 256
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import Measured, run_measured
from s3server import S3Server
from tools import aws_env, find_aws, find_debian_tool
from wanem import WanEmulatorProcess

__all__ = ["Row", "build_dataset", "main"]

MiB = 1024 * 1024
BUCKET = "bench"
TIMEOUT = 3 * 3600
TOOLS = ("cargoship", "tar+aws", "restic")
RESTIC_PASSWORD = "benchmark-only"


@dataclass
class Row:
    dataset: str
    profile: str
    tool: str
    direction: str
    seconds: float | None = None
    stored_bytes: int | None = None
    peak_rss_mib: float = 0.0
    ok: bool = False
    error: str = ""


# --- datasets ------------------------------------------------------------------------------


def _copy_until(sources: list[Path], dest: Path, limit: int, *, max_file: int | None = None) -> int:
    """Copy regular files (and symlinks as symlinks) from ``sources`` until ``limit`` bytes."""
    copied = 0
    for number, source in enumerate(sources):
        for root, dirs, files in os.walk(source):
            dirs.sort()
            for name in sorted(files):
                path = Path(root, name)
                if not path.is_file() or path.is_symlink():
                    continue
                size = path.stat().st_size
                if max_file is not None and size > max_file:
                    continue
                target = dest / f"{number}-{source.name}" / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                copied += size
                if copied >= limit:
                    return copied
    return copied


def build_dataset(name: str, dest: Path, *, big_bytes: int, small_files: int) -> tuple[int, int]:
    """Build dataset ``name`` under ``dest``; return (files, bytes)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    if name == "big":
        libs = Path("/usr/lib/x86_64-linux-gnu")
        sources = [stdlib, stdlib, Path(sysconfig.get_paths()["purelib"]), libs]
        _copy_until(sources, dest, big_bytes)
    else:
        count = 0
        sources = [stdlib, Path(sysconfig.get_paths()["purelib"])]
        for number, source in enumerate(sources):
            for path in sorted(source.rglob("*")):
                if (number == 0 and "site-packages" in path.parts) or path.is_symlink():
                    continue
                if not path.is_file() or path.stat().st_size > 64 * 1024:
                    continue
                target = dest / f"{number}-{source.name}" / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                count += 1
                if count >= small_files:
                    break
            if count >= small_files:
                break
        if count < small_files:
            raise SystemExit(f"archive_s3: only {count} small files found, {small_files} asked")
    files = [p for p in dest.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def _zstd3_size(tree: Path) -> int:
    """Bytes of ``tar -cf - TREE | zstd -3``: GNU tar, no deduplication."""
    tar = subprocess.Popen(["tar", "-cf", "-", "-C", str(tree), "."], stdout=subprocess.PIPE)
    zstd = subprocess.run(
        ["zstd", "-3", "-T0", "-c"], stdin=tar.stdout, capture_output=True, check=True
    )
    tar.wait()
    return len(zstd.stdout)


def _own_tar_zstd3_size(tree: Path, scratch: Path) -> int:
    """Bytes of ``zstd -3`` of the very tar cargoship writes (``--compression none``).

    The stored-size target compares like with like: the same tar stream (same headers, same
    deduplicated members), compressed as one zstd stream versus cargoship's seekable frames.
    """
    target = scratch / "own-tar"
    subprocess.run(
        [*_cargoship(), "ship", str(tree), f"file://{target}", "--compression", "none"],
        check=True,
        capture_output=True,
    )
    (tar,) = target.glob("*.tar")
    with tar.open("rb") as stream:
        zstd = subprocess.run(
            ["zstd", "-3", "-T0", "-c"], stdin=stream, capture_output=True, check=True
        )
    shutil.rmtree(target)
    return len(zstd.stdout)


def _same_tree(a: Path, b: Path) -> bool:
    left = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    right = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    if left != right:
        return False
    return all(filecmp.cmp(a / p, b / p, shallow=False) for p in left)


# --- the tools -----------------------------------------------------------------------------


def _cargoship() -> list[str]:
    return [sys.executable, "-m", "cargoship"]


def _restic_args(endpoint: str, prefix: str) -> list[str]:
    return ["-r", f"s3:{endpoint}/{BUCKET}/{prefix}", "-o", "s3.bucket-lookup=path", "--no-cache"]


def _stored_bytes(server: S3Server, prefix: str, *, suffix: str = "") -> int:
    """Bytes of every object under ``prefix`` (whose key ends with ``suffix``)."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    total = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        total += sum(
            item["Size"] for item in page.get("Contents", []) if item["Key"].endswith(suffix)
        )
    return total


def _archive_name(measured: Measured) -> str:
    report: dict[str, Any] = json.loads(measured.stdout)
    return str(report["archive"])


def _commands(
    tool: str, direction: str, *, endpoint: str, source: Path, dest: Path, prefix: str, aws: str
) -> list[str]:
    if tool == "cargoship":
        if direction == "archive":
            return [*_cargoship(), "ship", str(source), f"s3://{BUCKET}/{prefix}", "--json"]
        return [*_cargoship(), "restore", f"s3://{BUCKET}/{prefix}/{{name}}", str(dest), "--json"]
    if tool == "tar+aws":
        url = f"s3://{BUCKET}/{prefix}/archive.tar.zst"
        if direction == "archive":
            script = f'tar --zstd -cf - -C "{source}" . | "{aws}" s3 cp - {url}'
        else:
            script = f'"{aws}" s3 cp {url} - | tar --zstd -xf - -C "{dest}"'
        return ["bash", "-o", "pipefail", "-c", script]
    restic = find_debian_tool("restic") or "restic"
    if direction == "archive":
        return [restic, *_restic_args(endpoint, prefix), "backup", "--quiet", "."]
    return [restic, *_restic_args(endpoint, prefix), "restore", "latest", "--target", str(dest)]


def run_benchmark(args: argparse.Namespace) -> tuple[list[Row], dict[str, Any]]:
    aws = find_aws(install=not args.no_install)
    if aws is None:
        raise SystemExit("archive_s3: the AWS CLI is needed")
    if find_debian_tool("restic", install=not args.no_install) is None:
        raise SystemExit("archive_s3: restic is needed")
    rows: list[Row] = []
    extra: dict[str, Any] = {"datasets": {}, "single_file": {}}
    with tempfile.TemporaryDirectory(prefix="archive_s3-") as tmp, S3Server() as server:
        scratch = Path(tmp)
        server.make_bucket(BUCKET)
        for dataset in args.datasets.split(","):
            source = scratch / "source" / dataset
            source.mkdir(parents=True)
            files, size = build_dataset(
                dataset, source, big_bytes=args.big_size * MiB, small_files=args.small_files
            )
            extra["datasets"][dataset] = {
                "files": files,
                "bytes": size,
                "zstd3": _zstd3_size(source),
                "zstd3_own_tar": _own_tar_zstd3_size(source, scratch),
            }
            print(f"dataset {dataset}: {files} files, {size / MiB:.0f} MiB", file=sys.stderr)
            for profile in args.profiles.split(","):
                with WanEmulatorProcess(profile, server.endpoint_url, seed=1) as emu:
                    env = aws_env(emu.endpoint_url, scratch)
                    env["RESTIC_PASSWORD"] = RESTIC_PASSWORD
                    for tool in args.tools.split(","):
                        prefix = f"{dataset}-{profile}-{tool.replace('+', '-')}"
                        if tool == "restic":
                            init = [
                                find_debian_tool("restic") or "restic",
                                *_restic_args(emu.endpoint_url, prefix),
                                "init",
                            ]
                            subprocess.run(init, env=env, capture_output=True, check=True)
                        name = ""
                        for direction in ("archive", "restore"):
                            dest = scratch / "restore" / prefix
                            dest.mkdir(parents=True, exist_ok=True)
                            command = _commands(
                                tool,
                                direction,
                                endpoint=emu.endpoint_url,
                                source=source,
                                dest=dest,
                                prefix=prefix,
                                aws=aws,
                            )
                            command = [part.replace("{name}", name) for part in command]
                            cwd = source if tool == "restic" else None
                            row = Row(dataset, profile, tool, direction)
                            rows.append(row)
                            measured = run_measured(command, env, timeout=args.timeout, cwd=cwd)
                            row.seconds = measured.seconds
                            row.peak_rss_mib = measured.peak_rss_mib
                            row.ok = measured.status == 0
                            row.error = "" if row.ok else measured.stderr_tail.strip()[-200:]
                            if measured.seconds >= args.timeout:
                                row.error = f"stopped after {args.timeout:g} s (--timeout)"
                            if direction == "archive":
                                row.stored_bytes = _stored_bytes(server, prefix)
                                if tool == "cargoship" and row.ok:
                                    name = _archive_name(measured)
                                    extra["datasets"][dataset]["cargoship_archive"] = _stored_bytes(
                                        server, prefix, suffix=".tar.zst"
                                    )
                            else:
                                # restic restores a snapshot of "." under the path it was
                                # taken at; the others restore into DEST itself.
                                nested = dest / source.relative_to(source.anchor)
                                restored = nested if nested.is_dir() else dest
                                row.ok = row.ok and _same_tree(source, restored)
                                shutil.rmtree(dest, ignore_errors=True)
                            _print_row(row, file=sys.stderr)
                        if tool == "cargoship" and dataset == "big" and name:
                            extra["single_file"][profile] = _single_file(
                                source, prefix, name, env, scratch
                            )
            shutil.rmtree(source)
    return rows, extra


def _single_file(
    source: Path, prefix: str, name: str, env: dict[str, str], scratch: Path
) -> dict[str, Any]:
    """Restore one mid-sized file of the big archive with ``--include``; bytes fetched (its
    ``--json`` report: ``bytes_fetched`` and ``requests``, ``inventory_bytes`` and
    ``inventory_requests``)."""
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.stat().st_size > 64 * 1024)
    chosen = files[len(files) // 2].relative_to(source).as_posix()
    dest = scratch / "single"
    command = [
        *_cargoship(),
        "restore",
        f"s3://{BUCKET}/{prefix}/{name}",
        str(dest),
        "--include",
        chosen,
        "--json",
    ]
    measured = run_measured(command, env, timeout=TIMEOUT)
    report: dict[str, Any] = json.loads(measured.stdout) if measured.status == 0 else {}
    shutil.rmtree(dest, ignore_errors=True)
    return {"path": chosen, "seconds": measured.seconds, "report": report}


def _print_row(row: Row, file: Any = sys.stdout) -> None:
    seconds = f"{row.seconds:8.1f}" if row.seconds is not None else "       -"
    stored = f"{row.stored_bytes / MiB:9.1f}" if row.stored_bytes is not None else "        -"
    status = "ok" if row.ok else f"FAILED {row.error}"
    print(
        f"{row.dataset:6} {row.profile:5} {row.tool:10} {row.direction:8} {seconds} {stored} "
        f"{row.peak_rss_mib:8.0f}  {status}",
        file=file,
    )


def _ratios(rows: list[Row]) -> list[str]:
    """How many times faster cargoship is than each other tool, per dataset, profile, direction."""
    lines = []
    by_key = {(r.dataset, r.profile, r.tool, r.direction): r for r in rows if r.ok and r.seconds}
    for (dataset, profile, tool, direction), row in sorted(by_key.items()):
        if tool == "cargoship":
            continue
        ours = by_key.get((dataset, profile, "cargoship", direction))
        if ours is not None and ours.seconds and row.seconds:
            lines.append(
                f"{dataset:6} {profile:5} {direction:8} cargoship vs {tool:8} "
                f"{row.seconds / ours.seconds:5.2f}x faster"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="big,small")
    parser.add_argument("--profiles", default="wan,far")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--big-size", type=int, default=1100, help="MiB of the big dataset")
    parser.add_argument("--small-files", type=int, default=20_000)
    parser.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT,
        help="seconds any one command may run before it is stopped and reported as such",
    )
    parser.add_argument("--no-install", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows, extra = run_benchmark(args)
    if args.json:
        print(json.dumps({"rows": [asdict(r) for r in rows], **extra}, indent=2))
        return 0 if all(r.ok for r in rows) else 1
    print("dataset profile tool     dir        seconds stored MiB peak MiB")
    for row in rows:
        _print_row(row)
    print()
    for line in _ratios(rows):
        print(line)
    for dataset, facts in extra["datasets"].items():
        if "cargoship_archive" in facts:
            archive = facts["cargoship_archive"]
            own = facts["zstd3_own_tar"]
            print(
                f"{dataset}: cargoship's archive object {archive / MiB:.1f} MiB; zstd -3 of its "
                f"own tar {own / MiB:.1f} MiB ({archive / own:.3f}x); zstd -3 of a GNU tar "
                f"(no dedup) {facts['zstd3'] / MiB:.1f} MiB ({archive / facts['zstd3']:.3f}x)"
            )
    for profile, single in extra["single_file"].items():
        print(f"single file ({profile}): {json.dumps(single)}")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
