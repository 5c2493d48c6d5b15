"""The suite's scheduling data (tests/conftest.py: FIRST_MODULE, tests/module_durations.json)
names modules that exist: a renamed module would silently lose its early start."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FIRST_MODULE, MODULE_DURATIONS

ROOT = Path(__file__).resolve().parents[2]


def test_the_first_module_and_every_timed_module_exist() -> None:
    assert (ROOT / FIRST_MODULE).is_file()
    seconds = json.loads(MODULE_DURATIONS.read_text(encoding="utf-8"))
    missing = [module for module in seconds if not (ROOT / module).is_file()]
    assert not missing, f"tests/module_durations.json names modules that do not exist: {missing}"
    assert all(isinstance(value, int | float) and value >= 0 for value in seconds.values())
