"""The README's main job: archive a tree to S3 with ``cargoship`` and get it back, step by step.

``python scripts/demo.py`` starts its own S3 server (moto's server mode on
loopback) behind a byte-counting proxy (the WAN emulator's ``lan`` profile:
no delay, no caps, it only counts), builds a sample tree (the standard
library's ``email``, ``json`` and ``asyncio`` packages, a few duplicated files
and a 4 MiB binary), then runs the real ``cargoship`` command against it:

    ship -> inventory -> restore one file (--include) -> restore all -> verify -> verify --quick

It prints what each step cost (seconds, requests, bytes sent and fetched as the
proxy counted them on the wire), compares the restored tree with the source,
exits 1 if they differ, and stops everything it started.

    python scripts/demo.py                  # the cargoship demo
    python scripts/demo.py --json           # one JSON document instead of the table
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
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from s3opt.testing import MotoServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from wanem import WanEmulatorProcess  # noqa: E402 - the benchmarks folder is not a package

PROFILES = ("lan", "wan", "far", "throttled", "lossy")
STDLIB_PACKAGES = ("email", "json", "asyncio")
BUCKET = "cargoship-demo"
BINARY_SIZE = 4 << 20
ONE_FILE = "email/message.py"
COMMAND_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class Step:
    """One cargoship command of the demo and what it cost."""

    name: str
    command: str
    seconds: float
    requests: int
    bytes_sent: int
    bytes_fetched: int
    result: dict[str, Any]


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


# -- running cargoship ----------------------------------------------------------------------------


def cargoship_command() -> list[str]:
    """The ``cargoship`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "cargoship"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cargoship"]


def run_step(name: str, args: list[str], proxy: WanEmulatorProcess, env: dict[str, str]) -> Step:
    """Run ``cargoship ARGS --json`` and measure it through the proxy's counters."""
    print(f"demo: cargoship {' '.join(args)}", file=sys.stderr, flush=True)
    before = proxy.counters()
    started = time.monotonic()
    run = subprocess.run(
        [*cargoship_command(), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
        env=env,
    )
    seconds = time.monotonic() - started
    after = proxy.counters()
    if run.returncode != 0:
        raise SystemExit(
            f"demo: `cargoship {' '.join(args)}` failed ({run.returncode}):\n{run.stderr}"
        )
    return Step(
        name=name,
        command="cargoship " + " ".join(args),
        seconds=seconds,
        requests=after["requests"] - before["requests"],
        bytes_sent=after["bytes_up"] - before["bytes_up"],
        bytes_fetched=after["bytes_down"] - before["bytes_down"],
        result=json.loads(run.stdout),
    )


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def print_table(steps: list[Step], source_bytes: int) -> None:
    print(f"{'step':<22} {'seconds':>8} {'requests':>9} {'sent':>11} {'fetched':>11}")
    for step in steps:
        print(
            f"{step.name:<22} {step.seconds:>8.2f} {step.requests:>9} "
            f"{human(step.bytes_sent):>11} {human(step.bytes_fetched):>11}"
        )
    print(f"\nsource tree: {human(source_bytes)}; seconds include starting the command")


def cargoship_demo(json_mode: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="cargoship-demo-") as scratch:
        work = Path(scratch)
        source = work / "source"
        build_sample_tree(source)
        source_bytes = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
        with MotoServer() as server, WanEmulatorProcess("lan", server.endpoint_url) as proxy:
            server.make_bucket(BUCKET)
            env = {**os.environ, **server.env, "AWS_ENDPOINT_URL": proxy.endpoint_url}
            url = f"s3://{BUCKET}/archives"
            steps = [run_step("ship", ["ship", str(source), url], proxy, env)]
            archive = f"{url}/{steps[0].result['archive']}"
            one, whole = work / "one-file", work / "restored"
            steps += [
                run_step("inventory", ["inventory", url], proxy, env),
                run_step(
                    "restore one file",
                    ["restore", archive, str(one), "--include", ONE_FILE],
                    proxy,
                    env,
                ),
                run_step("restore all", ["restore", archive, str(whole)], proxy, env),
                run_step("verify", ["verify", archive], proxy, env),
                run_step("verify --quick", ["verify", archive, "--quick"], proxy, env),
            ]
        problems = trees_equal(source, whole)
        if not filecmp.cmp(source / ONE_FILE, one / ONE_FILE, shallow=False):
            problems.append(f"--include restored a different {ONE_FILE}")
        if json_mode:
            doc = {
                "source_bytes": source_bytes,
                "steps": [asdict(s) for s in steps],
                "problems": problems,
            }
            print(json.dumps(doc, indent=2))
        else:
            print_table(steps, source_bytes)
            verdict = "differs from" if problems else "is identical to"
            print(f"the restored tree {verdict} the source")
        for problem in problems:
            print(f"demo: {problem}", file=sys.stderr)
        return 1 if problems else 0


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
    parser = argparse.ArgumentParser(
        description="Ship a sample tree to a local S3 server with cargoship and get it back.",
        epilog="The s3opt-vs-boto3 transfer demo: python scripts/demo.py transfer --help",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    return cargoship_demo(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
