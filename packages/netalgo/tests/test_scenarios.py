"""Cross-controller scenarios on netalgo.sim: BBR, CUBIC and NewReno on shared and lossy links.

The pass marks are published ones:

* sharing: transperf's marks for BBR (four flows of one algorithm on a
  bottleneck with a one-BDP buffer): together at least 80% of the link,
  retransmissions at most 1%, Jain's fairness index at least 0.7;
* random loss: the Reno / CUBIC response functions hold a loss-based
  controller near 3.6% of a 100 Mbit/s, 40 ms link at 1% loss, while BBR,
  which does not take every loss as a signal to back off multiplicatively,
  keeps the link busy: BBRv1 at least 80%, the BBRv3 profiles at least 75%
  (their own per-round loss response predicts 75-80% at 40 ms; see below).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from netalgo.bbr import BBR
from netalgo.cubic import Cubic
from netalgo.protocols import CongestionController
from netalgo.reno import NewReno
from netalgo.sim import Flow, Link, SimResult, Simulation, jain_index

MSS = 1460

# Each controller is made for one flow from that flow's number. BBR draws its bandwidth-probe
# wait at random (PickProbeWait, draft section 5.3.3.8.3): each flow gets its own seeded
# generator, so every run of a test is the same run.
CONTROLLERS: dict[str, Callable[[int], CongestionController]] = {
    "BBR": lambda flow: BBR(mss=MSS, rng=random.Random(flow)),
    "CUBIC": lambda flow: Cubic(mss=MSS),
    "NewReno": lambda flow: NewReno(mss=MSS),
}


def run(
    make: Callable[[int], CongestionController],
    *,
    rate: float,
    rtt: float,
    flows: int,
    duration: float,
    loss: float = 0.0,
    seed: int = 1,
) -> SimResult:
    bdp = int(rate * rtt)
    link = Link(rate=rate, base_rtt=rtt, buffer=bdp, loss=loss)
    # Starts staggered by 100 ms so the flows do not move in lock step.
    senders = [Flow(make(i + 1), mss=MSS, start=0.1 * i) for i in range(flows)]
    return Simulation(link, senders, seed=seed).run(duration)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", sorted(CONTROLLERS))
def test_four_flows_share_a_link(algorithm: str) -> None:
    # 50 Mbit/s = 6.25e6 bytes/s, 40 ms: BDP = 250,000 bytes (171 packets); one-BDP buffer.
    result = run(CONTROLLERS[algorithm], rate=6.25e6, rtt=0.040, flows=4, duration=60.0)
    goodputs = [f.goodput() for f in result.flows]
    sent = sum(f.sent_packets for f in result.flows)
    lost = sum(f.lost_packets for f in result.flows)
    assert result.utilisation() >= 0.80, goodputs
    assert lost / sent <= 0.01
    assert jain_index(goodputs) >= 0.7, goodputs


# 100 Mbit/s, 40 ms, 1% random loss.
LOSSY_RATE = 12.5e6
LOSSY_RTT = 0.040
LOSS = 0.01

# Reno's response function (Mathis et al. 1997; the AIMD average window of RFC 9438
# section 4.3 with alpha = 1, beta = 0.5): W = sqrt(3 / (2 p)) = sqrt(150) = 12.25 segments,
# so goodput = 12.25 * 1460 / 0.040 = 447,000 bytes/s = 3.6% of 12.5e6 bytes/s.
RENO_WINDOW = math.sqrt(3 / (2 * LOSS))
RENO_SHARE = RENO_WINDOW * MSS / LOSSY_RTT / LOSSY_RATE
# CUBIC (RFC 9438 section 5.1): its Reno-friendly region uses alpha_cubic = 3 (1 - beta) /
# (1 + beta) with beta = 0.7, whose AIMD average window sqrt(alpha (1 + beta) / (2 (1 - beta) p))
# is the same sqrt(3 / (2 p)) = 12.25 segments; the cubic curve's own average,
# (C (3 + beta) / (4 (1 - beta)))^(1/4) * RTT^(3/4) / p^(3/4) = 1.054 * 0.0894 / 0.0316
# = 2.98 segments, is smaller, so the Reno-friendly window governs: also 3.6% of the link.
CUBIC_WINDOW = max(
    RENO_WINDOW,
    (0.4 * (3 + 0.7) / (4 * (1 - 0.7))) ** 0.25 * LOSSY_RTT**0.75 / LOSS**0.75,
)
CUBIC_SHARE = CUBIC_WINDOW * MSS / LOSSY_RTT / LOSSY_RATE


def test_response_function_arithmetic() -> None:
    # The bounds below rest on these numbers; pin them to the hand arithmetic.
    assert math.isclose(RENO_WINDOW, 12.247, abs_tol=1e-3)
    assert math.isclose(RENO_SHARE, 0.0358, abs_tol=1e-4)
    assert CUBIC_WINDOW == RENO_WINDOW


# BBR under 1% random loss. BBRv1 ignores loss: it must keep >= 80% (the pass mark).
# The draft (BBRv3) and Linux BBRv3 cut their short-term bounds once per lossy round while
# cruising (AdaptLowerBoundsFromCongestion, draft section 5.5.10.3: bw_shortterm =
# max(bw_latest, 0.7 bw_shortterm)); bw_latest, the best delivery rate of the round, is below
# the rate CRUISE paces at (1% pacing margin, section 5.6.2, and the round's own losses), so
# bw_shortterm ratchets down ~0.5% a round from DOWN's 0.89 until the next probe
# (min(2-3 s, 63 rounds)) or ProbeRTT restores it: 0.75-0.80 of the link at 40 ms. The
# derivation is in test_bbr_sim.py and docs/netalgo.md ("BBR under random loss"); Linux's
# tcp_bbr.c v3 does the same and the linux_v3 profile measures the same. Both profiles still
# deliver twenty times NewReno's and CUBIC's 3.6%.
BBR_LOSS_MARKS = {"v1": 0.80, "draft": 0.75, "linux_v3": 0.75}


@pytest.mark.slow
@pytest.mark.parametrize("profile", sorted(BBR_LOSS_MARKS))
def test_bbr_keeps_the_link_busy_under_random_loss(profile: str) -> None:
    result = run(
        lambda flow: BBR(mss=MSS, profile=profile, rng=random.Random(flow)),
        rate=LOSSY_RATE,
        rtt=LOSSY_RTT,
        flows=1,
        duration=20.0,
        loss=LOSS,
    )
    # The injected loss is what it says: 1% of the packets sent, within 10%.
    assert result.link.loss_drops / result.flows[0].sent_packets == pytest.approx(LOSS, rel=0.1)
    utilisation = result.utilisation(3.0)
    assert utilisation >= BBR_LOSS_MARKS[profile]
    assert utilisation > 10 * RENO_SHARE


@pytest.mark.slow
@pytest.mark.parametrize(("algorithm", "share"), [("NewReno", RENO_SHARE), ("CUBIC", CUBIC_SHARE)])
def test_loss_based_controllers_follow_their_response_function(
    algorithm: str, share: float
) -> None:
    # Under 1% random loss NewReno and CUBIC are held to their response functions:
    # about 3.6% of the link. Accept half to 1.5 times the prediction (the formulas
    # model periodic loss and ignore slow start and timeouts), and in any case far
    # below BBR's 80%: under 10%.
    result = run(
        CONTROLLERS[algorithm], rate=LOSSY_RATE, rtt=LOSSY_RTT, flows=1, duration=30.0, loss=LOSS
    )
    utilisation = result.utilisation(5.0)
    assert utilisation < 0.10
    assert 0.5 * share <= utilisation <= 1.5 * share
