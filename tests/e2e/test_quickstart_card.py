"""The quickstart ends with the registered version's model card (one offline HTML file in the
project) and a verified audit log of every change it made, as ``loopml audit verify`` finds it
afterwards (the shared quickstart project of tests/e2e/conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import QuickstartProject
from tests.e2e.runner import cli


def test_the_quickstart_ends_with_a_model_card_and_a_verified_audit_log(
    quickstart_project: QuickstartProject,
) -> None:
    said = quickstart_project.done.stdout
    assert quickstart_project.done.returncode == 0, quickstart_project.done.stderr
    found = re.search(r"Model card of breast-cancer@2:\s*(\S+\.html)", said)
    assert found is not None, said
    card = Path(found.group(1))
    assert card.parent == quickstart_project.demo.resolve() and card.is_file()
    audit = re.search(r"Audit log: (\d+) changes recorded, chain intact; head (\w+)@(\d+)", said)
    assert audit is not None, said
    assert int(audit.group(1)) == int(audit.group(3)) > 10  # every change of the quickstart
    assert said.rstrip().endswith("loopml audit verify to check it again)")  # its last words
    verified = cli("audit", "verify", "--anchor", f"{audit.group(2)}@{audit.group(3)}",
                   cwd=quickstart_project.demo)  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    html = card.read_text(encoding="utf-8")
    assert not re.search(r"[A-Za-z]+://", html)
    assert "<h1>Model card: breast-cancer@2</h1>" in html
    assert "breast_cancer@1" in html and "breast_cancer_holdout@1" in html  # trained, gated on
    assert "passed the quickstart gate" in html  # its promotion, in the alias history
