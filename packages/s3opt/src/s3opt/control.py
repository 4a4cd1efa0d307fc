"""The congestion controller that steers a store's concurrency: ``bbr``, ``cubic`` or ``fixed:N``.

Each part upload or ranged GET is one "packet" to the controller
(:mod:`netalgo.limiter`), so controllers are built with ``mss`` equal to the
part size: their segment-based constants (the initial window of RFC 6928,
BBR's minimum of 4 packets, CUBIC's ``C``) then count parts.

Choices, and why:

* initial window: :data:`INITIAL_PARTS` parts for every controller. RFC
  6928's formula, ``min(10 * MSS, max(2 * MSS, 14600))``, is in bytes and
  gives only 2 segments once the MSS exceeds 7,300 bytes; ten concurrent
  requests is what the RFC's ten segments meant, and what boto3's transfer
  manager starts with, so short transfers do not crawl through slow start.
  A store raises it to :data:`FIRST_ROUND_PARTS` parts while they fit in
  :data:`INITIAL_WINDOW` bytes (:func:`initial_window` says why).

* ``bbr``: :class:`netalgo.bbr.BBR` with the IETF draft's constants (the
  default of DESIGN.md) except its two min-RTT time scales, which
  :data:`OPERATION_BBR` stretches to operations lasting seconds. It sizes the
  window from the measured delivery rate times the minimum part duration, so it
  fills a long fat path without building a queue; unpaced, its flight is held
  within :data:`FLIGHT_GAIN` x that product (:class:`UnpacedBBR`, which also
  lists the two departures from the draft's Startup this makes).
* ``cubic``: :class:`netalgo.cubic.Cubic` *without* HyStart++. RFC 9406 leaves
  slow start when a round's minimum RTT rises by ``RttThresh``, clamped to
  4-16 ms (section 4.3). Those constants are tuned to packet RTTs; a part's
  duration varies by far more than 16 ms from server-side jitter alone, so
  HyStart++ would end slow start spuriously and leave CUBIC to creep up in
  congestion avoidance. Plain RFC 5681 slow start exits on the first real
  congestion signal (503 SlowDown, timeout, reset), which S3 sends clearly.
* ``fixed:N``: exactly ``N`` operations in flight, for comparisons.
* pacing: none. ``bbr`` and ``cubic`` steer through their window alone
  (:class:`Unpaced` says why): an operation's bytes are already paced by its
  connection. What BBR's pacing did besides spacing sends, holding the flight
  near one bandwidth-delay product, :class:`UnpacedBBR` does with a bound
  (:data:`FLIGHT_GAIN` x the measured BDP).
* throttles: ``bbr`` and ``cubic`` windows are bounded by a
  :class:`~s3opt.throttling.ThrottleCeiling`, which settles below the
  concurrency that drew a 503 SlowDown instead of probing into it again.

The limiter's ``classify`` is :func:`s3opt.classify.is_congestion`: throttles,
timeouts and resets are losses; other failures are not congestion.
"""

from __future__ import annotations

import math
import re
from typing import Final

from netalgo.bbr import BBR, PROFILES, BbrProfile
from netalgo.cubic import Cubic
from netalgo.filters import WindowedMaxFilter, WindowedMinFilter
from netalgo.limiter import FixedConcurrency, Limiter, fixed
from netalgo.protocols import AckSample, CongestionController, LossEvent
from s3opt.classify import is_congestion
from s3opt.throttling import ThrottleCeiling

__all__ = [
    "FIRST_ROUND_PARTS",
    "FLIGHT_GAIN",
    "INITIAL_PARTS",
    "INITIAL_WINDOW",
    "OPERATION_BBR",
    "Unpaced",
    "UnpacedBBR",
    "controller_name",
    "fixed_concurrency",
    "initial_window",
    "make_limiter",
    "path_estimate",
]

INITIAL_PARTS: Final = 10
"""The initial congestion window in parts (RFC 6928's ten segments, counted in parts)."""

FIRST_ROUND_PARTS: Final = 16
"""Parts a store's first window holds when they fit in :data:`INITIAL_WINDOW` bytes
(see :func:`initial_window`)."""

INITIAL_WINDOW: Final = 128 * 2**20
"""The bytes up to which a store's first window holds :data:`FIRST_ROUND_PARTS` parts."""


def initial_window(part_size: int) -> int:
    """The initial window of a store's controller: ``max(10 parts, min(16 parts, 128 MiB))``.

    A part's "round trip" is its whole duration (``part_size / C + RTT`` for a
    per-connection rate ``C``), seconds on a long path, and Startup grows the
    window once per round; so the first window decides the first several
    seconds of every transfer. Keeping an aggregate rate ``A`` busy needs
    ``A / C`` parts in flight from the first round. ``C`` for one TCP stream
    to a distant region is window-limited to a few MB/s (4 MB/s at 150 ms in the
    benchmark's ``far`` profile, 10 MB/s at 40 ms in ``wan``) while hosts carry
    tens of MB/s or more: 8 to 15 parts on those paths, more on faster ones.
    Ten parts leave ``far`` a third idle for its first round; 16 fill both, and
    stay below the concurrency at which throttling endpoints answer 503 (the
    ``throttled`` profile's 24, S3's per-prefix rates by far): counted in bytes
    instead (128 MiB whatever the part size), 5 MiB parts would start 25 at once.
    The cost is memory where parts are held: a stream's first round holds up to
    128 MiB of them (the window bounds it; see ``InFlight``), while a file's
    parts stay in the file. Parts over 12.8 MiB keep ten of them, as RFC 6928
    counts segments.
    """
    return max(INITIAL_PARTS * part_size, min(FIRST_ROUND_PARTS * part_size, INITIAL_WINDOW))


OPERATION_BBR: Final[BbrProfile] = PROFILES["draft"].with_changes(
    name="draft-operations", probe_rtt_interval=300.0, min_rtt_filter_len=600.0
)
"""BBR for operations lasting seconds: the draft's constants, its min-RTT clocks x 60.

draft-ietf-ccwg-bbr-06 section 2.16 refreshes ``BBR.min_rtt`` by entering
ProbeRTT every ``ProbeRTTInterval`` = 5 s (``MinRTTFilterLen`` = 10 s): the
window drops to half the BDP for ``ProbeRTTDuration`` = 200 ms *and* at
least one round trip. Those are written for packet RTTs of tens of
milliseconds: a probe every 50 or more rounds, costing a round at half
window, 2-4% of the time. A part's "round trip" is its whole duration, 2-6 s
on a 150 ms path with 4 MB/s per connection, so at 5 s BBR probes every one
or two rounds and each probe lasts a whole round: on the benchmark's ``far``
path a 1 GiB download fell to 6-12 parts in flight for ~4 s every few seconds
(a simulation of that path, ``tests/test_probe_rtt.py``: 12.5 s of 60 s in
ProbeRTT, 88% of the link; 0 s and 100% with this profile). Multiplying both clocks by 60 (a 0.1 s
packet round becomes a 6 s operation) gives back the draft's ratio of 50
rounds between probes: a probe every 5 minutes, which a transfer of a few
GiB never meets. What ProbeRTT guards against, a standing queue inflating
the minimum, is watched elsewhere too: a queue at S3 or at the bottleneck
shows as throttles (losses) and as rising durations, and the min filter
keeps the lowest duration seen, queued or not.
"""

_FIXED = re.compile(r"^fixed:([1-9][0-9]{0,5})$")


def fixed_concurrency(spec: str) -> int | None:
    """``N`` of a ``"fixed:N"`` spec, ``None`` for ``"bbr"``/``"cubic"``; else ``ValueError``."""
    if not isinstance(spec, str):
        raise ValueError(f"controller must be 'bbr', 'cubic' or 'fixed:N', got {spec!r}")
    if spec in ("bbr", "cubic"):
        return None
    match = _FIXED.match(spec)
    if match is None:
        raise ValueError(
            f"invalid controller {spec!r}: expected 'bbr', 'cubic' or 'fixed:N' with N >= 1"
        )
    return int(match.group(1))


class Unpaced:
    """A controller whose window steers admissions but whose pacing rate is not applied.

    Pacing spreads a window's packets over a round so they do not reach the
    bottleneck in a burst. An S3 operation is no burst: its bytes flow over its
    own connection, at that connection's rate, for the whole operation, so the
    connection already paces it. Pacing whole operations as well (BBR's
    ``pacing_gain x bw``) would pace twice: after each round the next window of
    8 MiB parts would be spread over ``window / (2.77 x bw)`` seconds (0.9 s on
    the benchmark's ``far`` path) while connections sit idle. The window
    (``cwnd``) still bounds what is in flight, and the controller still sees
    every send, ack and loss.
    """

    __slots__ = ("inner",)

    def __init__(self, inner: CongestionController) -> None:
        self.inner = inner

    @property
    def cwnd(self) -> int:
        return self.inner.cwnd

    @property
    def pacing_rate(self) -> float | None:
        return None

    @property
    def state(self) -> str:
        return self.inner.state

    def on_sent(self, now: float, sent_bytes: int, bytes_in_flight: int) -> None:
        self.inner.on_sent(now, sent_bytes, bytes_in_flight)

    def on_ack(self, sample: AckSample) -> None:
        self.inner.on_ack(sample)

    def on_loss(self, event: LossEvent) -> None:
        self.inner.on_loss(event)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"


FLIGHT_GAIN: Final = 1.25
"""How far past the measured bandwidth-delay product :class:`UnpacedBBR` keeps operations
in flight: the draft's largest pacing gain outside Startup (ProbeBW_UP's 1.25,
draft-ietf-ccwg-bbr section 5.3.3)."""


class UnpacedBBR(Unpaced):
    """BBR unpaced, its flight bounded where pacing would have held it.

    Paced, BBR keeps about one bandwidth-delay product in flight: by Little's law
    a sender paced at ``pacing_gain x bw`` whose sends last ``d`` has
    ``pacing_gain x bw x d`` in flight, and its window (``cwnd_gain`` = 2 BDPs,
    draft-ietf-ccwg-bbr section 2.6) is only a cap for delayed and stretched
    acks. Unpaced, the window is all that admits, so the flight *is* the window:
    twice the BDP, the second half a queue that only lengthens every operation
    and puts more requests at once against S3's per-prefix limit. A large first
    window (:func:`initial_window`) that already fills the path makes it worse:
    the shortest duration is then a queued one, the BDP BBR computes is the first
    window itself, and Startup doubles it within the first round (SetCwnd,
    section 5.6.4.5, grows by every ack until ``C.delivered`` reaches the initial
    window). On the benchmark's ``throttled`` path (80 MB/s shared, 503 SlowDown
    above 24 requests) 16 parts became 31-34 in flight in the first round, and
    5-8% of all requests were refused.

    This bounds the window at ``max(floor, FLIGHT_GAIN x rate x d_min)``:

    * ``rate`` is the largest ``flight / duration`` of a completed operation,
      ``flight`` the bytes in flight averaged over its life: by Little's law,
      what was delivered while it ran. The average matters where the flight
      moves: it rises through Startup, and falls at a transfer's end, where the
      last operations run faster as the others finish (the flight at their send
      over their duration would overstate the rate for the next transfer). BBR's
      delivery-rate samples (the draft's estimator,
      draft-cheng-iccrg-delivery-rate-estimation section 3.3) are not used here:
      an operation's sample counts every completion during its life, and the
      window of operations that complete in a bunch just after it is sent
      counts in full, so they ran 15-35% above the 80 MB/s cap on ``throttled``
      (and double it when completions coincide).
    * ``d_min`` is the shortest duration of an operation, kept over the
      profile's ``min_rtt_filter_len``.
    * Both count operations of at least half a part (``part_size / 2``) only. A
      download's first GET is 1 MiB: its 0.2 s would make every part look queued,
      and the parts' flight it overlaps, over its short life, would claim a rate
      several times the path's (Little's law holds for operations alike).
    * ``floor`` is the first window: the bound never takes back what the store
      chose to start with, and holds the window there until an operation of
      that size completes.

    The bound falls at once and rises by at most the bytes each ack delivers
    (one operation per operation acknowledged, Startup's own pace): operation
    durations spread widely (1.2-3.4 s at one flight on ``throttled``), and one
    fast operation can move the bound by a quarter at once; opened in one step,
    that many slots would send that many requests into a refusal before the
    first 503 came back.

    Below the path's knee an operation lasts ``d_min`` whatever the flight, so
    the bound is ``FLIGHT_GAIN`` times the largest flight yet: the window grows by
    a quarter per round. Past it, durations grow with the flight and the bound
    stays at ``FLIGHT_GAIN`` BDPs. Two departures from the draft's Startup follow,
    both for operations that are not paced: the first round does not double the
    window before anything is measured, and Startup grows by ``FLIGHT_GAIN`` a
    round, not 2 (a path needing 32 parts where 16 were sent takes four rounds
    to fill, 16, 20, 25, 31, 39, where doubling takes one).
    """

    __slots__ = (
        "_area",
        "_area_at_send",
        "_area_time",
        "_bound",
        "_durations",
        "_flight",
        "_floor",
        "_min_size",
        "_rates",
    )

    def __init__(self, inner: BBR, *, part_size: int, floor: int) -> None:
        super().__init__(inner)
        window = inner.profile.min_rtt_filter_len
        self._min_size = part_size / 2
        self._floor = floor
        self._bound = floor
        self._durations = WindowedMinFilter(window)
        self._rates = WindowedMaxFilter(window)
        self._flight = 0  # bytes in flight, as the limiter last reported
        self._area = 0.0  # the integral of the flight over time (byte-seconds)
        self._area_time = 0.0
        # Send time -> (the integral then, operations sent then and still in flight).
        self._area_at_send: dict[float, tuple[float, int]] = {}

    @property
    def flight_bound(self) -> int:
        """The bound on bytes in flight now (see the class doc)."""
        return self._bound

    @property
    def cwnd(self) -> int:
        return min(self.inner.cwnd, self._bound)

    def _advance(self, now: float, flight: int) -> None:
        """Integrate the flight up to ``now``, then take ``flight`` as the flight from now on."""
        if now > self._area_time:
            self._area += self._flight * (now - self._area_time)
            self._area_time = now
        self._flight = flight

    def on_sent(self, now: float, sent_bytes: int, bytes_in_flight: int) -> None:
        self.inner.on_sent(now, sent_bytes, bytes_in_flight)
        self._advance(now, bytes_in_flight)
        marks = self._area_at_send
        if bytes_in_flight == sent_bytes:
            # Nothing else in flight: marks left are of operations that failed or were
            # cancelled (they leave flight with neither an ack nor a loss).
            marks.clear()
        area, count = marks.get(now, (self._area, 0))
        marks[now] = (area, count + 1)

    def _area_since(self, sent_time: float) -> float | None:
        """The integral of the flight since ``sent_time``, forgetting that send's mark."""
        marks = self._area_at_send
        mark = marks.pop(sent_time, None)
        if mark is None:
            return None
        area, count = mark
        if count > 1:
            marks[sent_time] = (area, count - 1)
        return self._area - area

    def on_ack(self, sample: AckSample) -> None:
        """Tell BBR; from an operation of at least half a part, keep its Little's-law rate
        and its duration, and move the bound."""
        self.inner.on_ack(sample)
        now = sample.now
        self._advance(now, sample.bytes_in_flight)
        area = self._area_since(sample.sent_time)
        duration = sample.rtt
        if duration is None or area is None:
            return
        acked = sample.acked_bytes
        if acked < self._min_size:
            return
        rate = self._rates.update(area / duration / duration, now)
        shortest = self._durations.update(duration, now)
        # Rise by at most the bytes this ack delivered (Startup's own pace, one operation
        # per operation acknowledged), fall at once.
        target = max(self._floor, int(FLIGHT_GAIN * rate * shortest))
        self._bound = min(target, self._bound + acked)

    def on_loss(self, event: LossEvent) -> None:
        self.inner.on_loss(event)
        self._advance(event.now, event.bytes_in_flight)
        self._area_since(event.sent_time)


def make_limiter(
    spec: str,
    *,
    part_size: int,
    max_ops: int | None = None,
    initial_window: int | None = None,
) -> Limiter:
    """A :class:`~netalgo.limiter.Limiter` driven by the controller ``spec`` names.

    ``part_size`` (bytes, > 0) is the controller's ``mss``. ``max_ops``, when
    given, caps the operations in flight on top of the controller (a store
    passes its connection-pool size, so requests never queue inside aiohttp
    where they would distort the RTT samples). ``initial_window`` (bytes) is
    the controller's first window; ``None`` gives :data:`INITIAL_PARTS` parts
    (a store passes :func:`initial_window`). ``ValueError`` names a bad spec.
    """
    if isinstance(part_size, bool) or not isinstance(part_size, int) or part_size <= 0:
        raise ValueError(f"part_size must be a positive number of bytes, got {part_size!r}")
    count = fixed_concurrency(spec)
    if count is not None:
        return Limiter(fixed(count), classify=is_congestion, max_ops=max_ops)
    initial = INITIAL_PARTS * part_size if initial_window is None else initial_window
    if isinstance(initial, bool) or not isinstance(initial, int) or initial <= 0:
        raise ValueError(f"initial_window must be a positive number of bytes, got {initial!r}")
    unpaced: Unpaced
    if spec == "bbr":
        bbr = BBR(mss=part_size, initial_window=initial, profile=OPERATION_BBR)
        unpaced = UnpacedBBR(bbr, part_size=part_size, floor=initial)
    else:
        unpaced = Unpaced(Cubic(mss=part_size, initial_window=initial, hystart=False))
    return Limiter(ThrottleCeiling(unpaced), classify=is_congestion, max_ops=max_ops)


def _steering(limiter: Limiter) -> CongestionController:
    """The controller that decides the window (inside its :class:`ThrottleCeiling` and
    :class:`Unpaced` wrappers when wrapped)."""
    controller = limiter.controller
    while isinstance(controller, ThrottleCeiling | Unpaced):
        controller = controller.inner
    return controller


def controller_name(limiter: Limiter) -> str:
    """The short name metrics use for the limiter's controller: ``bbr``, ``cubic``, ``fixed``."""
    controller = _steering(limiter)
    if isinstance(controller, BBR):
        return "bbr"
    if isinstance(controller, Cubic):
        return "cubic"
    if isinstance(controller, FixedConcurrency):
        return "fixed"
    return type(controller).__name__.lower()


def path_estimate(limiter: Limiter) -> tuple[float, float] | None:
    """``(bandwidth bytes/s, min RTT s)`` as the limiter has measured them, or ``None``.

    BBR models both (``max_bw``, ``min_rtt``); other controllers give a
    pacing rate at best, paired with the limiter's own minimum operation time.
    ``None`` until there is a measurement: callers fall back to their defaults.
    """
    controller = _steering(limiter)
    bandwidth: float | None = None
    rtt: float | None = limiter.min_rtt
    if isinstance(controller, BBR):
        bandwidth = controller.max_bw
        rtt = controller.min_rtt
    elif controller.pacing_rate is not None:
        bandwidth = controller.pacing_rate
    if bandwidth is None or rtt is None:
        return None
    if not (math.isfinite(bandwidth) and math.isfinite(rtt)) or bandwidth <= 0 or rtt <= 0:
        return None
    return bandwidth, rtt
