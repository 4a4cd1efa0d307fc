"""The exception ``opsmetrics.setup()`` raises when metrics cannot be set up as asked."""

from __future__ import annotations

__all__ = ["MetricsSetupError"]


class MetricsSetupError(RuntimeError):
    """Metrics could not be set up: the SDK is missing, the endpoint's port is
    taken, or a global meter provider is already installed.

    The message is one line that names what failed and where (e.g. ``host:port``).
    """
