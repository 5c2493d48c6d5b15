"""``loopml init`` where a platform server is configured says the runs go to the server (by
LOOPML_SERVER_URL or ``server_url`` in ``.loopml/config.toml``), not to the local stores."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.runner import cli

URL = "http://127.0.0.1:9"  # never contacted by init


def test_init_with_a_server_url_says_the_server_stores_the_runs(tmp_path: Path) -> None:
    result = cli("init", cwd=tmp_path, env={"LOOPML_SERVER_URL": URL})
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert f"server: {URL} (from LOOPML_SERVER_URL)" in out
    assert "stored there" in out and "local stores below are not used" in out
    # the local store is shown only as not in use
    assert out.count("metadata: sqlite") == out.count("(local metadata: sqlite") == 1

    shown = cli("init", "--json", cwd=tmp_path, env={"LOOPML_SERVER_URL": URL})
    data = json.loads(shown.stdout)
    assert (data["stores"], data["server_url"]) == ("server", URL)


def test_init_names_the_config_file_when_server_url_comes_from_it(tmp_path: Path) -> None:
    assert cli("init", cwd=tmp_path).returncode == 0
    local = json.loads(cli("init", "--json", cwd=tmp_path).stdout)
    assert local["stores"] == "local" and local["server_url"] is None
    (tmp_path / ".loopml" / "config.toml").write_text(f'server_url = "{URL}"\n')
    out = " ".join(cli("init", cwd=tmp_path).stdout.split())
    assert f"server: {URL} (from .loopml/config.toml)" in out
