"""Every example in README.md and docs/*.md runs as written (see tests/e2e/docs_examples.py
for the convention): each file in its own fresh folder, blocks in order; a skipped block is
listed with its reason, and a fenced block without a language is refused."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.docs_examples import doc_files, read_doc
from tests.fixtures.backends import backend_unavailable

DRIVER = Path(__file__).with_name("docs_driver.py")
FILES = [read_doc(path) for path in doc_files()]
SKIPPED = [block for doc in FILES for block in doc.blocks if block.skip is not None]
FILE_TIMEOUT = 900  # the README's tour trains and serves models with the quickstart


def _env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return {**clean, "PATH": f"{bin_dir}{os.pathsep}{clean.get('PATH', '')}", "COLUMNS": "120"}


@pytest.fixture(scope="module")
def quickstart_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project where ``loopml quickstart`` ran once: what the docs that say so start from."""
    folder = tmp_path_factory.mktemp("docs-quickstart") / "project"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("loopml")), "quickstart", str(folder), "--quiet"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=FILE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


@pytest.mark.parametrize("doc", FILES, ids=[doc.name for doc in FILES])
@pytest.mark.timeout(FILE_TIMEOUT * 2)
def test_the_examples_of_a_doc_run_as_written(
    doc: object, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tests.e2e.docs_examples import DocFile

    assert isinstance(doc, DocFile)
    assert not doc.untagged, (
        f"{doc.name}: fenced blocks without a language at lines {doc.untagged}; tag each one "
        "(bash or python to run it, text or yaml not to)"
    )
    if not any(block.runs for block in doc.blocks):
        return
    if any(block.runs and "jq " in block.text for block in doc.blocks) and not shutil.which("jq"):
        backend_unavailable(f"{doc.name}'s shell examples use jq, which is not installed")
    folder = tmp_path / "project"
    if doc.project == "quickstart":
        shutil.copytree(request.getfixturevalue("quickstart_project"), folder)
    elif doc.project is None:
        folder.mkdir()
    else:
        pytest.fail(f"{doc.name}: unknown docs-test project {doc.project!r}; known: quickstart")
    blocks_file = tmp_path / "blocks.json"
    blocks_file.write_text(doc.to_json(), encoding="utf-8")
    driver = subprocess.Popen(
        [sys.executable, str(DRIVER), str(blocks_file)],
        cwd=folder,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so that a timeout stops the servers and workers it started
    )
    try:
        out, err = driver.communicate(timeout=FILE_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(driver.pid, signal.SIGKILL)
        out, err = driver.communicate()
        pytest.fail(f"{doc.name}: over {FILE_TIMEOUT} s\n{out[-6000:]}\n{err[-6000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)  # e.g. a `loopml serve &` left running
    assert driver.returncode == 0, f"{doc.name}:\n{out[-6000:]}\n{err[-6000:]}"


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
