"""``python -m benchmarks.wanem``: run the emulator, or measure it (``--selftest``).

Prints the endpoint URL (``http://127.0.0.1:PORT``) on the first line of stdout, then
serves until interrupted. With ``--control``, each ``stats`` line read on stdin is
answered with the counters as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading

from .profiles import PROFILES, get_profile
from .proxy import WanEmulator

__all__ = ["main"]


async def _serve(args: argparse.Namespace) -> None:
    profile = get_profile(args.profile)
    if args.seed is not None:
        profile = profile.with_changes(seed=args.seed)
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    async with WanEmulator(profile, args.upstream, listen=args.listen) as emulator:
        print(emulator.endpoint_url, flush=True)
        if args.control:

            def answer() -> None:
                print(json.dumps(emulator.counters.as_dict()), flush=True)

            def read_commands() -> None:
                for line in sys.stdin:
                    if line.strip() == "stats":
                        loop.call_soon_threadsafe(answer)

            threading.Thread(target=read_commands, daemon=True).start()
        await stopped.wait()
        print(json.dumps(emulator.counters.as_dict()), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.wanem", description=__doc__)
    parser.add_argument("--profile", default="wan", choices=sorted(PROFILES))
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: any)")
    parser.add_argument("--upstream", help="the S3 server, HOST:PORT or http://HOST:PORT")
    parser.add_argument("--seed", type=int, help="seed for the reset decisions")
    parser.add_argument("--control", action="store_true", help="answer 'stats' on stdin")
    parser.add_argument("--selftest", action="store_true", help="measure ceiling and accuracy")
    parser.add_argument("--json", action="store_true", help="selftest: one JSON document")
    args = parser.parse_args(argv)
    if args.selftest:
        from .selftest import run_selftest

        return run_selftest(as_json=args.json)
    if not args.upstream:
        parser.error("--upstream is required (unless --selftest)")
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
