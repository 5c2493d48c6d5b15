"""Shared fixtures. Each backend's fixture lives in ``tests/fixtures/<backend>.py``."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.s3",
    "tests.fixtures.server",
]
