"""BBR in s3opt's limiter on operations lasting seconds: no ProbeRTT collapse every 5 s.

A virtual-time model of the benchmark's ``far`` path: 150 ms round trip, 4 MB/s per
connection, 60 MB/s shared by all connections (processor sharing). An 8 MiB part
then lasts at least 0.15 + 8388608 / 4e6 = 2.247 s, and the path's bandwidth-delay
product is 60e6 x 2.247 = 134.8 MB = 16.07 parts: fewer parts in flight than that
leave the link partly idle. Operations are fed to the limiter as a transfer feeds it: two
waiting beyond those admitted (``READ_AHEAD``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, fields

from netalgo import testing
from netalgo.bbr import BBR, PROFILES, BbrProfile
from netalgo.limiter import Limiter
from s3opt.classify import is_congestion
from s3opt.control import OPERATION_BBR, Unpaced, initial_window, make_limiter
from s3opt.throttling import ThrottleCeiling
from s3opt.transfer.context import READ_AHEAD

PART = 8 * 2**20
RTT = 0.150
PER_CONNECTION = 4e6
AGGREGATE = 60e6
BDP_PARTS = 16  # floor(60e6 * (0.15 + PART / 4e6) / PART) = floor(16.07)
MAX_OPS = 60
"""A store's ceiling with the default 64 connections (4 kept for metadata requests)."""
STEP = 0.05
"""Seconds between updates of each transfer's share of the link."""


@dataclass
class Run:
    """What the limiter did after the first ``settle`` seconds: time in ProbeRTT, fewest parts
    in flight, bytes per second delivered, states seen."""

    probe_rtt_seconds: float = 0.0
    fewest_in_flight: int = 10**9
    rate: float = 0.0
    states: set[str] = field(default_factory=set)


async def _far_path(limiter: Limiter, controller: BBR, seconds: float, settle: float) -> Run:
    loop = asyncio.get_running_loop()
    active = 0
    moved = 0

    async def part() -> None:
        nonlocal active, moved
        async with limiter.slot(PART):
            await asyncio.sleep(RTT)
            left = float(PART)
            active += 1
            try:
                while left > 0:
                    rate = min(PER_CONNECTION, AGGREGATE / active)
                    await asyncio.sleep(STEP)
                    left -= rate * STEP
            finally:
                active -= 1
            moved += PART

    tasks: set[asyncio.Task[None]] = set()

    async def feed() -> None:
        while True:
            task = asyncio.ensure_future(part())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(0)
            while limiter.waiting >= READ_AHEAD:
                await asyncio.sleep(0.01)

    feeder = asyncio.ensure_future(feed())
    run = Run()
    start = loop.time()
    moved_at_settle = 0
    try:
        while (elapsed := loop.time() - start) < seconds:
            await asyncio.sleep(0.1)
            if elapsed < settle:
                moved_at_settle = moved
                continue
            run.states.add(controller.state)
            if controller.state == "ProbeRTT":
                run.probe_rtt_seconds += 0.1
            run.fewest_in_flight = min(run.fewest_in_flight, limiter.ops_in_flight)
    finally:
        feeder.cancel()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(feeder, *tasks, return_exceptions=True)
    run.rate = (moved - moved_at_settle) / (seconds - settle)
    return run


def test_seconds_long_parts_keep_the_window_through_a_minute() -> None:
    limiter = make_limiter(
        "bbr", part_size=PART, max_ops=MAX_OPS, initial_window=initial_window(PART)
    )
    wrapper = limiter.controller
    assert isinstance(wrapper, ThrottleCeiling)
    assert isinstance(wrapper.inner, Unpaced)
    controller = wrapper.inner.inner
    assert isinstance(controller, BBR)
    run = testing.run(_far_path(limiter, controller, seconds=60.0, settle=10.0))
    assert "ProbeRTT" not in run.states
    assert run.probe_rtt_seconds == 0.0
    assert run.fewest_in_flight >= BDP_PARTS
    assert run.rate >= 0.95 * AGGREGATE


def test_the_drafts_five_second_probe_halves_the_window_on_the_same_path() -> None:
    # The same path with the draft's ProbeRTTInterval of 5 s: the model is one in which
    # the choice matters (parts in flight fall below the BDP, the link idles).
    controller = BBR(mss=PART, initial_window=initial_window(PART), profile="draft")
    limiter = Limiter(Unpaced(controller), classify=is_congestion, max_ops=MAX_OPS)
    run = testing.run(_far_path(limiter, controller, seconds=60.0, settle=10.0))
    assert run.probe_rtt_seconds >= 5.0
    assert run.fewest_in_flight < BDP_PARTS
    assert run.rate < 0.95 * AGGREGATE


def test_the_operation_profile_changes_only_the_min_rtt_clocks() -> None:
    draft = PROFILES["draft"]
    changed = {
        f.name
        for f in fields(BbrProfile)
        if getattr(draft, f.name) != getattr(OPERATION_BBR, f.name)
    }
    assert changed == {"name", "probe_rtt_interval", "min_rtt_filter_len"}
    # The draft's 5 s and 10 s (section 2.16), each x 60.
    assert OPERATION_BBR.probe_rtt_interval == 60 * 5.0
    assert OPERATION_BBR.min_rtt_filter_len == 60 * 10.0
    wrapper = make_limiter("bbr", part_size=PART).controller
    assert isinstance(wrapper, ThrottleCeiling)
    assert isinstance(wrapper.inner, Unpaced)
    assert isinstance(wrapper.inner.inner, BBR)
    assert wrapper.inner.inner.profile is OPERATION_BBR
