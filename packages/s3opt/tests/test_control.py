"""s3opt.control: the controller spec, the limiter it builds, and what the limiter measures."""

from __future__ import annotations

import asyncio

import pytest

from netalgo.bbr import BBR
from netalgo.cubic import Cubic
from netalgo.limiter import FixedConcurrency, Limiter
from netalgo.protocols import CongestionController
from s3opt.classify import is_congestion
from s3opt.control import (
    INITIAL_WINDOW,
    Unpaced,
    UnpacedBBR,
    controller_name,
    fixed_concurrency,
    initial_window,
    make_limiter,
    path_estimate,
)
from s3opt.errors import NoSuchKeyError, ThrottledError, TransientError
from s3opt.throttling import ThrottleCeiling

PART = 8 * 2**20


def _unpaced(limiter: Limiter) -> Unpaced:
    """The :class:`Unpaced` controller inside the limiter's :class:`ThrottleCeiling`."""
    ceiling = limiter.controller
    assert isinstance(ceiling, ThrottleCeiling)
    assert isinstance(ceiling.inner, Unpaced)
    return ceiling.inner


def test_bbr_is_built_with_the_part_size_as_mss() -> None:
    limiter = make_limiter("bbr", part_size=PART)
    assert isinstance(_unpaced(limiter).inner, BBR)
    # RFC 6928's initial window counts segments: ten parts.
    assert limiter.cwnd == 10 * PART
    assert controller_name(limiter) == "bbr"


def test_only_bbr_has_its_flight_bounded_by_the_bdp() -> None:
    # BBR's pacing held its flight near one BDP; CUBIC's window was always its flight.
    bbr = _unpaced(make_limiter("bbr", part_size=PART, initial_window=16 * PART))
    assert isinstance(bbr, UnpacedBBR)
    assert bbr.flight_bound == 16 * PART  # the first window until a part completes
    assert type(_unpaced(make_limiter("cubic", part_size=PART))) is Unpaced


def test_cubic_is_plain_slow_start_without_hystart() -> None:
    limiter = make_limiter("cubic", part_size=PART)
    inner = _unpaced(limiter).inner
    assert isinstance(inner, Cubic)
    assert inner.mss == PART
    assert limiter.cwnd == 10 * PART
    assert controller_name(limiter) == "cubic"


def test_operations_are_not_paced_by_the_controller() -> None:
    # BBR paces (draft-ietf-ccwg-bbr section 5.6.2), but a part's bytes are paced by its
    # own connection: the limiter must not space admissions as well.
    limiter = make_limiter("bbr", part_size=PART)
    unpaced = _unpaced(limiter)
    assert unpaced.inner.pacing_rate is not None
    assert unpaced.inner.pacing_rate > 0
    assert limiter.pacing_rate is None
    assert limiter.controller.state == unpaced.inner.state == "Startup"


async def _second_round_admitted(controller: CongestionController) -> int:
    """Parts of a second window admitted at once after a first round of 16 parts in 2 s."""
    loop = asyncio.get_running_loop()
    skew = [0.0]  # the round's 2 s pass at once
    limiter = Limiter(controller, clock=lambda: loop.time() + skew[0], classify=is_congestion)
    first = [limiter.slot(PART) for _ in range(16)]
    for slot in first:
        await slot.__aenter__()
    skew[0] = 2.0
    for slot in first:
        await slot.__aexit__(None, None, None)
    second = [limiter.slot(PART) for _ in range(16)]
    tasks = [asyncio.ensure_future(slot.__aenter__()) for slot in second]
    await asyncio.sleep(0)
    admitted = sum(task.done() for task in tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return admitted


@pytest.mark.asyncio
async def test_a_window_of_parts_is_admitted_at_once_after_the_first_round() -> None:
    # Paced, BBR spaces the next window at 2.77 x the measured 67 MB/s: one 8 MiB part
    # per 45 ms. Unpaced, every part the (grown) window holds goes at once.
    limiter = make_limiter("bbr", part_size=PART, initial_window=16 * PART)
    assert await _second_round_admitted(_unpaced(limiter)) == 16
    paced = BBR(mss=PART, initial_window=16 * PART)
    assert await _second_round_admitted(paced) == 1


def test_fixed_caps_operations_not_bytes() -> None:
    limiter = make_limiter("fixed:7", part_size=PART)
    assert isinstance(limiter.controller, FixedConcurrency)
    assert limiter.max_ops == 7
    assert controller_name(limiter) == "fixed"


def test_max_ops_caps_any_controller() -> None:
    assert make_limiter("fixed:70", part_size=PART, max_ops=60).max_ops == 60
    assert make_limiter("bbr", part_size=PART, max_ops=12).max_ops == 12


@pytest.mark.parametrize(
    "spec", ["", "BBR", "bbr2", "reno", "fixed", "fixed:", "fixed:0", "fixed:-1", "fixed:x", " bbr"]
)
def test_invalid_spec_names_itself(spec: str) -> None:
    with pytest.raises(ValueError, match=r"invalid controller|controller must be") as caught:
        make_limiter(spec, part_size=PART)
    assert repr(spec) in str(caught.value)


@pytest.mark.parametrize("part_size", [0, -1, True])
def test_invalid_part_size(part_size: int) -> None:
    with pytest.raises(ValueError, match="part_size"):
        make_limiter("bbr", part_size=part_size)


def test_fixed_concurrency_parses() -> None:
    assert fixed_concurrency("bbr") is None
    assert fixed_concurrency("cubic") is None
    assert fixed_concurrency("fixed:12") == 12


async def _run_slot(limiter: Limiter, exc: Exception | None) -> None:
    if exc is None:
        async with limiter.slot(PART):
            await asyncio.sleep(0.001)
        return

    async def failing() -> None:
        async with limiter.slot(PART):
            await asyncio.sleep(0.001)
            raise exc

    with pytest.raises(type(exc)):
        await failing()


@pytest.mark.asyncio
async def test_throttles_and_resets_are_losses_fatal_errors_are_not() -> None:
    limiter = make_limiter("cubic", part_size=PART)
    await _run_slot(limiter, ThrottledError("slow down", bucket="b", key="k"))
    assert (limiter.losses, limiter.failures) == (1, 0)
    reset = TransientError("reset", bucket="b", key="k")
    reset.__cause__ = ConnectionResetError()
    await _run_slot(limiter, reset)
    assert (limiter.losses, limiter.failures) == (2, 0)
    await _run_slot(limiter, NoSuchKeyError("gone", bucket="b", key="k"))
    assert (limiter.losses, limiter.failures) == (2, 1)
    await _run_slot(limiter, None)
    assert limiter.acks == 1


@pytest.mark.asyncio
async def test_path_estimate_appears_after_acks() -> None:
    limiter = make_limiter("bbr", part_size=PART)
    assert path_estimate(limiter) is None
    for _ in range(4):
        await asyncio.gather(*(_run_slot(limiter, None) for _ in range(4)))
    estimate = path_estimate(limiter)
    assert estimate is not None
    bandwidth, rtt = estimate
    assert bandwidth > 0
    assert 0 < rtt < 1.0


@pytest.mark.asyncio
async def test_path_estimate_for_an_unpaced_controller_is_none() -> None:
    limiter = make_limiter("fixed:4", part_size=PART)
    await _run_slot(limiter, None)
    assert path_estimate(limiter) is None


def test_a_store_starts_with_16_parts_within_128_mib_and_never_under_ten() -> None:
    assert INITIAL_WINDOW == 128 * 2**20
    assert initial_window(5 * 2**20) == 16 * 5 * 2**20  # 16 default parts: far's A/C is 15
    assert initial_window(8 * 2**20) == 128 * 2**20  # 16 parts, exactly 128 MiB
    assert initial_window(10 * 2**20) == 128 * 2**20  # 12.8 parts: the bytes bound
    assert initial_window(64 * 2**20) == 10 * 64 * 2**20  # large parts: RFC 6928's ten


@pytest.mark.parametrize("spec", ["bbr", "cubic"])
def test_initial_window_sets_the_first_window(spec: str) -> None:
    limiter = make_limiter(spec, part_size=PART, initial_window=initial_window(PART))
    assert limiter.cwnd == 16 * PART


@pytest.mark.parametrize("window", [0, -1, True])
def test_invalid_initial_window(window: int) -> None:
    with pytest.raises(ValueError, match="initial_window"):
        make_limiter("bbr", part_size=PART, initial_window=window)
