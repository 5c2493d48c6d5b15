"""Running the real ``loopml`` console script, as a user would, for the e2e tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LOOPML = Path(sys.executable).with_name("loopml")


def cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    columns: int = 200,
) -> subprocess.CompletedProcess[str]:
    """Run ``loopml ARGS`` in ``cwd`` with no LOOPML_* settings but ``env``, stdin closed."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return subprocess.run(
        [str(LOOPML), *args],
        cwd=cwd,
        env={**clean, "COLUMNS": str(columns), **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
