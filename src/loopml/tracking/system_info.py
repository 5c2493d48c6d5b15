"""What a run records about where it ran: git commit and dirty flag, Python, packages, host."""

from __future__ import annotations

import functools
import getpass
import json
import platform
import shlex
import socket
import subprocess
import sys
from pathlib import Path

KEY_PACKAGES = (
    "loopml",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "scipy",
    "xgboost",
    "lightgbm",
    "torch",
    "tensorflow",
    "onnxruntime",
)
TAG_PREFIX = "loopml."


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.lru_cache(maxsize=8)
def git_info(cwd: Path) -> dict[str, str]:
    """Commit and dirty flag of the repository containing ``cwd`` ({} outside a repository)."""
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not commit:
        return {}
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {"git.commit": commit, "git.dirty": "true" if status else "false"}


@functools.lru_cache(maxsize=1)
def package_versions() -> str:
    from importlib import metadata  # ~30 ms; only when a run starts

    versions: dict[str, str] = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return json.dumps(versions, sort_keys=True, separators=(",", ":"))


def system_tags(cwd: Path | None = None) -> dict[str, str]:
    """Tags (prefixed ``loopml.``) describing this process, captured at run start."""
    info = {
        **_process_info(),
        "command": shlex.join(sys.argv)[:4000],
        "packages": package_versions(),
        **git_info((cwd or Path.cwd()).resolve()),
    }
    return {TAG_PREFIX + key: value for key, value in info.items()}


def local_user() -> str:
    """The operating-system user running this process ("unknown" if it has no name): who
    an embedded store records as the actor of registry changes."""
    return _process_info()["user"]


@functools.lru_cache(maxsize=1)
def _process_info() -> dict[str, str]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "host": socket.gethostname(),
        "user": user,
    }
