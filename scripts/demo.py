"""The README's main job: cargoship archives a tree to S3 and back, objectfs mounts the bucket.

``python scripts/demo.py`` starts its own S3 server (moto's server mode on
loopback) behind a byte-counting proxy (the WAN emulator's ``lan`` profile:
no delay, no caps, it only counts), builds a sample tree (the standard
library's ``email``, ``json`` and ``asyncio`` packages, a few duplicated files
and a 4 MiB binary), then runs the real ``cargoship`` command against it:

    ship -> inventory -> restore one file (--include) -> restore all -> verify -> verify --quick

and then mounts the same bucket with the real ``objectfs`` command and works in
it with ordinary tools (see ``demo_objectfs.py``):

    mount -> cp -r -> ls -l -> append -> mv a file -> mv a directory -> diff / cmp
          -> objectfs stats -> objectfs unmount

It prints what each step cost (seconds, requests, bytes sent and fetched as the
proxy counted them on the wire), compares the restored tree with the source and
the bucket with the tree as edited through the mount, exits 1 if either
differs, and stops everything it started. A failed step ends the demo with one
line on stderr and exit 1; without /dev/fuse it says so and exits 1; Ctrl-C
(or SIGTERM) unmounts, stops the servers and exits 130.

    python scripts/demo.py                  # the whole demo
    python scripts/demo.py --json           # one JSON document with every step
    python scripts/demo.py objectfs         # only the objectfs steps
    python scripts/demo.py transfer         # s3opt against boto3 through the `far` profile
    python scripts/demo.py transfer --size 64 --profile wan --json
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import random
import shutil
import signal
import sys
import sysconfig
import tempfile
from dataclasses import asdict
from pathlib import Path

from demo_objectfs import (
    PREFIX,
    MountSession,
    compare_objects,
    expected_objects,
    fuse_problem,
    stored_objects,
)
from demo_steps import Counters, Step, StepError, console_script, human, print_table, run_step

from s3opt.testing import MotoServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from wanem import WanEmulatorProcess  # noqa: E402 - the benchmarks folder is not a package

PROFILES = ("lan", "wan", "far", "throttled", "lossy")
STDLIB_PACKAGES = ("email", "json", "asyncio")
BUCKET = "demo"
BINARY_SIZE = 4 << 20
ONE_FILE = "email/message.py"


# -- the sample tree ------------------------------------------------------------------------------


def build_sample_tree(root: Path) -> None:
    """Copies of three standard-library packages, three duplicated files and a binary."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for package in STDLIB_PACKAGES:
        shutil.copytree(
            stdlib / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    duplicates = root / "duplicates"
    duplicates.mkdir()
    shutil.copy2(root / "json" / "decoder.py", duplicates / "decoder-copy.py")
    shutil.copy2(root / ONE_FILE, duplicates / "message-copy-1.py")
    shutil.copy2(root / ONE_FILE, duplicates / "message-copy-2.py")
    # Random bytes do not compress: the honest worst case for the ratio.
    (root / "blob.bin").write_bytes(random.Random(2026).randbytes(BINARY_SIZE))
    (root / "latest").symlink_to("blob.bin")


def trees_equal(left: Path, right: Path) -> list[str]:
    """The paths that differ between two trees (content, type, symlink target, mode)."""
    differences: list[str] = []
    compare = filecmp.dircmp(left, right)
    differences += [f"only in source: {n}" for n in compare.left_only]
    differences += [f"only in restored: {n}" for n in compare.right_only]
    _, mismatch, errors = filecmp.cmpfiles(left, right, compare.common_files, shallow=False)
    differences += [f"content differs: {n}" for n in [*mismatch, *errors]]
    for name in compare.common:
        a, b = left / name, right / name
        if a.is_symlink() != b.is_symlink() or (a.is_symlink() and a.readlink() != b.readlink()):
            differences.append(f"symlink differs: {name}")
        elif a.lstat().st_mode != b.lstat().st_mode:
            differences.append(f"mode differs: {name}")
    for name in compare.common_dirs:
        differences += [f"{name}/{d}" for d in trees_equal(left / name, right / name)]
    return differences


# -- the demo -----------------------------------------------------------------------------------


def cargoship_steps(source: Path, work: Path, proxy: Counters, env: dict[str, str]) -> list[Step]:
    """ship -> inventory -> restore one file -> restore all -> verify -> verify --quick."""
    cargoship = console_script("cargoship")

    def step(name: str, *args: str) -> Step:
        argv = [*cargoship, *args, "--json"]
        shown = "cargoship " + " ".join(args)
        return run_step("cargoship", name, argv, proxy, env, json_output=True, shown=shown)

    url = f"s3://{BUCKET}/archives"
    ship = step("ship", "ship", str(source), url)
    archive = f"{url}/{ship.result['archive']}"
    return [
        ship,
        step("inventory", "inventory", url),
        step("restore one file", "restore", archive, str(work / "one-file"), "--include", ONE_FILE),
        step("restore all", "restore", archive, str(work / "restored")),
        step("verify", "verify", archive),
        step("verify --quick", "verify", archive, "--quick"),
    ]


def restore_problems(source: Path, work: Path) -> list[str]:
    """What cargoship's restores got wrong, checked against the source tree."""
    problems = trees_equal(source, work / "restored")
    if not filecmp.cmp(source / ONE_FILE, work / "one-file" / ONE_FILE, shallow=False):
        problems.append(f"--include restored a different {ONE_FILE}")
    return problems


def run_demo(json_mode: bool, *, cargoship: bool) -> int:
    """The cargoship steps (unless ``cargoship`` is false), then the objectfs steps."""
    problem = fuse_problem()
    if problem is not None:
        raise StepError(f"{problem}; the demo mounts the bucket with objectfs")
    with tempfile.TemporaryDirectory(prefix="demo-") as scratch:
        work = Path(scratch)
        source = work / "source"
        build_sample_tree(source)
        source_bytes = sum(
            p.lstat().st_size for p in source.rglob("*") if p.is_file() and not p.is_symlink()
        )
        steps: list[Step] = []
        with MotoServer() as server, WanEmulatorProcess("lan", server.endpoint_url) as proxy:
            server.make_bucket(BUCKET)
            env = {**os.environ, **server.env, "AWS_ENDPOINT_URL": proxy.endpoint_url}
            if cargoship:
                steps += cargoship_steps(source, work, proxy, env)
            steps += MountSession(work, source, BUCKET, proxy, env, detailed_stats=json_mode).run()
            # Straight from the server, past the proxy: no step's traffic.
            stored = stored_objects(server.endpoint_url, server.env, BUCKET)
        restored = restore_problems(source, work) if cargoship else []
        in_bucket = compare_objects(expected_objects(source), stored)
        bucket = {"objects": len(stored), "bytes": sum(map(len, stored.values()))}
        if json_mode:
            doc = {
                "source_bytes": source_bytes,
                "steps": [asdict(s) for s in steps],
                "bucket": bucket,
                "problems": restored + in_bucket,
            }
            print(json.dumps(doc, indent=2))
        else:
            print_report(steps, source_bytes)
            if cargoship:
                verdict = "differs from" if restored else "is identical to"
                print(f"cargoship: the restored tree {verdict} the source")
            verdict = "differs from" if in_bucket else "matches"
            print(
                f"objectfs: after unmounting, s3://{BUCKET}/{PREFIX}/ ({bucket['objects']} "
                f"objects, {human(bucket['bytes'])}) {verdict} the tree as edited"
            )
        for line in restored + in_bucket:
            print(f"demo: {line}", file=sys.stderr)
        return 1 if restored or in_bucket else 0


def print_report(steps: list[Step], source_bytes: int) -> None:
    """The step tables, then what ``ls -l`` and ``objectfs stats`` printed."""
    for tool in ("cargoship", "objectfs"):
        chosen = [s for s in steps if s.tool == tool]
        if chosen:
            print_table(tool, chosen)
    for step in steps:
        if step.name in ("ls -l", "objectfs stats"):
            print(f"\n$ {step.command}\n{step.result['stdout'].rstrip()}")
    print(f"\nsource tree: {human(source_bytes)}; seconds include starting each command;")
    print("sent and fetched: bytes on the wire to and from S3 while the step ran")


# -- the transfer demo (s3opt against boto3) ------------------------------------------------------


def transfer_demo(argv: list[str]) -> int:
    """s3opt against boto3's defaults through an emulated distant-region path."""
    import transfer_s3  # the benchmarks folder is not a package: its scripts import as modules

    parser = argparse.ArgumentParser(
        prog="demo.py transfer",
        description="s3opt against boto3's defaults through an emulated distant-region path.",
        epilog="example: python scripts/demo.py transfer --size 64 --profile wan",
    )
    parser.add_argument("--size", type=int, default=256, help="MiB to send each way (default 256)")
    parser.add_argument("--profile", choices=PROFILES, default="far", help="network (default far)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    if args.size <= 0:
        parser.error(f"--size must be > 0, got {args.size}")
    forwarded = [
        *("--size", str(args.size), "--repeat", "1", "--profiles", args.profile),
        *("--tools", "s3opt-bbr,boto3", "--no-install"),
    ]
    result: int = transfer_s3.main([*forwarded, *(["--json"] if args.json else [])])
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["transfer"]:
        return transfer_demo(argv[1:])
    only_objectfs = argv[:1] == ["objectfs"]
    parser = argparse.ArgumentParser(
        prog="demo.py objectfs" if only_objectfs else "demo.py",
        description=(
            "Mount a local S3 server's bucket with objectfs and work in it with ordinary tools."
            if only_objectfs
            else "Ship a sample tree to a local S3 server with cargoship and get it back, "
            "then mount the bucket with objectfs and work in it with ordinary tools."
        ),
        epilog="Also: python scripts/demo.py objectfs --help (only the mount), "
        "python scripts/demo.py transfer --help (s3opt against boto3)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv[1:] if only_objectfs else argv)
    # SIGTERM takes Ctrl-C's path: unmount, stop the servers, remove the scratch folder.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return run_demo(args.json, cargoship=not only_objectfs)
    except StepError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted; everything it started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
