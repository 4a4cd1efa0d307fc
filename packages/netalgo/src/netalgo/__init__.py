"""netalgo: congestion control, RTT and loss estimation, and a link simulator, in pure Python.

Import the module you need (``import netalgo.bbr``); this package root only
re-exports the Protocols and value types that every module shares.
"""

from netalgo._version import __version__ as __version__
from netalgo.protocols import AckSample as AckSample
from netalgo.protocols import CongestionController as CongestionController
from netalgo.protocols import LossDetector as LossDetector
from netalgo.protocols import LossEvent as LossEvent
from netalgo.protocols import RateSample as RateSample
from netalgo.protocols import RttEstimator as RttEstimator
from netalgo.protocols import SentPacket as SentPacket

__all__ = [
    "AckSample",
    "CongestionController",
    "LossDetector",
    "LossEvent",
    "RateSample",
    "RttEstimator",
    "SentPacket",
    "__version__",
]
