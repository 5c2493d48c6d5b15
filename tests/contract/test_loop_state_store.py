"""Every loop store backend passes every check in :mod:`tests.contract.state_checks`: sqlite,
postgres and remote (a live ``loopml server``, shared by this module's checks)."""

from __future__ import annotations

import pytest

from tests.contract.loop_checks import LoopBackend
from tests.contract.state_checks import StateCheck, state_store_checks


@pytest.mark.parametrize("check", state_store_checks(), ids=lambda check: check.__name__)
def test_loop_state_store_contract(loop_backend: LoopBackend, check: StateCheck) -> None:
    check(loop_backend)
