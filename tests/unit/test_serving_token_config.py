"""Where the model server's token comes from, and when the server refuses to start."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.core.errors import ConfigError
from loopml.serving.token_auth import (
    ENV_ALLOW_ANONYMOUS,
    ENV_TOKEN,
    ENV_TOKEN_FILE,
    check_exposure,
    read_token,
)

TOKEN = "a" * 16


@pytest.fixture(autouse=True)
def _no_token_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ENV_TOKEN, ENV_TOKEN_FILE, ENV_ALLOW_ANONYMOUS):
        monkeypatch.delenv(name, raising=False)


def test_the_token_comes_from_the_file_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert read_token() is None
    monkeypatch.setenv(ENV_TOKEN, f" {TOKEN}b\n")
    assert read_token() == f"{TOKEN}b"
    file = tmp_path / "token"
    file.write_text(f"{TOKEN}c\n", encoding="utf-8")
    monkeypatch.setenv(ENV_TOKEN_FILE, str(file))
    assert read_token() == f"{TOKEN}c"
    given = tmp_path / "given"
    given.write_text(TOKEN, encoding="utf-8")
    assert read_token(given) == TOKEN
    with pytest.raises(ConfigError, match="Cannot read the token file"):
        read_token(tmp_path / "missing")
    for bad in ("short", "a" * 10 + " " + "a" * 10, "é" * 20):
        given.write_text(bad, encoding="utf-8")
        with pytest.raises(ConfigError, match="at least 16 visible ASCII"):
            read_token(given)


def test_beyond_loopback_a_token_or_consent_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        check_exposure(host, None, allow_anonymous=False)
    for host in ("0.0.0.0", "::", "10.1.2.3", "example.com"):
        with pytest.raises(ConfigError, match="without a token"):
            check_exposure(host, None, allow_anonymous=False)
        check_exposure(host, TOKEN, allow_anonymous=False)
        check_exposure(host, None, allow_anonymous=True)
    monkeypatch.setenv(ENV_ALLOW_ANONYMOUS, "1")
    check_exposure("0.0.0.0", None, allow_anonymous=False)
