"""netalgo.sim against queueing facts worked out by hand.

Most tests use a link whose numbers are exact in binary floating point, so
event times never round and ties are real ties:

* packet size MSS = 1250 bytes, serialisation time S = 2**-10 s (0.9765625 ms),
  so the rate R = MSS / S = 1,280,000 bytes/s (10.24 Mbit/s);
* base RTT = 50 * S = 0.048828125 s, so the BDP is R * base_rtt = 62,500 bytes
  = 50 packets;
* a packet's RTT without queueing is base_rtt + S = 51 * S (its own
  serialisation counts), so a window of W packets below the BDP delivers
  W packets every 51 * S seconds.
"""

from __future__ import annotations

import math

import pytest

from netalgo.protocols import AckSample, CongestionController, LossEvent, RateSample
from netalgo.sim import Flow, Link, SimResult, Simulation, jain_index

MSS = 1250
S = 2.0**-10  # serialisation time of one packet
R = MSS / S  # 1,280,000 bytes/s
BASE_RTT = 50 * S  # 0.048828125 s
BDP = 50 * MSS  # R * BASE_RTT = 62,500 bytes
RTT0 = BASE_RTT + S  # 51 * S: an unqueued packet's RTT


class FixedWindow:
    """A test controller: a window of ``window`` bytes, optionally reached by Reno-style
    additive increase from one packet (``ramp``), optionally paced.

    The ramp grows the window by about one packet per round trip (RFC 5681
    section 3.1), slowly enough that the queue never exceeds ``window - BDP``
    on the way up, so the steady state is reached without any drop.
    """

    def __init__(
        self, window: int, *, pacing_rate: float | None = None, ramp: bool = False
    ) -> None:
        self.window = window
        self._w = float(MSS) if ramp else float(window)
        self._pacing_rate = pacing_rate
        self.acks: list[AckSample] = []
        self.losses: list[LossEvent] = []
        self.sent = 0

    @property
    def cwnd(self) -> int:
        return min(self.window, int(self._w))

    @property
    def pacing_rate(self) -> float | None:
        return self._pacing_rate

    @property
    def state(self) -> str:
        return "loss" if self.losses else "open"

    def on_sent(self, now: float, sent_bytes: int, bytes_in_flight: int) -> None:
        self.sent += 1

    def on_ack(self, sample: AckSample) -> None:
        self.acks.append(sample)
        if self._w < self.window:
            self._w += MSS * MSS / self._w

    def on_loss(self, event: LossEvent) -> None:
        self.losses.append(event)


def run_one(
    controller: FixedWindow,
    duration: float,
    *,
    buffer: int = 10**6,
    loss: float = 0.0,
    loss_pattern: str = "random",
    seed: int = 1,
    **flow_args: float,
) -> SimResult:
    link = Link(
        rate=R,
        base_rtt=BASE_RTT,
        buffer=buffer,
        loss=loss,
        loss_pattern=loss_pattern,  # type: ignore[arg-type]
    )
    return Simulation(link, [Flow(controller, mss=MSS, **flow_args)], seed=seed).run(duration)


def test_fixed_window_controller_satisfies_protocol() -> None:
    assert isinstance(FixedWindow(MSS), CongestionController)


# --- Queueing facts -------------------------------------------------------------------------


def test_window_below_bdp_gets_window_over_rtt_and_no_queue() -> None:
    # W = 20 packets < BDP = 50 packets: ACK-clocked, 20 packets per RTT of 51 * S:
    # goodput = 20 * 1250 / (51 * 2**-10) = 501,960.8 bytes/s; utilisation 20 / 51 = 0.392.
    window = 20 * MSS
    result = run_one(FixedWindow(window, ramp=True), 10.0)
    flow = result.flows[0]
    assert flow.goodput(3.0, 10.0) == pytest.approx(window / RTT0, rel=0.005)
    assert result.utilisation(3.0, 10.0) == pytest.approx(20 / 51, rel=0.005)
    # No queue: the buffer never holds more than the one packet being serialised (S).
    assert result.link.max_queue_delay(3.0, 10.0) <= S
    assert result.link.dropped_packets == 0
    assert flow.lost_packets == 0
    assert flow.loss_rate == 0.0


def test_window_of_bdp_plus_buffer_fills_the_buffer_exactly() -> None:
    # W = BDP + B with B = 25 packets: the pipe holds 50 packets, so the queue holds
    # W - BDP = B = 31,250 bytes and adds B / R = 25 * 2**-10 = 24.414 ms; the link is full.
    buffer = 25 * MSS
    controller = FixedWindow(BDP + buffer, ramp=True)
    result = run_one(controller, 10.0, buffer=buffer)
    assert result.link.dropped_packets == 0
    steady = [s for s in result.link.samples if s.t >= 6.0]
    assert steady
    assert all(s.queue_bytes == buffer for s in steady)
    assert result.link.mean_queue_delay(6.0, 10.0) == pytest.approx(buffer / R, rel=1e-9)
    assert result.link.max_queue_delay(6.0, 10.0) == pytest.approx(buffer / R, rel=1e-9)
    assert result.flows[0].goodput(6.0, 10.0) == pytest.approx(R, rel=0.005)
    assert result.utilisation(6.0, 10.0) == pytest.approx(1.0, rel=0.005)
    # The sender's RTT is base RTT + the B bytes queued ahead of and including the packet:
    # 50 * S + 25 * S = 75 * S, which is W / R (Little's law: W = R * RTT).
    assert controller.acks[-1].rtt == BASE_RTT + buffer / R
    assert result.flows[0].samples[-1].srtt == pytest.approx(BASE_RTT + buffer / R, rel=1e-4)


def test_drop_tail_drops_once_window_exceeds_bdp_plus_buffer() -> None:
    # One packet more than BDP + B cannot fit in pipe plus buffer: drop-tail must drop.
    buffer = 25 * MSS
    controller = FixedWindow(BDP + buffer + MSS, ramp=True)
    result = run_one(controller, 10.0, buffer=buffer)
    assert result.link.buffer_drops > 0
    assert result.link.loss_drops == 0
    assert result.flows[0].lost_packets == result.link.buffer_drops
    # The queue never holds more than the buffer.
    assert result.link.max_queue_delay() <= buffer / R
    # Each drop is declared lost by the ACK of a later packet, not by a timeout.
    assert controller.losses
    assert not any(e.is_timeout for e in controller.losses)
    assert result.flows[0].timeouts == 0


def test_paced_flow_sends_at_the_pacing_rate() -> None:
    # Window far above BDP + buffer, but paced at R / 2: one packet every 2 * S,
    # so goodput = R / 2 = 640,000 bytes/s, no queue and no drop.
    result = run_one(FixedWindow(10**6, pacing_rate=R / 2), 5.0)
    assert result.flows[0].goodput(1.0, 5.0) == pytest.approx(R / 2, rel=0.005)
    assert result.link.dropped_packets == 0
    assert result.link.max_queue_delay(1.0, 5.0) <= S


def test_app_limited_flow_delivers_its_app_rate_and_marks_samples() -> None:
    # An application producing R / 4 = 320,000 bytes/s with a window that could carry R:
    # goodput equals the application rate, and the rate samples are marked app-limited
    # (draft-cheng-iccrg-delivery-rate-estimation section 3.4).
    controller = FixedWindow(BDP)
    result = run_one(controller, 5.0, app_rate=R / 4)
    assert result.flows[0].goodput(1.0, 5.0) == pytest.approx(R / 4, rel=0.01)
    rates = [a.rate for a in controller.acks if a.rate is not None]
    assert rates
    assert all(isinstance(r, RateSample) for r in rates)
    assert sum(r.is_app_limited for r in rates) > len(rates) // 2


# --- Loss -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("loss", "every"), [(0.01, 100), (0.3, 3), (0.26, 4)])
def test_periodic_loss_drops_exactly_one_in_round_one_over_p(loss: float, every: int) -> None:
    # round(1 / 0.01) = 100, round(1 / 0.3) = round(3.33) = 3, round(1 / 0.26) = round(3.85) = 4:
    # of N packets arriving at the link, packets every, 2 * every, ... are dropped: N // every.
    result = run_one(FixedWindow(20 * MSS), 5.0, loss=loss, loss_pattern="periodic")
    sent = result.flows[0].sent_packets
    assert sent > 10 * every
    assert result.link.loss_drops == sent // every
    assert result.flows[0].lost_packets == sent // every
    assert result.link.buffer_drops == 0


def test_random_loss_rate_within_binomial_bounds() -> None:
    # Each of N packets is dropped independently with p = 0.02: drops ~ Binomial(N, p),
    # mean N p, standard deviation sqrt(N p (1 - p)); accept 5 standard deviations.
    p = 0.02
    result = run_one(FixedWindow(20 * MSS), 20.0, loss=p, seed=7)
    n = result.flows[0].sent_packets
    drops = result.link.loss_drops
    sigma = math.sqrt(n * p * (1 - p))
    assert n > 5000
    assert abs(drops - n * p) <= 5 * sigma
    assert result.flows[0].loss_rate == pytest.approx(drops / n)


def test_same_seed_same_result_different_seed_differs() -> None:
    def fingerprint(seed: int) -> tuple[object, ...]:
        controller = FixedWindow(30 * MSS)
        result = run_one(controller, 5.0, loss=0.02, seed=seed)
        flow = result.flows[0]
        return (
            flow.delivered_bytes,
            flow.sent_packets,
            flow.lost_packets,
            result.events,
            tuple(e.now for e in controller.losses),
            tuple(flow.samples),
            tuple(result.link.samples),
        )

    assert fingerprint(3) == fingerprint(3)
    assert fingerprint(3) != fingerprint(4)


def test_dropped_packet_declared_lost_by_the_next_ack() -> None:
    # Window 2 packets, every 2nd packet dropped. t=0: send #1 (kept), #2 (dropped).
    # #1's ACK at RTT0 frees one slot: send #3 (kept; #2 still counts in flight).
    # #3's ACK at 2*RTT0 reveals #2 lost (sent at 0); then #4 (dropped) and #5 (kept) go out,
    # and #5's ACK at 3*RTT0 reveals #4 (sent at 2*RTT0); and so on.
    controller = FixedWindow(2 * MSS)
    result = run_one(controller, 1.0, loss=0.5, loss_pattern="periodic")
    first = controller.losses[:3]
    assert [e.now for e in first] == [2 * RTT0, 3 * RTT0, 4 * RTT0]
    assert [e.sent_time for e in first] == [0.0, 2 * RTT0, 3 * RTT0]
    assert all(not e.is_timeout and e.lost_bytes == MSS for e in first)
    assert all(e.packet is not None and e.packet.size == MSS for e in first)
    # The loss is reported before the ACK that revealed it, with bytes in flight excluding it:
    # at 2*RTT0 only #3 remains in flight.
    assert first[0].bytes_in_flight == MSS
    assert result.flows[0].timeouts == 0
    # The state change the loss causes is recorded when it happens.
    assert result.flows[0].transitions[:2] == [(0.0, "open"), (2 * RTT0, "loss")]


def test_rate_samples_account_for_every_packet_in_flight_under_random_loss() -> None:
    # draft-ietf-ccwg-bbr section 4.5.1 / draft-cheng-iccrg-delivery-rate-estimation 3.3:
    # RS.tx_in_flight is what was in flight when the ACKed packet P was sent (P included),
    # RS.delivered what was delivered between P's send and its ACK, RS.lost what was marked
    # lost in that time. On a FIFO link every packet in flight at P's send is delivered or
    # declared lost before P's ACK (a later ACK reveals a drop), and nothing sent after P is
    # ACKed before it, so tx_in_flight == delivered + lost for every sample, exactly.
    controller = FixedWindow(40 * MSS)
    result = run_one(controller, 3.0, loss=0.02, seed=5)
    assert result.link.loss_drops > 20
    samples = [a.rate for a in controller.acks if a.rate is not None]
    assert len(samples) == len(controller.acks) > 1000
    assert sum(rs.lost for rs in samples) > 0
    for rs in samples:
        assert rs.tx_in_flight == rs.delivered + rs.lost
        assert not rs.is_app_limited  # a bulk sender is never application-limited


def test_rto_declares_everything_lost_when_no_later_ack_comes() -> None:
    # Stop-and-wait (window one packet), every 2nd packet dropped: a drop has no later
    # packet to reveal it, so the RFC 6298 timer must. After the first RTT sample R0 = RTT0:
    # SRTT = R0, RTTVAR = R0 / 2, RTO = R0 + 4 * R0 / 2 = 3 * R0 = 0.149 s, raised to
    # min_rto = 0.2 s; every later sample is again R0 so RTO stays 0.2 s. Cycle k:
    # send a kept packet, its ACK after RTT0, send a dropped one, timeout 0.2 s later:
    # the k-th timeout fires at k * (RTT0 + 0.2).
    controller = FixedWindow(MSS)
    result = run_one(controller, 2.0, loss=0.5, loss_pattern="periodic")
    cycle = RTT0 + 0.2
    assert [e.now for e in controller.losses[:3]] == pytest.approx([cycle, 2 * cycle, 3 * cycle])
    assert all(e.is_timeout for e in controller.losses)
    # 2.0 / 0.2498 = 8.006: eight timeouts in two seconds.
    assert result.flows[0].timeouts == 8
    assert result.flows[0].declared_lost_packets == 8


# --- Time-varying link, results ----------------------------------------------------------------


def test_rate_schedule_takes_effect() -> None:
    # A window far above the BDP keeps the link busy: goodput follows the link rate,
    # R before t = 4, R / 2 from t = 4, R again from t = 8.
    link = Link(
        rate=R,
        base_rtt=BASE_RTT,
        buffer=25 * MSS,
        rate_schedule=[(4.0, R / 2), (8.0, R)],
    )
    flow = Flow(FixedWindow(BDP + 25 * MSS), mss=MSS)
    result = Simulation(link, [flow]).run(12.0)
    goodput = result.flows[0].goodput
    assert goodput(1.0, 4.0) == pytest.approx(R, rel=0.01)
    assert goodput(5.0, 8.0) == pytest.approx(R / 2, rel=0.01)
    assert goodput(9.0, 12.0) == pytest.approx(R, rel=0.01)
    # Utilisation is measured against the scheduled capacity: R*4 + R/2*4 + R*4 over 12 s.
    assert result.utilisation(1.0, 12.0) == pytest.approx(1.0, rel=0.01)
    assert link.capacity(0.0, 12.0) == pytest.approx(R * 4 + R / 2 * 4 + R * 4)


def test_flow_stop_and_start() -> None:
    # A flow that starts at 1 s and stops sending at 3 s delivers nothing outside
    # [1, 3 + RTT]; in between it is window-limited at 20 / 51 of R.
    result = run_one(FixedWindow(20 * MSS), 5.0, start=1.0, stop=3.0)
    flow = result.flows[0]
    assert flow.goodput(0.0, 1.0) == 0.0
    assert flow.goodput(3.5, 5.0) == 0.0
    assert flow.goodput(1.5, 3.0) == pytest.approx(20 * MSS / RTT0, rel=0.02)
    assert flow.transitions[0] == (1.0, "open")
    assert flow.samples[0].t == 1.0


def test_event_count_and_samples_of_stop_and_wait() -> None:
    # One packet per RTT0, lossless, run for 10.5 * RTT0: sends at k * RTT0 for k = 0..10
    # (11 sends), each leaves the link S later (11 departures), ACKs at (k + 1) * RTT0 for
    # k = 0..9 (10 ACKs): 32 events.
    duration = 10.5 * RTT0
    result = run_one(FixedWindow(MSS), duration)
    assert result.events == 11 + 11 + 10
    flow = result.flows[0]
    assert flow.sent_packets == 11
    assert flow.delivered_bytes == 10 * MSS
    assert flow.goodput() == pytest.approx(10 * MSS / duration)
    # Samples every 0.1 s from t = 0: 0.0, 0.1, ..., 0.5 (duration 0.5229).
    assert [round(s.t, 9) for s in flow.samples] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert all(s.cwnd == MSS and s.state == "open" for s in flow.samples)
    assert [round(s.t, 9) for s in result.link.samples] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


def test_several_flows_share_the_link() -> None:
    # Two identical window-limited flows of 20 packets each: 40 packets < BDP = 50, so
    # each gets 20 packets per RTT0 and the link runs at 40 / 51 with no drops.
    flows = [Flow(FixedWindow(20 * MSS), mss=MSS), Flow(FixedWindow(20 * MSS), mss=MSS)]
    link = Link(rate=R, base_rtt=BASE_RTT, buffer=10**6)
    result = Simulation(link, flows).run(5.0)
    for flow in result.flows:
        assert flow.goodput(1.0, 5.0) == pytest.approx(20 * MSS / RTT0, rel=0.01)
    assert result.utilisation(1.0, 5.0) == pytest.approx(40 / 51, rel=0.01)
    assert jain_index([f.goodput(1.0, 5.0) for f in result.flows]) == pytest.approx(1.0, abs=1e-3)


# --- Jain's index -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([5.0, 5.0, 5.0, 5.0], 1.0),  # 20^2 / (4 * 100) = 1
        ([1.0, 0.0, 0.0, 0.0], 0.25),  # 1 / (4 * 1) = 1/n
        ([1.0, 2.0, 3.0], 6 / 7),  # 6^2 / (3 * (1 + 4 + 9)) = 36 / 42
        ([10.0, 0.0], 0.5),  # 100 / (2 * 100)
        ([3.0, 1.0], 0.8),  # 16 / (2 * 10)
        ([0.0, 0.0], 1.0),  # all equal (documented convention)
    ],
)
def test_jain_index(values: list[float], expected: float) -> None:
    assert jain_index(values) == pytest.approx(expected)


@pytest.mark.parametrize("values", [[], [1.0, -1.0], [math.nan]])
def test_jain_index_rejects_bad_input(values: list[float]) -> None:
    with pytest.raises(ValueError, match="values"):
        jain_index(values)


# --- Bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"rate": -1.0}, "rate"),
        ({"rate": 0.0}, "rate"),
        ({"rate": math.nan}, "rate"),
        ({"rate": math.inf}, "rate"),
        ({"base_rtt": 0.0}, "base_rtt"),
        ({"base_rtt": math.nan}, "base_rtt"),
        ({"buffer": 0}, "buffer"),
        ({"buffer": 1.5}, "buffer"),
        ({"loss": -0.1}, "loss"),
        ({"loss": 1.0}, "loss"),
        ({"loss": math.nan}, "loss"),
        ({"loss_pattern": "bursty"}, "loss_pattern"),
        ({"rate_schedule": [(1.0, -5.0)]}, "rate_schedule"),
        ({"rate_schedule": [(-1.0, 5.0)]}, "rate_schedule"),
        ({"rate_schedule": [(math.nan, 5.0)]}, "rate_schedule"),
        ({"rate_schedule": [(2.0, 5.0), (1.0, 5.0)]}, "rate_schedule"),
    ],
)
def test_link_rejects_bad_input(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"rate": R, "base_rtt": BASE_RTT, "buffer": BDP}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        Link(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"mss": 0}, "mss"),
        ({"mss": -1460}, "mss"),
        ({"start": -1.0}, "start"),
        ({"start": math.nan}, "start"),
        ({"stop": 0.0}, "stop"),
        ({"start": 2.0, "stop": 1.0}, "stop"),
        ({"app_rate": 0.0}, "app_rate"),
        ({"app_rate": math.inf}, "app_rate"),
    ],
)
def test_flow_rejects_bad_input(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Flow(FixedWindow(MSS), **kwargs)  # type: ignore[arg-type]


def test_flow_rejects_a_non_controller() -> None:
    with pytest.raises(ValueError, match="controller"):
        Flow(object())  # type: ignore[arg-type]


def test_simulation_rejects_bad_input() -> None:
    link = Link(rate=R, base_rtt=BASE_RTT, buffer=1000)
    with pytest.raises(ValueError, match="buffer"):
        Simulation(link, [Flow(FixedWindow(MSS), mss=MSS)])  # buffer < mss
    good = Link(rate=R, base_rtt=BASE_RTT, buffer=BDP)
    with pytest.raises(ValueError, match="flows"):
        Simulation(good, [])
    with pytest.raises(ValueError, match="sample_interval"):
        Simulation(good, [Flow(FixedWindow(MSS), mss=MSS)], sample_interval=0.0)
    with pytest.raises(ValueError, match="seed"):
        Simulation(good, [Flow(FixedWindow(MSS), mss=MSS)], seed=1.5)  # type: ignore[arg-type]
    shared = FixedWindow(MSS)
    with pytest.raises(ValueError, match="controller"):
        Simulation(good, [Flow(shared, mss=MSS), Flow(shared, mss=MSS)])
    sim = Simulation(good, [Flow(FixedWindow(MSS), mss=MSS)])
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="duration"):
            sim.run(bad)
    sim.run(0.5)
    with pytest.raises(RuntimeError):
        sim.run(0.5)


def test_result_windows_are_checked() -> None:
    result = run_one(FixedWindow(MSS), 1.0)
    with pytest.raises(ValueError, match="start"):
        result.flows[0].goodput(-1.0, 0.5)
    with pytest.raises(ValueError, match="end"):
        result.flows[0].goodput(0.5, 0.5)
    with pytest.raises(ValueError, match="end"):
        result.utilisation(0.0, 2.0)
    with pytest.raises(ValueError, match="end"):
        result.link.mean_queue_delay(0.0, math.nan)
