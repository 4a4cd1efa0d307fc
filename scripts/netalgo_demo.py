"""BBR, CUBIC and NewReno on the same simulated links: netalgo on its own (`./run demo netalgo`).

Each controller runs alone on each of three simulated bottleneck links, and
the table reports what a network engineer looks at first: goodput, how much
of the link it used, how much queue it built, and how many packets it lost.

    python scripts/netalgo_demo.py              # the three links, 20 simulated seconds each
    python scripts/netalgo_demo.py --seconds 5  # quicker
    python scripts/netalgo_demo.py --json       # one JSON document on stdout
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

from netalgo.bbr import BBR
from netalgo.cubic import Cubic
from netalgo.protocols import CongestionController
from netalgo.reno import NewReno
from netalgo.sim import Flow, Link, Simulation

MBIT = 1e6 / 8  # bytes per second in one Mbit/s
MSS = 1460


@dataclass(frozen=True)
class Scenario:
    name: str
    rate_mbit: float
    rtt_ms: float
    buffer_bdp: float
    loss: float

    def link(self) -> Link:
        rate = self.rate_mbit * MBIT
        bdp = rate * self.rtt_ms / 1000
        return Link(
            rate=rate,
            base_rtt=self.rtt_ms / 1000,
            buffer=max(int(bdp * self.buffer_bdp), 4 * MSS),
            loss=self.loss,
        )


SCENARIOS = (
    Scenario("fast clean link", rate_mbit=200, rtt_ms=5, buffer_bdp=1.0, loss=0.0),
    Scenario("long fat link", rate_mbit=100, rtt_ms=150, buffer_bdp=1.0, loss=0.0),
    Scenario("lossy link", rate_mbit=50, rtt_ms=40, buffer_bdp=1.0, loss=0.01),
)

# Each factory takes the run's seed: BBR draws its probe timing at random (draft
# section 5.3.3.8), so a seeded generator keeps the whole table deterministic.
CONTROLLERS: dict[str, Callable[[int], CongestionController]] = {
    "BBR": lambda seed: BBR(mss=MSS, rng=random.Random(seed)),
    "CUBIC": lambda seed: Cubic(mss=MSS),
    "NewReno": lambda seed: NewReno(mss=MSS),
}


@dataclass(frozen=True)
class Row:
    link: str
    algorithm: str
    goodput_mbit: float
    utilisation: float
    mean_queue_ms: float
    max_queue_ms: float
    loss_percent: float


def run_one(scenario: Scenario, algorithm: str, seconds: float, seed: int) -> Row:
    flow = Flow(CONTROLLERS[algorithm](seed), mss=MSS)
    result = Simulation(scenario.link(), [flow], seed=seed).run(seconds)
    only = result.flows[0]
    return Row(
        link=scenario.name,
        algorithm=algorithm,
        goodput_mbit=only.goodput() / MBIT,
        utilisation=result.utilisation(),
        mean_queue_ms=result.link.mean_queue_delay() * 1000,
        max_queue_ms=result.link.max_queue_delay() * 1000,
        loss_percent=only.loss_rate * 100,
    )


def describe(scenario: Scenario) -> str:
    loss = f", {scenario.loss:.0%} random loss" if scenario.loss else ""
    return (
        f"{scenario.name}: {scenario.rate_mbit:g} Mbit/s, {scenario.rtt_ms:g} ms RTT, "
        f"{scenario.buffer_bdp:g} BDP buffer{loss}"
    )


def print_table(rows: list[Row], seconds: float, elapsed: float) -> None:
    widths = (10, 16, 13, 15, 14, 8)
    header = ("algorithm", "goodput Mbit/s", "utilisation", "queue mean ms", "queue max ms", "loss")
    heading = "".join(
        f"{h:<{w}}" if i == 0 else f"{h:>{w}}"
        for i, (h, w) in enumerate(zip(header, widths, strict=True))
    )
    for scenario in SCENARIOS:
        print(f"\n{describe(scenario)}  ({seconds:g} simulated seconds)")
        print(f"  {heading}")
        for row in (r for r in rows if r.link == scenario.name):
            print(
                f"  {row.algorithm:<10}{row.goodput_mbit:>16.1f}{row.utilisation:>13.1%}"
                f"{row.mean_queue_ms:>15.1f}{row.max_queue_ms:>14.1f}{row.loss_percent:>7.2f}%"
            )
    print(f"\n({elapsed:.1f} s of wall time; the simulator is deterministic for a given --seed)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="BBR, CUBIC and NewReno on the same simulated bottleneck links.",
        epilog="example: python scripts/netalgo_demo.py --seconds 10 --json",
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="simulated time per run (default 20)"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="random seed of the links and of BBR (default 1)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of tables"
    )
    args = parser.parse_args(argv)
    if not args.seconds > 0:
        parser.error(f"--seconds must be > 0, got {args.seconds}")

    started = time.perf_counter()
    jobs = [(s, a) for s in SCENARIOS for a in CONTROLLERS]
    with ProcessPoolExecutor() as pool:
        futures = [pool.submit(run_one, s, a, args.seconds, args.seed) for s, a in jobs]
        rows = [f.result() for f in futures]
    elapsed = time.perf_counter() - started

    if args.json:
        json.dump(
            {"seconds": args.seconds, "seed": args.seed, "runs": [asdict(r) for r in rows]},
            sys.stdout,
        )
        print()
    else:
        print_table(rows, args.seconds, elapsed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
