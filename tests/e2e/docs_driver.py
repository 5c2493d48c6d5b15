"""Runs one doc file's examples in the working directory (a subprocess of the docs test):
``python docs_driver.py BLOCKS.json``. Python blocks share one namespace; shell blocks share
one bash, as a reader's terminal (variables, exports and background jobs such as a
``loopml serve &`` carry from block to block), one command (a line, with ``\\``
continuations) at a time, checking its exit code. Exits 1 naming the block and the command
that failed."""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

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
        if _open_quote(current):  # a quoted string (a JSON body) goes on to the next line
            current += "\n"
            continue
        command, current = current, ""
        if not command.strip() or command.strip().startswith("#"):
            continue
        expected = _EXPECTED.search(command.partition(" #")[2])
        commands.append((command, int(expected.group(1)) if expected else 0))
    if current.strip():  # a quote never closed: bash says what is wrong
        commands.append((current, 0))
    return commands


class Shell:
    """One bash for every shell block of a file. A block is written to a script in
    ``scripts`` and sourced (stdin from /dev/null, so a command cannot read the next block);
    bash then writes a line to a pipe of ours, so we know the block is done. A failing
    command makes bash exit (97)."""

    def __init__(self, scripts: Path) -> None:
        self.scripts = scripts
        self._done, write = os.pipe()
        self.bash = subprocess.Popen(["bash"], stdin=subprocess.PIPE, text=True, pass_fds=(write,))
        os.close(write)  # bash holds it (and so do its background jobs: never wait for EOF)
        self._fd = write
        self._blocks = 0
        self._send("set -o pipefail")

    def run(self, where: str, language: str, text: str) -> None:
        script = []
        for number, (command, expected) in enumerate(shell_commands(language, text)):
            script += [
                command,
                f"__rc=$?; if [ $__rc -ne {expected} ]; then "
                f"echo 'docs-test: {where}: command {number + 1} exited '$__rc', expected "
                f"{expected}: '{_quote(command)} >&2; exit 97; fi",
            ]
        self._blocks += 1
        path = self.scripts / f"block-{self._blocks}.sh"
        path.write_text("\n".join(script) + "\n", encoding="utf-8")
        self._send(f"source {_quote(str(path))} < /dev/null; echo $? >&{self._fd}")
        while True:  # the status of `source` (not 0: a syntax error), or bash's end
            ready, _, _ = select.select([self._done], [], [], 0.5)
            status = os.read(self._done, 64).strip() if ready else b""
            if status:
                if status != b"0":
                    raise SystemExit(f"docs-test: {where}: the shell block failed ({status!r})")
                return
            if self.bash.poll() is not None:
                raise SystemExit(
                    f"docs-test: {where}: the shell block failed (exit {self.bash.returncode})"
                )

    def _send(self, line: str) -> None:
        assert self.bash.stdin is not None
        self.bash.stdin.write(line + "\n")
        self.bash.stdin.flush()

    def close(self) -> None:
        """bash ends; what it left running in the background is the test's to stop."""
        assert self.bash.stdin is not None
        self.bash.stdin.close()
        self.bash.wait()


def _open_quote(command: str) -> bool:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        list(lexer)
    except ValueError:  # No closing quotation
        return True
    return False


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _stop_leftovers() -> None:
    """SIGTERM to what the examples left running (a server started with ``&`` whose block
    failed), so that the test sees this process end at once: only when this process leads
    its own group (as the docs test starts it), never a terminal's."""
    if os.getpgrp() != os.getpid():
        return
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.killpg(os.getpgrp(), signal.SIGTERM)


def main() -> None:
    blocks = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    sys.path[0] = os.getcwd()  # as for `python -c`: the examples import their own modules
    namespace: dict[str, object] = {"__name__": "__main__"}
    try:
        _run(blocks, namespace)
    finally:
        _stop_leftovers()


def _run(blocks: list[dict[str, Any]], namespace: dict[str, object]) -> None:
    shell: Shell | None = None
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
            shell = shell or Shell(Path(sys.argv[1]).resolve().parent)
            shell.run(where, block["language"], block["text"])
    if shell is not None:
        shell.close()


if __name__ == "__main__":
    main()
