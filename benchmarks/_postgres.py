"""A throwaway PostgreSQL server for a benchmark, from the Debian binaries
(``/usr/lib/postgresql/*/bin``): a temporary folder, 127.0.0.1 at a free port, stopped and
removed on exit. As root, ``initdb`` and the server run as the ``postgres`` user (``runuser``).
``fsync`` is left on (the defaults), unlike the test fixture: these are timings."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from _harness import LOOPBACK, free_port

SUPERUSER = "postgres"


def bin_dir() -> Path:
    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.parent.name))

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if not found:
        raise SystemExit("PostgreSQL's server binaries are missing (apt-get install postgresql).")
    return found[-1].parent


def _run(command: list[str], user: str | None) -> None:
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")


@contextlib.contextmanager
def postgres_database(name: str = "loopml") -> Iterator[str]:
    """The SQLAlchemy URI of a new, empty database on a fresh local server."""
    binaries = bin_dir()
    user = SUPERUSER if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="loopml-bench-postgres-"))
    if user is not None:
        shutil.chown(root, user=user)
    data = root / "data"
    initdb = [str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust"]
    pg_ctl = [str(binaries / "pg_ctl"), "-D", str(data)]
    try:
        _run([*initdb, "-E", "UTF8", "--locale=C", "--no-sync"], user)
        port = free_port()
        options = f"-c listen_addresses={LOOPBACK} -p {port} -k {root}"
        log = str(root / "server.log")
        _run([*pg_ctl, "-l", log, "-o", options, "-w", "-t", "60", "start"], user)
        try:
            createdb = [str(binaries / "createdb"), "-h", LOOPBACK, "-p", str(port)]
            _run([*createdb, "-U", SUPERUSER, name], None)
            yield f"postgresql+psycopg://{SUPERUSER}@{LOOPBACK}:{port}/{name}"
        finally:
            _run([*pg_ctl, "-m", "fast", "stop"], user)
    finally:
        shutil.rmtree(root, ignore_errors=True)
