"""opsmetrics: the platform's metric names on OpenTelemetry, and SDK setup for applications."""

from opsmetrics._version import __version__ as __version__

__all__ = ["__version__"]
