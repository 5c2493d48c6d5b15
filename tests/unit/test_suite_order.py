"""The suite's scheduling list (tests/conftest.py, SLOWEST_MODULES) names modules that exist:
a renamed module would silently lose its early start."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SLOWEST_MODULES

ROOT = Path(__file__).resolve().parents[2]


def test_the_slowest_modules_listed_exist_once_each() -> None:
    missing = [module for module in SLOWEST_MODULES if not (ROOT / module).is_file()]
    assert not missing, f"tests/conftest.py names modules that do not exist: {missing}"
    assert len(set(SLOWEST_MODULES)) == len(SLOWEST_MODULES)
