"""A WAN emulator for the S3 benchmarks: latency, rate caps, 503 SlowDown and resets.

    async with WanEmulator("far", "http://127.0.0.1:5000") as emu:
        ...  # point an S3 client at emu.endpoint_url; emu.counters after

    python -m benchmarks.wanem --profile far --listen 127.0.0.1:0 --upstream 127.0.0.1:5000
    python -m benchmarks.wanem --selftest        # the emulator's ceiling and accuracy

See :mod:`.proxy` (HTTP awareness, 503s, resets), :mod:`.shaping` (delay and rates),
:mod:`.profiles` (the named paths) and :mod:`.selftest` (measured ceiling and accuracy).
"""

from .process import WanEmulatorProcess as WanEmulatorProcess
from .profiles import MB as MB
from .profiles import PROFILES as PROFILES
from .profiles import Profile as Profile
from .profiles import get_profile as get_profile
from .proxy import Counters as Counters
from .proxy import WanEmulator as WanEmulator
from .proxy import slow_down_response as slow_down_response
from .upstream import BlobServer as BlobServer

__all__ = [
    "MB",
    "PROFILES",
    "BlobServer",
    "Counters",
    "Profile",
    "WanEmulator",
    "WanEmulatorProcess",
    "get_profile",
    "slow_down_response",
]
