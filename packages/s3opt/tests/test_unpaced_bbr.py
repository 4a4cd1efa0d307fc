"""s3opt.control.UnpacedBBR: BBR's flight held near the BDP it measures, without pacing.

First on hand-computed numbers (a limiter on a clock the test moves), then on a
virtual-time model of the benchmark's ``throttled`` path: 40 ms round trip, 10 MB/s per
connection, 80 MB/s shared (processor sharing), and a 503 SlowDown for every request
that arrives while 24 are being served. A refused upload learns of its 503 only after
sending its body, as without ``Expect: 100-continue``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from netalgo import testing
from netalgo.bbr import BBR
from netalgo.limiter import Limiter, Slot
from s3opt.classify import is_congestion
from s3opt.control import (
    FLIGHT_GAIN,
    OPERATION_BBR,
    Unpaced,
    UnpacedBBR,
    initial_window,
    make_limiter,
)
from s3opt.errors import ThrottledError
from s3opt.throttling import ThrottleCeiling

PART = 8 * 2**20
FIRST = initial_window(PART)  # 16 parts


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _on_clock(max_ops: int | None = None) -> tuple[UnpacedBBR, BBR, _Clock, Limiter]:
    """A store's BBR behind its flight bound, under a limiter on a clock the test moves."""
    bbr = BBR(mss=PART, initial_window=FIRST, profile=OPERATION_BBR)
    unpaced = UnpacedBBR(bbr, part_size=PART, floor=FIRST)
    clock = _Clock()
    limiter = Limiter(unpaced, clock=clock, classify=is_congestion, max_ops=max_ops)
    return unpaced, bbr, clock, limiter


async def _enter(limiter: Limiter, count: int, nbytes: int = PART) -> list[Slot]:
    slots = [limiter.slot(nbytes) for _ in range(count)]
    for slot in slots:
        await slot.__aenter__()
    return slots


async def _exit(slots: list[Slot]) -> None:
    for slot in slots:
        await slot.__aexit__(None, None, None)


def test_the_gain_is_the_drafts_probe_bw_up_pacing_gain() -> None:
    assert FLIGHT_GAIN == 1.25
    assert OPERATION_BBR.probe_bw_up_pacing_gain == FLIGHT_GAIN


@pytest.mark.asyncio
async def test_the_first_round_grows_to_the_measured_bdp_not_to_twice_the_first_window() -> None:
    # 16 parts sent at 0 s all complete at 2 s: 16 parts in flight for 2 s, so by
    # Little's law each measures 16 parts / 2 s = 8 parts/s, and the shortest duration
    # is 2 s: the BDP is 16 parts, the bound 1.25 x 16 = 20 parts. The draft's Startup
    # grows by every ack of the first round (SetCwnd: C.delivered < InitialCwnd) to 32.
    unpaced, bbr, clock, limiter = _on_clock()
    slots = await _enter(limiter, 16)
    assert limiter.cwnd == FIRST
    clock.now = 2.0
    await _exit(slots[:1])
    # The bound rises one part per part acknowledged.
    assert unpaced.flight_bound == 17 * PART
    assert bbr.cwnd == limiter.cwnd == 17 * PART
    await _exit(slots[1:3])
    assert unpaced.flight_bound == 19 * PART
    await _exit(slots[3:])
    assert bbr.cwnd == 32 * PART
    assert unpaced.flight_bound == 20 * PART
    assert limiter.cwnd == 20 * PART
    assert limiter.pacing_rate is None


@pytest.mark.asyncio
async def test_a_small_operation_amid_parts_measures_no_rate() -> None:
    # A download's first GET (an eighth of a part, 0 to 0.25 s) has 15 parts (sent at
    # 0.125 s) in flight for half its life: by Little's law it would claim
    # (1/8 x 0.125 + 15 1/8 x 0.125) / 0.25**2 = 30.5 parts/s, and with the parts' 2 s
    # a bound of 1.25 x 30.5 x 2 = 76 parts. The parts alone (15 1/8 in flight for
    # 0.125 s, then 16 for 1.875 s, over 2 s each) measure 7.97 parts/s: 19.9 parts.
    unpaced, _, clock, limiter = _on_clock(max_ops=100)
    small = await _enter(limiter, 1, PART // 8)
    clock.now = 0.125
    parts = await _enter(limiter, 15)
    clock.now = 0.25
    await _exit(small)
    parts += await _enter(limiter, 1)
    clock.now = 2.125
    await _exit(parts[:15])
    parts_rate = (15.125 * 0.125 + 16 * 1.875) * PART / 2.0 / 2.0
    assert unpaced.flight_bound == int(1.25 * parts_rate * 2.0)


@pytest.mark.asyncio
async def test_one_fast_operation_opens_one_slot_not_a_quarter_of_the_window() -> None:
    # After the first round (bound 20 parts, nothing in flight at 2 s) 20 parts go out
    # at 2 s, and one of them is back at 3 s: 20 parts in flight over 1 s, 20 parts/s,
    # and a new shortest duration of 1 s. The bound it argues for is 1.25 x 20 x 1 = 25
    # parts; it rises by the one part acknowledged, to 21.
    unpaced, _, clock, limiter = _on_clock()
    first = await _enter(limiter, 16)
    clock.now = 2.0
    await _exit(first)
    assert unpaced.flight_bound == 20 * PART
    second = await _enter(limiter, 20)
    clock.now = 3.0
    await _exit(second[:1])
    assert unpaced.flight_bound == 21 * PART
    await _exit(second[1:2])
    assert unpaced.flight_bound == 22 * PART


@pytest.mark.asyncio
async def test_a_last_part_that_runs_alone_does_not_overstate_the_rate() -> None:
    # 15 parts sent at 0 s complete at 2 s. A 16th, sent at 1.9 s with 16 in flight,
    # then runs alone until 2.8 s: 0.9 s, the shortest duration. Averaged over its life
    # the flight was (16 x 0.1 + 1 x 0.8) / 0.9 = 2.7 parts: 2.96 parts/s. The others
    # measured (15 x 1.9 + 16 x 0.1) / 2 = 15.05 parts over 2 s: 7.5 parts/s. The bound,
    # 1.25 x 7.5 x 0.9 = 8.5 parts, is under the first window. Taken at its send, the
    # last part's flight would have claimed 16 / 0.9 = 17.8 parts/s and a bound of
    # 1.25 x 16 = 20 parts, which a next transfer would start from.
    unpaced, _, clock, limiter = _on_clock()
    slots = await _enter(limiter, 15)
    clock.now = 1.9
    last = await _enter(limiter, 1)
    clock.now = 2.0
    await _exit(slots)
    clock.now = 2.8
    await _exit(last)
    assert unpaced.flight_bound == FIRST
    assert limiter.cwnd == FIRST


@pytest.mark.asyncio
async def test_send_marks_do_not_outlive_their_operations() -> None:
    # Acked, lost, failed or cancelled: no operation's mark stays once nothing is in
    # flight and the next send starts a new period.
    unpaced, _, clock, limiter = _on_clock()
    for round_ in range(50):
        slots = await _enter(limiter, 4)
        clock.now += 1.0
        await slots[0].__aexit__(None, None, None)  # acked
        await slots[1].__aexit__(ThrottledError, ThrottledError("slow down"), None)  # lost
        await slots[2].__aexit__(KeyError, KeyError("failed"), None)  # no signal
        await slots[3].__aexit__(asyncio.CancelledError, asyncio.CancelledError(), None)
        assert limiter.ops_in_flight == 0, round_
    await _exit(await _enter(limiter, 1))
    assert len(unpaced._area_at_send) <= 1


@pytest.mark.asyncio
async def test_nothing_above_the_first_window_before_a_part_sized_operation_completes() -> None:
    # A download's first GET is 1 MiB (an eighth of a part) and quick: 0.25 s. Its
    # duration is not a part's: it sets no bound, and the window stays at the first
    # window while BBR's own grows past it.
    unpaced, bbr, clock, limiter = _on_clock()
    small = await _enter(limiter, 1, PART // 8)
    clock.now = 0.25
    await _exit(small)
    assert bbr.cwnd > FIRST
    assert unpaced.flight_bound == FIRST
    assert limiter.cwnd == FIRST
    # Half a part counts. 16 halves in 1 s, the last sent with 8 parts in flight:
    # 8 parts/s, 1.25 x 8 x 1.0 = 10 parts, under the first window.
    halves = await _enter(limiter, 16, PART // 2)
    clock.now = 1.25
    await _exit(halves)
    assert unpaced.flight_bound == FIRST
    # 16 parts in the next 1 s, the last sent with 16 in flight: 16 parts/s. The
    # shortest duration of a part-sized operation is 1 s (BBR's own minimum is the small
    # GET's 0.25 s, which would make every part look four times queued):
    # 1.25 x 16 x 1.0 = 20 parts.
    parts = await _enter(limiter, 16)
    clock.now = 2.25
    await _exit(parts)
    assert bbr.min_rtt == 0.25
    assert unpaced.flight_bound == 20 * PART
    assert bbr.cwnd > 20 * PART
    assert limiter.cwnd == 20 * PART


# -- a virtual-time model of the benchmark's `throttled` path --------------------------

RTT = 0.040
PER_CONNECTION = 10e6
AGGREGATE = 80e6
THROTTLE_ABOVE = 24
TRANSFER_PARTS = 128  # 1 GiB
STEP = 0.02
"""Seconds between updates of each body's share of the link."""


@dataclass
class Upload:
    """What one upload of :data:`TRANSFER_PARTS` parts did on the model path."""

    parts: int = TRANSFER_PARTS
    seconds: float = 0.0
    requests: int = 0
    refused: int = 0
    most_in_flight: int = 0

    @property
    def rate(self) -> float:
        """Bytes per second over the whole upload."""
        return self.parts * PART / self.seconds


async def _upload(
    limiter: Limiter,
    *,
    parts: int = TRANSFER_PARTS,
    aggregate: float = AGGREGATE,
    throttle_above: int = THROTTLE_ABOVE,
) -> Upload:
    loop = asyncio.get_running_loop()
    upload = Upload(parts)
    sending = 0  # bodies on the link, refused or not
    served = 0  # requests the server works on: what its 503 threshold counts

    async def send() -> None:
        nonlocal sending, served
        async with limiter.slot(PART):
            upload.requests += 1
            upload.most_in_flight = max(upload.most_in_flight, limiter.ops_in_flight)
            refused = served >= throttle_above
            served += not refused
            sending += 1
            left = float(PART)
            while left > 0:
                await asyncio.sleep(STEP)
                left -= min(PER_CONNECTION, aggregate / sending) * STEP
            sending -= 1
            await asyncio.sleep(RTT)
            served -= not refused
            if refused:
                upload.refused += 1
                raise ThrottledError("UploadPart b/k: throttled by S3: SlowDown", code="SlowDown")

    async def part() -> None:
        while True:
            try:
                return await send()
            except ThrottledError:
                await asyncio.sleep(0.05)  # the retry's backoff, outside the slot

    start = loop.time()
    tasks: list[asyncio.Task[None]] = []
    for _ in range(parts):
        # Fed as a transfer feeds the limiter: at most two waiting beyond those admitted.
        while limiter.waiting >= 2:
            await asyncio.sleep(0.005)
        tasks.append(asyncio.ensure_future(part()))
        await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=600.0)  # virtual seconds
    upload.seconds = loop.time() - start
    return upload


def _draft_startup_limiter() -> Limiter:
    """The chain before UnpacedBBR: BBR unpaced, bounded only by its own window."""
    bbr = BBR(mss=PART, initial_window=FIRST, profile=OPERATION_BBR)
    return Limiter(ThrottleCeiling(Unpaced(bbr)), classify=is_congestion)


def test_the_model_path_draws_refusals_from_the_drafts_first_round() -> None:
    # The model is one in which the bound matters: BBR's own window doubles the first
    # 16 parts within their round and sends past the 24 the server takes.
    upload = testing.run(_upload(_draft_startup_limiter()))
    assert upload.most_in_flight > THROTTLE_ABOVE
    assert upload.refused >= 4


def test_a_store_uploads_through_the_throttled_path_without_a_refusal() -> None:
    limiter = make_limiter("bbr", part_size=PART, max_ops=60, initial_window=FIRST)
    upload = testing.run(_upload(limiter))
    assert upload.refused == 0
    assert upload.requests == TRANSFER_PARTS
    assert upload.most_in_flight <= THROTTLE_ABOVE
    assert upload.rate >= 0.9 * AGGREGATE


def test_a_path_that_needs_three_first_windows_still_fills() -> None:
    # 400 MB/s shared, 10 MB/s per connection: 0.04 + PART / 10e6 = 0.879 s a part, so
    # 400e6 x 0.879 / PART = 41.9 parts fill it, where 16 are sent first. The bound grows
    # a quarter a round (16, 20, 25, 31, 39, 49): the link is full from the sixth round,
    # ~4.4 s into a 4 GiB upload that takes 10.7 s at the full rate.
    limiter = make_limiter("bbr", part_size=PART, max_ops=60, initial_window=FIRST)
    upload = testing.run(_upload(limiter, parts=512, aggregate=400e6, throttle_above=10**6))
    assert upload.most_in_flight >= 42
    assert upload.rate >= 0.8 * 400e6
