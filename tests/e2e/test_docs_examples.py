"""Every example in README.md and docs/*.md runs as written (see tests/e2e/docs_examples.py
for the convention): each file in its own fresh folder, blocks in order; a skipped block is
listed with its reason, and a fenced block without a language is refused. The longest files
run in modules of their own (``OWN_MODULES``: test_docs_readme_examples.py, ...), the others
here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.docs_examples import MAIN_MODULE, OWN_MODULES, doc_files, docs_for, read_doc
from tests.e2e.docs_runner import DRIVER, TEST_TIMEOUT, run_doc

FILES = docs_for(MAIN_MODULE)
SKIPPED = [
    block for doc in map(read_doc, doc_files()) for block in doc.blocks if block.skip is not None
]


@pytest.mark.parametrize("doc", FILES, ids=[doc.name for doc in FILES])
@pytest.mark.timeout(TEST_TIMEOUT)
def test_the_examples_of_a_doc_run_as_written(
    doc: object, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tests.e2e.docs_examples import DocFile

    assert isinstance(doc, DocFile)
    run_doc(doc, tmp_path, request)


def test_every_doc_runs_in_one_docs_test_module() -> None:
    """README.md and docs/*.md are split over the docs test modules (OWN_MODULES): each file
    runs in exactly one, and every module named there exists."""
    here = Path(__file__).parent
    runs = [doc.name for module in {MAIN_MODULE, *OWN_MODULES.values()} for doc in docs_for(module)]
    assert sorted(runs) == sorted(read_doc(path).name for path in doc_files())
    assert set(OWN_MODULES) <= set(runs)
    for module in OWN_MODULES.values():
        assert (here / f"{module}.py").is_file(), f"{module}.py is named in OWN_MODULES"


@pytest.mark.parametrize("block", SKIPPED, ids=[block.where for block in SKIPPED])
def test_skipped_examples_say_why(block: object) -> None:
    from tests.e2e.docs_examples import Block

    assert isinstance(block, Block)
    assert block.skip and block.skip != "no reason given", f"{block.where}: say why it is skipped"
    assert not block.runs


def test_the_convention_reads_blocks_markers_and_expected_exit_codes(tmp_path: Path) -> None:
    from tests.e2e.docs_driver import shell_commands

    doc = tmp_path / "sample.md"
    doc.write_text(
        "<!-- docs-test: project quickstart -->\n"
        "```bash\nloopml data list\n```\n"
        "<!-- docs-test: skip needs a Ray cluster -->\n\n"
        "```bash\nloopml pipeline run training --ray-address 10.0.0.5:6379\n```\n"
        "```\nuntagged\n```\n"
        "<!-- docs-test: file flows.py -->\n```python\nimport loopml\n```\n",
        encoding="utf-8",
    )
    parsed = read_doc(doc)
    assert parsed.project == "quickstart" and parsed.untagged == [10]
    assert [(b.language, b.skip) for b in parsed.blocks] == [
        ("bash", None),
        ("bash", "needs a Ray cluster"),
        ("", None),
        ("python", None),
    ]
    assert parsed.blocks[-1].save_as == "flows.py" and parsed.blocks[-1].runs
    assert shell_commands("bash", "a \\\n  --b\n# note\nc  # exit 1: it fails\n") == [
        ("a   --b", 0),
        ("c  # exit 1: it fails", 1),
    ]
    assert shell_commands("bash", "python - <<'EOF'\nprint(1)\nEOF\nls\n") == [
        ("python - <<'EOF'\nprint(1)\nEOF", 0),
        ("ls", 0),
    ]
    assert shell_commands("bash", "curl -d '{\"a\": [\n  1]}'  # it's JSON\nls\n") == [
        ("curl -d '{\"a\": [\n  1]}'  # it's JSON", 0),
        ("ls", 0),
    ]
    assert shell_commands("console", "$ loopml x\noutput\n$ loopml y\n") == [
        ("loopml x", 0),
        ("loopml y", 0),
    ]


def test_ports_8080_to_8089_become_free_ports_the_same_throughout_a_file(tmp_path: Path) -> None:
    """So that doc files can run side by side: 8080 is one free port wherever the file runs
    it, 8081 another; text blocks and longer numbers are left alone."""
    doc = tmp_path / "ports.md"
    doc.write_text(
        "```bash\nloopml serve m@champion --port 8080 &\ncurl localhost:8081/health\n```\n"
        "```text\nhttp://127.0.0.1:8080\n```\n"
        "```python\nhttpx.get('http://localhost:8080/ping')  # not 18080, 80800 or 1.8080\n```\n",
        encoding="utf-8",
    )
    first, second = json.loads(read_doc(doc).to_json())
    (serve, health), ping = first["text"].splitlines(), second["text"]
    main = serve.split("--port ")[1].split()[0]
    other = health.split("localhost:")[1].split("/")[0]
    assert main.isdigit() and other.isdigit() and len({main, other, "8080", "8081"}) == 4
    assert f"localhost:{main}/ping" in ping and "18080, 80800 or 1.8080" in ping


def test_shell_blocks_share_one_bash_and_a_broken_block_fails(tmp_path: Path) -> None:
    """Variables and a background job carry from block to block, as in a terminal; a block
    bash cannot even parse fails the file (it is not skipped silently)."""

    def block(line: int, text: str) -> dict[str, object]:
        return {"file": "x.md", "line": line, "language": "bash", "text": text}

    def run(*blocks: dict[str, object]) -> subprocess.CompletedProcess[str]:
        listed = [{"skip": None, "save_as": None, **each} for each in blocks]
        (tmp_path / "blocks.json").write_text(json.dumps(listed), encoding="utf-8")
        return subprocess.run(
            [sys.executable, str(DRIVER), str(tmp_path / "blocks.json")],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
            start_new_session=True,
        )  # fmt: skip

    done = run(
        block(1, "sleep 300 &\nSLEEPER=$!\n"),
        block(5, 'test -n "$SLEEPER"\nkill $SLEEPER && wait $SLEEPER  # exit 143: terminated\n'),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    broken = run(block(1, "echo 'an open quote\n"), block(3, "echo after\n"))
    assert broken.returncode != 0 and "x.md:1: the shell block failed" in broken.stderr
    assert "after" not in broken.stdout
