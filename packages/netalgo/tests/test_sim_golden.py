"""Golden runs of netalgo.sim: the speed work on the simulator and BBR changed no result.

Each scenario's full report (every flow's samples, state transitions,
delivered bytes at each sample instant and totals; the link's queue samples,
per-interval peaks and drop counts; the event count) is reduced to a sha256
of its ``repr``. The digests were recorded from the code as it stood before
the hot paths were rewritten (netalgo 0.1.0, session 3), so a change to any
float anywhere in a run fails the test: the rewrite must be bit-for-bit
identical, not merely close.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections.abc import Callable

import pytest

from netalgo.bbr import BBR
from netalgo.cubic import Cubic
from netalgo.reno import NewReno
from netalgo.sim import Flow, Link, SimResult, Simulation

MSS = 1460
RTT = 0.040
RATE = 12e6 / 8  # bytes/s: about 1,000 packets/s keeps each run small


def report_digest(result: SimResult) -> str:
    """sha256 of everything the run reports, through the public API only."""
    link = result.link
    times = [s.t for s in link.samples]
    windows = list(itertools.pairwise(times))
    report = (
        result.events,
        result.duration,
        [
            (
                f.delivered_bytes,
                f.sent_packets,
                f.lost_packets,
                f.declared_lost_packets,
                f.timeouts,
                f.samples,
                f.transitions,
                [f.delivered_at(t) for t in times],
            )
            for f in result.flows
        ],
        link.samples,
        [link.max_queue_delay(a, b) for a, b in windows],
        link.buffer_drops,
        link.loss_drops,
        link.transmitted_bytes,
    )
    return hashlib.sha256(repr(report).encode()).hexdigest()


def bbr_two_flows(profile: str) -> SimResult:
    """Two BBR flows, the second joining late, on a lossy link with a rate step: every state."""
    link = Link(
        rate=RATE,
        base_rtt=RTT,
        buffer=int(RATE * RTT),
        loss=0.005,
        rate_schedule=((6.0, RATE / 4), (9.0, RATE)),
    )
    flows = [
        Flow(BBR(mss=MSS, profile=profile, rng=random.Random(1)), mss=MSS),
        Flow(BBR(mss=MSS, profile=profile, rng=random.Random(2)), mss=MSS, start=2.0),
    ]
    return Simulation(link, flows, seed=7).run(12.0)


def bbr_app_limited() -> SimResult:
    """A BBR flow limited by its application, then stopped, beside a bulk one."""
    link = Link(rate=RATE, base_rtt=RTT, buffer=int(RATE * RTT) // 2)
    flows = [
        Flow(BBR(mss=MSS, rng=random.Random(3)), mss=MSS, app_rate=RATE / 5, stop=7.0),
        Flow(BBR(mss=MSS, profile="linux_v3", rng=random.Random(4)), mss=MSS, start=1.0),
    ]
    return Simulation(link, flows, seed=3).run(10.0)


def cubic_and_reno() -> SimResult:
    """CUBIC with HyStart++, plain CUBIC and NewReno sharing a link with periodic loss."""
    link = Link(
        rate=RATE, base_rtt=RTT, buffer=int(RATE * RTT), loss=0.002, loss_pattern="periodic"
    )
    flows = [
        Flow(Cubic(mss=MSS, hystart=True), mss=MSS),
        Flow(Cubic(mss=MSS), mss=MSS, start=0.5),
        Flow(NewReno(mss=MSS), mss=MSS, start=1.0),
    ]
    return Simulation(link, flows, seed=5).run(10.0)


def heavy_loss() -> SimResult:
    """BBR and NewReno at 15% random loss: retransmission timeouts and their back-off."""
    link = Link(rate=RATE, base_rtt=RTT, buffer=int(RATE * RTT), loss=0.15)
    flows = [
        Flow(BBR(mss=MSS, rng=random.Random(5)), mss=MSS),
        Flow(NewReno(mss=MSS), mss=MSS),
    ]
    return Simulation(link, flows, seed=11).run(8.0)


GOLDEN: list[tuple[str, Callable[[], SimResult], str]] = [
    (
        "bbr draft",
        lambda: bbr_two_flows("draft"),
        "da7d5ecbb909a62b27097995bef8ffbb52a4f32160de40718bd29b0a06dcfab9",
    ),
    (
        "bbr linux_v3",
        lambda: bbr_two_flows("linux_v3"),
        "d3f3157e11a633426203b4e1a499bf54ef5ed5d4935922ed4e9362a20c102be8",
    ),
    (
        "bbr v1",
        lambda: bbr_two_flows("v1"),
        "2b671bb49b70e22b80905b94fd1c8deafe6e17537fbdd5ab91c5c990973cb73c",
    ),
    (
        "bbr app-limited",
        bbr_app_limited,
        "005b8d6a628e45595f5f525f1054e6aa47fa351ae78a06ac0273a62c2cb6af81",
    ),
    (
        "cubic and newreno",
        cubic_and_reno,
        "d705e49577609b7ad27b9935eb44037a39875fcf0e95b3b6e38547f51bc0e5ac",
    ),
    ("heavy loss", heavy_loss, "747f816934b9efaa2986b88ba9262c18094664be095bf1f01e3748aad03fafda"),
]


@pytest.mark.parametrize(("name", "scenario", "digest"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_run_is_bit_for_bit_the_recorded_one(
    name: str, scenario: Callable[[], SimResult], digest: str
) -> None:
    assert report_digest(scenario()) == digest, name


def test_digest_sees_a_one_ulp_change() -> None:
    """The digest covers the floats at full precision: a nudge of one ulp changes it."""
    result = cubic_and_reno()
    before = report_digest(result)
    samples = result.flows[0].samples
    sample = samples[-1]
    samples[-1] = sample._replace(delivery_rate=math.nextafter(sample.delivery_rate, math.inf))
    assert report_digest(result) != before
