"""Every loop store backend passes every check in :mod:`tests.contract.loop_checks`: sqlite,
postgres and remote (a live ``loopml server``, shared by this module's checks)."""

from __future__ import annotations

import pytest

from tests.contract.loop_checks import LoopBackend, LoopCheck, loop_store_checks


@pytest.mark.parametrize("check", loop_store_checks(), ids=lambda check: check.__name__)
def test_loop_store_contract(loop_backend: LoopBackend, check: LoopCheck) -> None:
    check(loop_backend)
