"""``loopml ui``: the dashboard over the project's own store, on 127.0.0.1, its URL printed;
Ctrl-C stops it. Outside a project it says what to do (exit 2)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx

from loopml.core.config import load_config
from loopml.tracking import Client
from tests.e2e.runner import LOOPML, _environment, cli


def test_loopml_ui_serves_the_projects_runs_until_ctrl_c(tmp_path: Path) -> None:
    assert cli("init", cwd=tmp_path).returncode == 0
    with Client(config=load_config(tmp_path)) as client:
        client.create_run("churn", name="first-try")
    process = subprocess.Popen(
        [str(LOOPML), "ui"],
        cwd=tmp_path,
        env=_environment(None, 200),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("loopml dashboard: http://127.0.0.1:"), line
        url = line.split()[2]
        assert url.endswith("/ui/")
        with httpx.Client(timeout=30) as http:
            page = http.get(url)
            assert page.status_code == 200 and "first-try" in page.text
            assert http.get(url.removesuffix("ui/")).headers["location"] == "/ui/"
            unknown = http.get(f"{url}?experiment=no-such-experiment")
            assert unknown.status_code == 404 and "no-such-experiment" in unknown.text
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130  # stopped by SIGINT, as shells report it
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_loopml_ui_outside_a_project_says_to_run_init(tmp_path: Path) -> None:
    result = cli("ui", cwd=tmp_path)
    assert result.returncode == 2
    assert "loopml init" in result.stderr
