"""CUBIC's response function under periodic loss against RFC 9438 section 5.1, tables 1 and 2.

The tables give CUBIC's average window (segments) when exactly one packet in
``1/p`` is lost, at RTT 0.1 s (table 1) and 0.01 s (table 2). Their "CUBIC
(C=0.4)" column is ``max(AVG_W_cubic, Reno)`` where ``AVG_W_cubic =
(C * 3.7 / 1.2)^(1/4) * (RTT / p)^(3/4)`` (figure 6) and Reno ``= 1.2 / sqrt(p)``:
where Reno is larger, CUBIC's Reno-friendly region governs. Values used here:

    RTT 0.1 s:  p = 1e-3 -> 38 (Reno-friendly; figure 6 gives only 33.3)
                p = 1e-4 -> 187 (cubic region; Reno is 120)
                p = 1e-5 -> 1054 (cubic region; Reno is 379)
    RTT 0.01 s: p = 1e-4 -> 120 (Reno-friendly; figure 6 gives only 33.3)
                p = 1e-5 -> 379 (Reno-friendly; figure 6 gives only 187)

Two drivers feed the controller:

* ``netalgo.sim`` (a ``Link`` with ``loss_pattern="periodic"`` and a huge rate
  and buffer, so only the periodic loss acts) for a Reno-friendly case from a
  cold start: that region is AIMD, which forgets its starting point by a factor
  of beta per cycle.
* A small deterministic ACK-clocked loop in this file, which feeds AckSample /
  LossEvent exactly as the simulator does (loss declared when the ACK of a later
  send arrives, ``on_loss`` before that ``on_ack``). It is needed for the cubic
  region because there the deterministic-loss cycle is only neutrally stable:
  with ``W_max = W*(1 + e)`` the next cycle has ``e' = e - 0.56 e^3`` (the cycle
  ends ``1.23 e K`` early, leaving ``C (1.23 e K)^3 = 0.56 e^3 W`` of the plateau
  unreached), so from a slow-start overshoot the average creeps toward the
  table over hundreds of cycles. Figure 5 describes the fixed-point cycle,
  whose peak is ``W* = AVG * 4 / (3 + beta)``; the loop starts the flow in
  congestion avoidance at ``W*``, drops its first packet, and then checks that
  the controller's own ``K``, ``W_cubic``, target, beta and recovery carry exactly
  ``1/p`` packets per cycle at the table's average, cycle after cycle.

Fast convergence is off: the RFC's analysis is of one flow, and section 4.7
says fast convergence SHOULD be disabled for a lone flow.

What this can and cannot catch: on (or near) the neutral fixed point a cycle's
average is set by its peak and beta (``(3 + beta) / 4`` of the peak for the
concave profile), so these tests pin the window's shape over a cycle, the
reduction, recovery and the Reno-friendly region (without section 4.3 the
RTT 0.01 s rows fall to 55-94 segments). ``C`` only moves the fixed point, which
a flow reaches over hundreds of cycles; ``C`` and ``K`` themselves are pinned by
the formula checks in ``test_cubic.py``.
"""

from __future__ import annotations

import itertools
from collections import deque

import pytest

from netalgo.cubic import Cubic
from netalgo.protocols import AckSample, LossEvent
from netalgo.sim import Flow, Link, Simulation

MSS = 1460


def run_periodic_loss(ctl: Cubic, rtt: float, p: float, cycles: int) -> list[float]:
    """Drive ``ctl`` through ``cycles`` loss cycles; return each cycle's average cwnd (segments).

    One packet in ``round(1/p)`` is dropped, the first one sent included. The
    link serialises a packet in ``rtt / 1e6`` (so no queue forms) and propagation
    is ``rtt``. The average is the time integral of cwnd between two loss
    detections divided by their distance.
    """
    period = round(1 / p)
    serialisation = rtt / 1e6
    flight: deque[tuple[float, float, bool]] = deque()  # (ack arrival, send time, dropped)
    seq = 0
    in_flight = 0
    link_free = 0.0
    now = 0.0
    area = 0.0
    marks: list[tuple[float, float]] = []  # (time, cwnd-time area) at each loss detection
    undetected: list[float] = []

    def send() -> None:
        nonlocal seq, in_flight, link_free
        while in_flight + MSS <= ctl.cwnd:
            in_flight += MSS
            ctl.on_sent(now, MSS, in_flight)
            link_free = max(now, link_free) + serialisation
            flight.append((link_free + rtt, now, seq % period == 0))
            seq += 1

    send()
    while len(marks) <= cycles:
        arrival, sent_time, dropped = flight.popleft()
        area += ctl.cwnd * (arrival - now)
        now = arrival
        if dropped:
            undetected.append(sent_time)  # no ACK; found lost by the next ACK
            continue
        in_flight -= MSS
        if undetected:
            for lost_sent_time in undetected:
                in_flight -= MSS
                ctl.on_loss(LossEvent(now, MSS, in_flight, lost_sent_time))
            undetected.clear()
            marks.append((now, area))
        ctl.on_ack(AckSample(now, MSS, in_flight, sent_time, now - sent_time))
        send()
    return [(a1 - a0) / (t1 - t0) / MSS for (t0, a0), (t1, a1) in itertools.pairwise(marks)]


def on_fixed_point_cycle(table_average: float) -> Cubic:
    """A CUBIC flow in congestion avoidance at the cycle peak ``W* = AVG * 4 / (3 + 0.7)``."""
    peak = round(table_average * 4 / 3.7 * MSS)
    return Cubic(mss=MSS, initial_window=peak, initial_ssthresh=peak, fast_convergence=False)


@pytest.mark.parametrize(
    ("rtt", "p", "table_average", "cycles"),
    [
        (0.1, 1e-4, 187, 6),  # table 1: 1e4 packets a cycle, K = cbrt(202.6 * 0.3 / 0.4) = 5.3 s
        (0.1, 1e-5, 1054, 3),  # table 1: 1e5 packets a cycle
    ],
)
def test_cubic_region_average_window_matches_rfc_table(
    rtt: float, p: float, table_average: float, cycles: int
) -> None:
    averages = run_periodic_loss(on_fixed_point_cycle(table_average), rtt, p, cycles)
    # Skip the first cycle (it starts from the hand-placed loss); every later one
    # must carry the table's average within 5%.
    for average in averages[1:]:
        assert average == pytest.approx(table_average, rel=0.05)


@pytest.mark.parametrize(
    ("rtt", "p", "table_average"),
    [
        (0.1, 1e-3, 38),  # table 1, Reno-friendly row
        (0.01, 1e-4, 120),  # table 2
        (0.01, 1e-5, 379),  # table 2
    ],
)
def test_reno_friendly_region_average_window_matches_rfc_table(
    rtt: float, p: float, table_average: float
) -> None:
    # Start in congestion avoidance at the table's average itself; the AIMD
    # dynamics of the Reno-friendly region shrink any offset by beta each cycle.
    # Without section 4.3 the window would follow figure 6, far lower (33-187).
    start = round(table_average * MSS)
    ctl = Cubic(mss=MSS, initial_window=start, initial_ssthresh=start, fast_convergence=False)
    averages = run_periodic_loss(ctl, rtt, p, 8)
    # AIMD(alpha_cubic, 0.7) averages sqrt(alpha (1 + beta) / (2 (1 - beta) p)) =
    # sqrt(1.5 / p) (section 4.3, figure 3): 38.7, 122.5, 387.3 -- within 2.2% of the
    # table's Reno column (1.2 / sqrt(p)); the test holds to the table, within 5%.
    for average in averages[3:]:
        assert average == pytest.approx(table_average, rel=0.05)


@pytest.mark.slow
def test_reno_friendly_response_in_the_simulator() -> None:
    # RTT 0.01 s, p = 1e-4 (table 2: 120 segments), from a cold start (IW10, slow start).
    rtt = 0.01
    link = Link(rate=1e9, base_rtt=rtt, buffer=10**9, loss=1e-4, loss_pattern="periodic")
    result = Simulation(link, [Flow(Cubic(fast_convergence=False), mss=MSS)]).run(15.0)
    flow = result.flows[0]
    # Average window = goodput * RTT / MSS over the second half (about 9 loss cycles):
    # no queue forms at 1e9 B/s, so the RTT stays the base RTT.
    average = flow.goodput(start=7.5) * rtt / MSS
    assert average == pytest.approx(120, rel=0.05)
