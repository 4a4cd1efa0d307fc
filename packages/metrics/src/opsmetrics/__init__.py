"""opsmetrics: the platform's metric names on OpenTelemetry, and SDK setup for applications.

Libraries record through ``Metrics`` (OpenTelemetry API only, a no-op until an
application installs the SDK); applications call ``setup()`` once in main. The
metric descriptions live in ``opsmetrics.catalog``; ``opsmetrics.testing`` has
an in-memory recorder for tests.
"""

from opsmetrics._version import __version__ as __version__
from opsmetrics.catalog import CATALOG as CATALOG
from opsmetrics.catalog import AttributeSpec as AttributeSpec
from opsmetrics.catalog import MetricKind as MetricKind
from opsmetrics.catalog import MetricSpec as MetricSpec
from opsmetrics.configure import MetricsHandle as MetricsHandle
from opsmetrics.configure import setup as setup
from opsmetrics.errors import MetricsSetupError as MetricsSetupError
from opsmetrics.recording import Metrics as Metrics

__all__ = [
    "CATALOG",
    "AttributeSpec",
    "MetricKind",
    "MetricSpec",
    "Metrics",
    "MetricsHandle",
    "MetricsSetupError",
    "__version__",
    "setup",
]
