"""Runs one doc file's examples in the working directory (a subprocess of the docs test):
``python docs_driver.py BLOCKS.json``. Python blocks share one namespace; shell blocks run
through bash, one command (a line, with ``\\`` continuations) at a time, checking its exit
code. Exits 1 naming the block and the command that failed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path

_EXPECTED = re.compile(r"^\s*exit\s+(\d+)")
_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")


def shell_commands(language: str, text: str) -> list[tuple[str, int]]:
    """The commands of a shell block and the exit code each must have."""
    lines = text.splitlines()
    if language == "console":
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    commands: list[tuple[str, int]] = []
    current = ""
    heredoc: str | None = None
    for line in lines:
        if heredoc is not None:  # a here-document's lines belong to its command
            current += "\n" + line
            if line.strip() == heredoc:
                heredoc = None
                commands.append((current, 0))
                current = ""
            continue
        opened = _HEREDOC.search(line)
        if opened is not None:
            heredoc = opened.group(1)
            current += line
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1].rstrip() + " "
            continue
        current += line
        command, current = current, ""
        if not command.strip() or command.strip().startswith("#"):
            continue
        expected = _EXPECTED.search(command.partition(" #")[2])
        commands.append((command, int(expected.group(1)) if expected else 0))
    return commands


def run_shell(where: str, language: str, text: str) -> None:
    # every command of a block in one bash, so that `export` and `cd` carry to the next
    script = ["set -o pipefail"]
    for number, (command, expected) in enumerate(shell_commands(language, text)):
        script += [
            command,
            f"__rc=$?; if [ $__rc -ne {expected} ]; then "
            f"echo 'docs-test: {where}: command {number + 1} exited '$__rc', expected "
            f"{expected}: '{_quote(command)} >&2; exit 97; fi",
        ]
    result = subprocess.run(["bash", "-c", "\n".join(script)], check=False)
    if result.returncode != 0:
        raise SystemExit(f"docs-test: {where}: the shell block failed (exit {result.returncode})")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def main() -> None:
    blocks = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    sys.path[0] = os.getcwd()  # as for `python -c`: the examples import their own modules
    namespace: dict[str, object] = {"__name__": "__main__"}
    for block in blocks:
        where = f"{block['file']}:{block['line']}"
        print(f"--- docs-test: {where} ({block['language']})", flush=True)
        if block["save_as"] is not None:
            target = Path(block["save_as"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block["text"], encoding="utf-8")
        elif block["language"] == "python":
            try:
                code = compile(block["text"], where, "exec")
                exec(code, namespace)
            except BaseException:
                traceback.print_exc()
                raise SystemExit(f"docs-test: {where}: the python block failed") from None
            sys.stdout.flush()
        else:
            run_shell(where, block["language"], block["text"])


if __name__ == "__main__":
    main()
