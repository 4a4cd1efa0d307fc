"""The README's main job: s3opt against boto3 on an emulated path to a distant S3 region.

It starts a local S3 server (moto's server mode on loopback) and, in front of it, the WAN
emulator's ``far`` profile (150 ms RTT, 4 MB/s per connection, 60 MB/s shared), sends the
same object up and down with s3opt (BBR) and with boto3's TransferManager defaults,
verifies every byte by SHA-256, prints the two side by side, and stops everything it
started. The work is done by ``benchmarks/transfer_s3.py``; see docs/benchmarks.md for the
full comparison.

    python scripts/demo.py                  # 256 MiB through `far`
    python scripts/demo.py --size 64 --profile wan
    python scripts/demo.py --json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import transfer_s3  # the benchmarks folder is not a package: its scripts import as modules

PROFILES = ("lan", "wan", "far", "throttled", "lossy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="s3opt against boto3's defaults through an emulated distant-region path.",
        epilog="example: python scripts/demo.py --size 64 --profile wan",
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
    return transfer_s3.main([*forwarded, *(["--json"] if args.json else [])])


if __name__ == "__main__":
    raise SystemExit(main())
