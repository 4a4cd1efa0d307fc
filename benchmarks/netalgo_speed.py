"""How fast netalgo's controllers and simulator run in CPython, on one core.

Two measurements, each the best of ``--repeat`` runs, timed in CPU seconds of this
process (``time.process_time``: the machine is shared, and CPU time does not count the
time other processes hold the core; the best run is the least disturbed one):

* per-event cost of each controller: ``on_ack`` calls per second over a
  recorded trace of acknowledgements (a bulk flow on a 100 Mbit/s, 40 ms path,
  with delivery-rate samples and an occasional loss), so every controller sees
  the same input and only its own work is timed;
* simulator speed: packet events per second (sends, link arrivals and
  acknowledgements) of :mod:`netalgo.sim` running each controller on a
  50 Mbit/s, 40 ms link.

BBR's probe timing is randomised (draft-ietf-ccwg-bbr section 5.3.3.8); its
generator is seeded here, so every run simulates the same events.

    python benchmarks/netalgo_speed.py             # the table
    python benchmarks/netalgo_speed.py --json      # one JSON document
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from netalgo.bbr import BBR
from netalgo.cubic import Cubic
from netalgo.delivery import DeliveryRateEstimator
from netalgo.protocols import AckSample, CongestionController, LossEvent, SentPacket
from netalgo.reno import NewReno
from netalgo.sim import Flow, Link, Simulation

MSS = 1460
RTT = 0.040
RATE = 100e6 / 8  # bytes/s

CONTROLLERS: dict[str, Callable[[], CongestionController]] = {
    "NewReno": lambda: NewReno(mss=MSS),
    "CUBIC": lambda: Cubic(mss=MSS),
    "CUBIC+HyStart++": lambda: Cubic(mss=MSS, hystart=True),
    "BBR (draft)": lambda: BBR(mss=MSS, rng=random.Random(1)),
    "BBR (linux_v3)": lambda: BBR(mss=MSS, profile="linux_v3", rng=random.Random(1)),
    "BBR (v1)": lambda: BBR(mss=MSS, profile="v1", rng=random.Random(1)),
}


class FixedWindow:
    """A window of one BDP that never changes: what the simulator costs on its own."""

    cwnd = int(50e6 / 8 * RTT)
    pacing_rate = None
    state = "Fixed"

    def on_sent(self, now: float, sent_bytes: int, bytes_in_flight: int) -> None:
        pass

    def on_ack(self, sample: AckSample) -> None:
        pass

    def on_loss(self, event: LossEvent) -> None:
        pass


# Pass marks from the issue: on_ack calls per second, and simulator events per second.
ON_ACK_TARGET = {"NewReno": 200_000, "CUBIC": 200_000, "CUBIC+HyStart++": 200_000}
ON_ACK_TARGET_BBR = 100_000
SIM_TARGET = 300_000

Event = tuple[bool, AckSample | LossEvent]


def record_trace(acks: int) -> list[Event]:
    """A bulk flow at the path's rate: one ACK per packet, a loss every 2,000 packets."""
    delivery = DeliveryRateEstimator()
    spacing = MSS / RATE
    window = int(RATE * RTT / MSS)  # packets in flight: one BDP
    events: list[Event] = []
    in_flight: list[SentPacket] = []
    now = 0.0
    for _ in range(window):
        in_flight.append(delivery.on_sent(now, MSS, (len(in_flight) + 1) * MSS))
        now += spacing
    n = 0
    while len(events) < acks:
        packet = in_flight.pop(0)
        n += 1
        ack_time = packet.sent_time + RTT
        now = max(now, ack_time)
        if n % 2000 == 0:
            delivery.on_loss(packet)
            flight = len(in_flight) * MSS
            events.append((False, LossEvent(now, MSS, flight, packet.sent_time, packet)))
        else:
            rate = delivery.on_ack(now, (packet,), min_rtt=RTT)
            flight = len(in_flight) * MSS
            events.append((True, AckSample(now, MSS, flight, packet.sent_time, RTT, rate)))
        in_flight.append(delivery.on_sent(now, MSS, (len(in_flight) + 1) * MSS))
    return events


def time_on_ack(make: Callable[[], CongestionController], trace: list[Event]) -> float:
    """Seconds spent in ``on_ack`` over the trace (losses are fed but not timed)."""
    controller = make()
    on_ack, on_loss = controller.on_ack, controller.on_loss
    clock = time.process_time
    spent = 0.0
    batch: list[AckSample] = []
    for is_ack, event in trace:
        if is_ack:
            batch.append(event)  # type: ignore[arg-type]
            continue
        started = clock()
        for sample in batch:
            on_ack(sample)
        spent += clock() - started
        batch.clear()
        on_loss(event)  # type: ignore[arg-type]
    started = clock()
    for sample in batch:
        on_ack(sample)
    return spent + clock() - started


def time_sim(make: Callable[[], CongestionController], seconds: float) -> tuple[int, float]:
    link = Link(rate=50e6 / 8, base_rtt=RTT, buffer=int(50e6 / 8 * RTT))
    sim = Simulation(link, [Flow(make(), mss=MSS)], seed=1)
    started = time.process_time()
    result = sim.run(seconds)
    return result.events, time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--acks", type=int, default=200_000, help="ACKs in the trace (default 200,000)"
    )
    parser.add_argument(
        "--sim-seconds", type=float, default=20.0, help="simulated seconds (default 20)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; the best counts"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)

    trace = record_trace(args.acks)
    acks = sum(1 for is_ack, _ in trace if is_ack)
    rows: list[dict[str, Any]] = []
    sims = [time_sim(FixedWindow, args.sim_seconds) for _ in range(args.repeat)]
    events, sim_s = min(sims, key=lambda r: r[1])
    simulator_alone = events / sim_s
    for name, make in CONTROLLERS.items():
        on_ack_s = min(time_on_ack(make, trace) for _ in range(args.repeat))
        sims = [time_sim(make, args.sim_seconds) for _ in range(args.repeat)]
        events, sim_s = min(sims, key=lambda r: r[1])
        target = ON_ACK_TARGET.get(name, ON_ACK_TARGET_BBR)
        rows.append(
            {
                "controller": name,
                "on_ack_per_s": acks / on_ack_s,
                "on_ack_target": target,
                "sim_events": events,
                "sim_events_per_s": events / sim_s,
                "sim_target": SIM_TARGET,
            }
        )

    machine = (
        f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}"
    )
    if args.json:
        document = {
            "machine": machine,
            "acks": acks,
            "simulator_alone_events_per_s": simulator_alone,
        }
        json.dump({**document, "rows": rows}, sys.stdout, indent=2)
        print()
        return 0
    print(f"netalgo speed, {machine}, one core; best of {args.repeat}")
    print(
        f"{'controller':<18}{'on_ack/s':>12}{'target':>10}{'':>4}{'sim events/s':>14}{'target':>10}"
    )
    for r in rows:
        ok_ack = "ok" if r["on_ack_per_s"] >= r["on_ack_target"] else "MISS"
        ok_sim = "ok" if r["sim_events_per_s"] >= SIM_TARGET else "MISS"
        print(
            f"{r['controller']:<18}{r['on_ack_per_s']:>12,.0f}{r['on_ack_target']:>10,}{ok_ack:>4}"
            f"{r['sim_events_per_s']:>14,.0f}{SIM_TARGET:>10,} {ok_sim}"
        )
    ok_alone = "ok" if simulator_alone >= SIM_TARGET else "MISS"
    alone = f"{simulator_alone:>14,.0f}{SIM_TARGET:>10,} {ok_alone}"
    print(f"{'fixed window':<18}{'-':>12}{'':>14}{alone}")
    print("(fixed window: a controller that does nothing, so the row is the simulator's own cost)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
