"""The other tools, each in a virtualenv of its own under ``benchmarks/.venvs/<name>``, created
and filled with pip by the benchmark that needs it. Standard library only."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from pathlib import Path

VENVS = Path(__file__).resolve().parent / ".venvs"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def installed_version(venv: Path, distribution: str) -> str | None:
    """The version of ``distribution`` installed in ``venv``, or None (no venv, not there)."""
    python = venv_python(venv)
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({distribution!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_installed(
    venv: Path, spec: str, distribution: str, *, option: str, also: tuple[str, ...] = ()
) -> str:
    """Create ``venv`` and pip-install ``spec`` (``"zenml[local]==0.98.0"``) there unless it
    already has a matching ``distribution`` (``3.67.*`` matches 3.67.1); its version.

    ``option`` names the command-line flag that picks another spec, for the error message;
    ``also`` are more requirements installed with it (a missing or too new dependency).
    """
    version = installed_version(venv, distribution)
    pinned = spec.partition("==")[2]
    if version and (not pinned or fnmatch.fnmatch(version, pinned)):
        return version
    print(f"Installing {spec} into {venv} (one time)...", flush=True)
    if not venv_python(venv).exists():
        base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        subprocess.run([str(base), "-m", "venv", str(venv)], check=True)
    log_path = venv / "pip-install.log"
    with log_path.open("w") as log_file:
        done = subprocess.run(
            [str(venv_python(venv)), "-m", "pip", "install", "--quiet", spec, *also],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            check=False,
        )
    version = installed_version(venv, distribution)
    if done.returncode != 0 or version is None:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise SystemExit(
            f"pip could not install {spec} (log: {log_path}):\n{tail}\n"
            f"Pick a version that installs with {option}."
        )
    return version
