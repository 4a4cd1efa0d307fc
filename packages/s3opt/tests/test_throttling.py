"""s3opt.throttling: the window's answer to 503 SlowDown, on hand-computed numbers.

A constant inner controller (its window never moves) isolates the ceiling's own rule;
events carry their own times, so no clock is read.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from netalgo.protocols import AckSample, LossEvent, SentPacket
from s3opt.errors import ThrottledError, TransientError
from s3opt.throttling import BETA, HOLD, ThrottleCeiling

PART = 8 * 2**20


class _Constant:
    """A controller with a fixed window that records what it is told."""

    def __init__(self, window: int) -> None:
        self.cwnd = window
        self.pacing_rate: float | None = None
        self.state = "constant"
        self.acks = 0
        self.losses = 0

    def on_sent(self, now: float, sent_bytes: int, bytes_in_flight: int) -> None:
        pass

    def on_ack(self, sample: AckSample) -> None:
        self.acks += 1

    def on_loss(self, event: LossEvent) -> None:
        self.losses += 1


SLOW_DOWN = ThrottledError("PutObject b/k: throttled by S3: SlowDown", code="SlowDown")


def _loss(
    now: float, sent: float, parts_in_flight_at_send: int, cause: BaseException = SLOW_DOWN
) -> LossEvent:
    packet = SentPacket(sent, PART, 0, sent, sent, False, parts_in_flight_at_send * PART, 0)
    in_flight = (parts_in_flight_at_send - 1) * PART
    return LossEvent(now, PART, in_flight, sent, packet, cause=cause)


def _ack(now: float, sent: float) -> AckSample:
    return AckSample(now, PART, 0, sent, now - sent)


def test_no_ceiling_before_a_loss() -> None:
    inner = _Constant(40 * PART)
    ceiling = ThrottleCeiling(inner)
    ceiling.on_ack(_ack(1.0, 0.5))
    assert ceiling.ceiling is None
    assert ceiling.cwnd == 40 * PART
    assert inner.acks == 1


def test_a_throttle_drops_the_window_to_beta_times_the_level_that_drew_it() -> None:
    inner = _Constant(40 * PART)
    ceiling = ThrottleCeiling(inner)
    # The 25th request in flight was refused (the emulator's throttled profile: > 24).
    ceiling.on_loss(_loss(10.0, 9.96, 25))
    assert inner.losses == 1
    assert ceiling.cwnd == int(0.7 * 25 * PART)  # 17.5 parts
    assert BETA == 0.7


def _raw_503() -> ClientError:
    response = {
        "Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
        "ResponseMetadata": {"HTTPStatusCode": 503},
    }
    return ClientError(response, "UploadPart")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "cause",
    [
        TransientError("UploadPart b/k: connection reset"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
    ],
    ids=["typed-reset", "raw-reset", "timeout"],
)
def test_resets_and_timeouts_leave_the_window_to_the_controller(cause: BaseException) -> None:
    inner = _Constant(40 * PART)
    ceiling = ThrottleCeiling(inner)
    ceiling.on_loss(_loss(10.0, 9.96, 25, cause))
    assert inner.losses == 1  # the controller still answers it
    assert ceiling.ceiling is None
    assert ceiling.cwnd == 40 * PART
    # ... and a reset after a throttle neither cuts the ceiling again nor starts an episode.
    ceiling.on_loss(_loss(11.0, 10.5, 20))
    ceiling.on_loss(_loss(13.0, 12.0, 10, cause))
    assert ceiling.cwnd == int(0.7 * 20 * PART)


def test_a_raw_503_slow_down_is_a_throttle() -> None:
    ceiling = ThrottleCeiling(_Constant(40 * PART))
    ceiling.on_loss(_loss(10.0, 9.96, 20, _raw_503()))
    assert ceiling.cwnd == 14 * PART


def test_losses_of_requests_sent_before_the_reduction_are_one_episode() -> None:
    ceiling = ThrottleCeiling(_Constant(40 * PART))
    ceiling.on_loss(_loss(10.0, 9.0, 30))
    after_first = ceiling.cwnd
    for i in range(8):  # the rest of the burst, all sent before 10.0
        ceiling.on_loss(_loss(10.1 + i / 10, 9.5, 31 + i))
    assert ceiling.cwnd == after_first == int(0.7 * 30 * PART)
    # A request sent after the reduction and refused again: a new episode.
    ceiling.on_loss(_loss(12.0, 11.0, 20))
    assert ceiling.cwnd == int(0.7 * 20 * PART)


def test_the_ceiling_grows_one_request_per_window_up_to_one_below_the_level() -> None:
    ceiling = ThrottleCeiling(_Constant(40 * PART))
    ceiling.on_loss(_loss(10.0, 9.9, 25))
    # An ack of a request sent before the reduction does not grow it (still recovering).
    ceiling.on_ack(_ack(10.5, 9.0))
    assert ceiling.cwnd == int(17.5 * PART)
    # One ack of a later request: + PART * PART / ceiling = 1 / 17.5 part.
    ceiling.on_ack(_ack(11.0, 10.2))
    assert ceiling.cwnd == int((17.5 + 1 / 17.5) * PART)
    now = 11.0
    for _ in range(2000):  # far more windows than needed, all within the hold
        now += 0.01
        ceiling.on_ack(_ack(now, now - 1.0))
    assert now < 10.0 + HOLD
    # Settled one request below the 25 that drew the throttle, not at or past it.
    assert ceiling.cwnd == 24 * PART


def test_after_the_hold_it_probes_past_the_level_again() -> None:
    ceiling = ThrottleCeiling(_Constant(40 * PART), hold=5.0)
    ceiling.on_loss(_loss(10.0, 9.9, 25))
    now = 10.0
    while now < 14.9:
        now += 0.01
        ceiling.on_ack(_ack(now, now - 1.0))
    assert ceiling.cwnd == 24 * PART
    for _ in range(100):
        now += 0.01
        ceiling.on_ack(_ack(now, now - 1.0))
    assert 24 * PART < ceiling.cwnd < 40 * PART


def test_the_ceiling_does_not_grow_while_the_controllers_own_window_binds() -> None:
    inner = _Constant(40 * PART)
    ceiling = ThrottleCeiling(inner)
    ceiling.on_loss(_loss(10.0, 9.9, 25))
    inner.cwnd = 10 * PART  # the controller cut below the ceiling itself
    for i in range(100):
        ceiling.on_ack(_ack(11.0 + i, 10.5 + i))
    assert ceiling.ceiling == int(17.5 * PART)
    assert ceiling.cwnd == 10 * PART


def test_the_ceiling_never_falls_below_one_request() -> None:
    ceiling = ThrottleCeiling(_Constant(40 * PART))
    ceiling.on_loss(_loss(1.0, 0.9, 1))
    assert ceiling.cwnd == PART


@pytest.mark.parametrize("beta", [0.0, 1.0, -0.5, float("nan")])
def test_beta_must_be_a_fraction(beta: float) -> None:
    with pytest.raises(ValueError, match="beta"):
        ThrottleCeiling(_Constant(PART), beta=beta)


def test_hold_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="hold"):
        ThrottleCeiling(_Constant(PART), hold=-1.0)
