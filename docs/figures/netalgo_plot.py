"""Draw docs/figures/netalgo_bbr.png: BBR and CUBIC over time on one simulated link.

    ./run hatch run docs:netalgo-plot            # writes docs/figures/netalgo_bbr.png
    ./run hatch run docs:netalgo-plot -- --seconds 20 --out /tmp/plot.png

Each controller runs alone on a 100 Mbit/s, 40 ms RTT link with a one-BDP
drop-tail buffer; the figure shows its congestion window, its delivery rate
and the queueing delay at the bottleneck, sampled every 20 ms.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from netalgo.bbr import BBR
from netalgo.cubic import Cubic
from netalgo.protocols import CongestionController
from netalgo.sim import Flow, Link, Simulation

RATE = 100e6 / 8
RTT = 0.040
HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=HERE / "netalgo_bbr.png")
    args = parser.parse_args()

    link = Link(rate=RATE, base_rtt=RTT, buffer=int(RATE * RTT))
    runs: dict[str, CongestionController] = {
        "BBR (draft)": BBR(mss=1460, rng=random.Random(1)),
        "CUBIC": Cubic(mss=1460),
    }
    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(10, 8), constrained_layout=True)
    for label, controller in runs.items():
        result = Simulation(link, [Flow(controller, mss=1460)], seed=1, sample_interval=0.02).run(
            args.seconds
        )
        samples = result.flows[0].samples
        t = [s.t for s in samples]
        axes[0].plot(t, [s.cwnd / 1e3 for s in samples], label=label, linewidth=0.9)
        axes[1].plot(t, [s.delivery_rate * 8 / 1e6 for s in samples], label=label, linewidth=0.9)
        queue = result.link.samples
        axes[2].plot(
            [q.t for q in queue], [q.queue_delay * 1e3 for q in queue], label=label, linewidth=0.9
        )
    bdp_kb = RATE * RTT / 1e3
    axes[0].axhline(bdp_kb, color="grey", linestyle=":", linewidth=0.8, label="BDP")
    axes[0].set_ylabel("cwnd (kB)")
    axes[1].axhline(100, color="grey", linestyle=":", linewidth=0.8, label="link rate")
    axes[1].set_ylabel("delivery rate (Mbit/s)")
    axes[2].set_ylabel("queueing delay (ms)")
    axes[2].set_xlabel("time (s)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
    fig.suptitle("100 Mbit/s, 40 ms RTT, one-BDP drop-tail buffer (netalgo.sim, seed 1)")
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
