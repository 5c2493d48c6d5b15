"""Running the real ``loopml`` console script, as a user would, for the e2e tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LOOPML = Path(sys.executable).with_name("loopml")


def _environment(env: dict[str, str] | None, columns: int) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return {**clean, "COLUMNS": str(columns), **(env or {})}


def cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    columns: int = 200,
) -> subprocess.CompletedProcess[str]:
    """Run ``loopml ARGS`` in ``cwd`` with no LOOPML_* settings but ``env``, stdin closed."""
    return subprocess.run(
        [str(LOOPML), *args],
        cwd=cwd,
        env=_environment(env, columns),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# runs each command of argv[1] (JSON) through the console script's main(); after each one, a
# line "<argv[2]> <exit code>" on stdout and on stderr ends what it printed
_EACH = """
import json, sys
from loopml.cli.main import main

commands, mark = json.loads(sys.argv[1]), sys.argv[2]
for args in commands:
    sys.argv = ["loopml", *args]
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    for stream in (sys.stdout, sys.stderr):
        stream.write(f"\\n{mark} {code}\\n")
        stream.flush()
"""


def cli_each(
    commands: list[list[str]], *, cwd: Path, columns: int = 200, timeout: float = 120
) -> list[subprocess.CompletedProcess[str]]:
    """``loopml ARGS`` for each ARGS of ``commands``, run by the console script's ``main()``
    one after the other in ONE process (a ``loopml`` process pays ~0.7 s of CPU for its
    imports), for checks that read only what each command prints and its exit code, such
    as every command's ``--help``."""
    mark = f"@@loopml-each-{os.getpid()}@@"
    done = subprocess.run(
        [sys.executable, "-c", _EACH, json.dumps(commands), mark],
        cwd=cwd,
        env=_environment(None, columns),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outs, errs = _parts(done.stdout, mark), _parts(done.stderr, mark)
    assert len(outs) == len(errs) == len(commands), done.stderr
    return [
        subprocess.CompletedProcess(["loopml", *args], code, out, err)
        for args, (out, code), (err, _) in zip(commands, outs, errs, strict=True)
    ]


def _parts(text: str, mark: str) -> list[tuple[str, int]]:
    """What each command printed, and its exit code, from the marked output."""
    found: list[tuple[str, int]] = []
    rest = text
    while f"\n{mark} " in rest:
        printed, _, rest = rest.partition(f"\n{mark} ")
        code, _, rest = rest.partition("\n")
        found.append((printed, int(code)))
    return found
