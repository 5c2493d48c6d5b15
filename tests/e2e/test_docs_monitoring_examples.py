"""The examples of docs/monitoring.md run as written (tests/e2e/docs_examples.py), in a module of
their own so that xdist's ``--dist loadfile`` runs them beside the other docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.docs_examples import DocFile, docs_for
from tests.e2e.docs_runner import TEST_TIMEOUT, run_doc

FILES = docs_for(Path(__file__).stem)


@pytest.mark.parametrize("doc", FILES, ids=[doc.name for doc in FILES])
@pytest.mark.timeout(TEST_TIMEOUT)
def test_the_examples_of_a_doc_run_as_written(
    doc: DocFile, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run_doc(doc, tmp_path, request)
