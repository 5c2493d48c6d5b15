"""Every loop store backend passes every check in :mod:`tests.contract.decision_checks`:
sqlite, postgres and remote (a live ``loopml server``, shared by this module's checks)."""

from __future__ import annotations

import pytest

from tests.contract.decision_checks import DecisionCheck, decision_store_checks
from tests.contract.loop_checks import LoopBackend


@pytest.mark.parametrize("check", decision_store_checks(), ids=lambda check: check.__name__)
def test_decision_store_contract(loop_backend: LoopBackend, check: DecisionCheck) -> None:
    check(loop_backend)
