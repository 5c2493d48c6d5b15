"""The examples in README.md and docs/*.md, as the docs test runs them.

The convention (written down in docs/architecture.md, "Docs examples"):

- Fenced ``python``, ``bash``, ``sh``, ``shell`` and ``console`` blocks are run, in the order
  of the file, in one fresh folder per file: python blocks in one interpreter (later blocks
  see what earlier ones defined), shell blocks in one ``bash`` with loopml on the PATH (later
  blocks see its variables and background jobs, e.g. a ``loopml serve … &`` and its ``$!``;
  what is still running at the end is stopped). In a ``console`` block only the ``$ `` lines
  run; the rest is output. A quoted string may span lines.
- A shell command must exit 0, unless its comment says otherwise: ``cmd  # exit 1: ...``.
- ``<!-- docs-test: file PATH -->`` right before a block writes it to PATH instead (code
  saved as ``flows.py``, a ``loopml.yaml``); say so in the text, too.
- ``<!-- docs-test: skip REASON -->`` right before a block skips it; the test checks that
  every skipped block gives a reason (one test per block, named by its place).
- ``<!-- docs-test: project quickstart -->`` anywhere in a file runs its examples in a copy of
  a project where ``loopml quickstart`` ran (say so in the text, too); without it a file
  starts in an empty folder.
- A fenced block with no language is refused: tag it (``bash`` to run it, ``text`` not to).
- Servers in the examples listen on ports 8080–8089, given with ``--port`` (a default port
  cannot be replaced), as a reader's would; the test runs each file with those numbers
  replaced by free ports (the same free port for the same number throughout the file), so
  that files can run side by side.

The longest files run in test modules of their own (:data:`OWN_MODULES`), so that xdist's
``--dist loadfile`` spreads them over its workers; every other file runs in
``test_docs_examples.py``.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import asdict, dataclass, replace
from pathlib import Path

__all__ = ["OWN_MODULES", "ROOT", "Block", "DocFile", "doc_files", "docs_for", "read_doc"]

ROOT = Path(__file__).resolve().parents[2]
RUN_LANGUAGES = {"python", "bash", "sh", "shell", "console"}
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
_MARK = re.compile(r"<!--\s*docs-test:\s*([\w-]+)\s*(.*?)\s*-->")
_PORT = re.compile(r"(?<![\w.])(808\d)(?![\w.])")  # 8080–8089, not inside a longer token
MAIN_MODULE = "test_docs_examples"
OWN_MODULES = {
    "README.md": "test_docs_readme_examples",
    "docs/batch-scoring.md": "test_docs_batch_scoring_examples",
    "docs/maintenance.md": "test_docs_maintenance_examples",
    "docs/models.md": "test_docs_models_examples",
    "docs/monitoring.md": "test_docs_monitoring_examples",
    "docs/pipelines.md": "test_docs_pipelines_examples",
    "docs/serving.md": "test_docs_serving_examples",
}


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text and why it is skipped."""

    file: str
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    skip: str | None = None
    save_as: str | None = None  # written to this file instead of run

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.skip is None and (self.language in RUN_LANGUAGES or self.save_as is not None)


@dataclass(frozen=True)
class DocFile:
    path: Path
    blocks: list[Block]
    project: str | None  # "quickstart": run in a copy of a quickstart project
    untagged: list[int]  # lines of fences with no language

    @property
    def name(self) -> str:
        return _name(self.path)

    def to_json(self) -> str:
        """The blocks that run, their ports 8080–8089 replaced by free ones."""
        ports: dict[str, str] = {}

        def free(found: re.Match[str]) -> str:
            if found.group(1) not in ports:
                ports[found.group(1)] = str(_free_port())
            return ports[found.group(1)]

        runs = [replace(block, text=_PORT.sub(free, block.text)) for block in self.blocks]
        return json.dumps([asdict(block) for block in runs if block.runs])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def doc_files() -> list[Path]:
    """README.md and every docs/*.md, as they are now (new files are picked up)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def docs_for(module: str) -> list[DocFile]:
    """The doc files that the test module ``module`` runs (see :data:`OWN_MODULES`)."""
    docs = [read_doc(path) for path in doc_files()]
    if module == MAIN_MODULE:
        return [doc for doc in docs if doc.name not in OWN_MODULES]
    return [doc for doc in docs if OWN_MODULES.get(doc.name) == module]


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


def read_doc(path: Path) -> DocFile:
    name = _name(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    untagged: list[int] = []
    project: str | None = None
    pending_skip: str | None = None
    pending_file: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        for kind, argument in _MARK.findall(line):
            if kind == "skip":
                pending_skip = argument or "no reason given"
            elif kind == "file":
                pending_file = argument
            elif kind == "project":
                project = argument
            else:
                raise ValueError(f"{name}:{i + 1}: unknown docs-test marker {kind!r}")
        fence = _FENCE.match(line)
        if fence is None:
            if line.strip() and not _MARK.search(line):
                pending_skip = pending_file = None  # a marker applies to the next block
            i += 1
            continue
        indent, ticks, language = fence.groups()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(ticks):
            text = lines[j]
            body.append(text[len(indent) :] if text.startswith(indent) else text.lstrip())
            j += 1
        if not language:
            untagged.append(i + 1)
        text = "\n".join(body) + "\n"
        blocks.append(Block(name, i + 1, language.lower(), text, pending_skip, pending_file))
        pending_skip = pending_file = None
        i = j + 1
    return DocFile(path, blocks, project, untagged)
