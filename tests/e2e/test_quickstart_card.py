"""The quickstart ends with the registered version's model card: one offline HTML file in the
project, its path printed last (the shared quickstart project of tests/e2e/conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import QuickstartProject


def test_the_quickstart_ends_with_a_model_card_file(quickstart_project: QuickstartProject) -> None:
    said = quickstart_project.done.stdout
    assert quickstart_project.done.returncode == 0, quickstart_project.done.stderr
    found = re.search(r"Model card of breast-cancer@2:\s*(\S+\.html)", said)
    assert found is not None, said
    card = Path(found.group(1))
    assert card.parent == quickstart_project.demo.resolve() and card.is_file()
    assert said.rstrip().endswith("for its lineage)")  # the last thing it says
    html = card.read_text(encoding="utf-8")
    assert not re.search(r"[A-Za-z]+://", html)
    assert "<h1>Model card: breast-cancer@2</h1>" in html
    assert "breast_cancer@1" in html and "breast_cancer_holdout@1" in html  # trained, gated on
    assert "passed the quickstart gate" in html  # its promotion, in the alias history
