"""Fixtures for the integration tests: one moto S3 server over HTTP for the session and a new,
empty bucket per test (from :mod:`s3opt.testing.fixtures`)."""

from __future__ import annotations

from s3opt.testing.fixtures import bucket, moto_server

__all__ = ["bucket", "moto_server"]
