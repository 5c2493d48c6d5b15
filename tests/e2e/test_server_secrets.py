"""``loopml server`` never prints a database password, in any form a URI can carry it, and
reads store URIs from files so they stay out of ``ps``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.runner import LOOPML, cli
from tests.fixtures.backends import free_port
from tests.fixtures.server import poll_ok

SECRET = "pw-Zq81-never-shown"
READY_TIMEOUT = 60.0


def _with_password(uri: str) -> str:
    # trust authentication ignores the password; what matters is that it is never shown
    return f"{uri}?sslmode=disable&password={SECRET}"


@pytest.mark.postgres
def test_a_password_in_the_query_of_a_store_uri_file_is_never_printed(
    postgres_uri: str, tmp_path: Path
) -> None:
    uri_file = tmp_path / "store-uri"
    uri_file.write_text(_with_password(postgres_uri) + "\n", encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_STORE_URI_FILE"] = str(uri_file)
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(LOOPML), "server", "--port", str(port), "--log-level", "info"],
            cwd=tmp_path,
            env={**env, "LOOPML_ARTIFACT_URI": str(tmp_path / "artifacts")},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        healthy = poll_ok(process, f"http://127.0.0.1:{port}/api/v1/health", READY_TIMEOUT)
    finally:
        process.terminate()
        process.wait(30)
    output = log_path.read_text(errors="replace")
    assert healthy, output
    assert SECRET not in output
    assert "password=***" in output and "sslmode=disable" in output  # the banner says which


@pytest.mark.postgres
def test_a_connection_error_does_not_show_the_password(postgres_uri: str, tmp_path: Path) -> None:
    missing_database = postgres_uri.rsplit("/", 1)[0] + "/no_such_database"
    for uri in (_with_password(missing_database), missing_database.replace("@", f":{SECRET}@")):
        result = cli(
            "server",
            "--port",
            str(free_port()),
            "--store-uri",
            uri,
            "--artifact-uri",
            str(tmp_path / "artifacts"),
            cwd=tmp_path,
        )
        assert result.returncode == 2, result.stderr
        assert "no_such_database" in result.stderr and "***" in result.stderr
        assert SECRET not in result.stdout + result.stderr
