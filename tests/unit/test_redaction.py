"""Credentials never show where a URI is printed, and store URIs can come from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.core import config as cfg
from loopml.core.errors import ConfigError
from loopml.core.redaction import redact_uri
from loopml.stores.metadata.sql.engine import mask_uri, parse_uri
from loopml.stores.registry import open_artifact_store


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("postgresql://ana:pw@db:5432/ml", "postgresql://ana:***@db:5432/ml"),
        ("postgresql://ana@db/ml?password=pw", "postgresql://ana@db/ml?password=***"),
        (
            "postgresql+psycopg://db/ml?sslmode=require&sslpassword=pw&PASSWD=pw",
            "postgresql+psycopg://db/ml?sslmode=require&sslpassword=***&PASSWD=***",
        ),
        (
            "s3://AKIAX:pw@bucket/p?aws_secret_access_key=pw&access_key=pw&region=eu",
            "s3://AKIAX:***@bucket/p?aws_secret_access_key=***&access_key=***&region=eu",
        ),
        (
            "https://h/x?token=pw&api_key=pw&client_secret=pw",
            "https://h/x?token=***&api_key=***&client_secret=***",
        ),
        ("postgresql://u:p@w@h/d", "postgresql://u:***@h/d"),  # an unescaped '@' in the password
        ("sqlite:////tmp/loopml.db", "sqlite:////tmp/loopml.db"),
        ("/data/a?b", "/data/a?b"),
        ("http://[::1", "<unparsable URI>"),
        (None, ""),
    ],
)
def test_every_credential_form_is_masked(uri: str | None, shown: str) -> None:
    assert redact_uri(uri) == shown
    if uri and "pw" in uri:
        assert "pw" not in redact_uri(uri).replace("pwd", "")


def test_store_errors_and_reprs_mask_query_passwords() -> None:
    uri = "postgresql://ana:pw1@h:1/db?password=pw2"
    assert mask_uri(uri) == "postgresql://ana:***@h:1/db?password=***"
    with pytest.raises(ConfigError) as caught:
        parse_uri("postgresql://ana:pw1@h:notaport/db?password=pw2")
    assert "pw1" not in caught.value.message and "pw2" not in caught.value.message
    with pytest.raises(ConfigError) as caught:
        open_artifact_store("s3://?secret_key=pw3")
    assert "pw3" not in caught.value.message
    config = cfg.Config(root=None, store_uri=uri, artifact_uri=None, server_url=None)
    assert "pw1" not in repr(config) and "pw2" not in repr(config)


def test_store_uris_can_come_from_files(tmp_path: Path) -> None:
    store_file, artifact_file = tmp_path / "store", tmp_path / "artifacts"
    store_file.write_text("postgresql://ana@db/ml?password=pw\n", encoding="utf-8")
    artifact_file.write_text("s3://bucket/prefix", encoding="utf-8")
    env = {cfg.ENV_STORE_URI_FILE: str(store_file), cfg.ENV_ARTIFACT_URI_FILE: str(artifact_file)}
    config = cfg.load_config(tmp_path, env=env)
    assert config.store_uri == "postgresql://ana@db/ml?password=pw"
    assert config.artifact_uri == "s3://bucket/prefix"
    both = {**env, cfg.ENV_STORE_URI: "sqlite:///x.db"}
    with pytest.raises(ConfigError, match="Both LOOPML_STORE_URI and LOOPML_STORE_URI_FILE"):
        cfg.load_config(tmp_path, env=both)
    missing = {cfg.ENV_STORE_URI_FILE: str(tmp_path / "absent")}
    with pytest.raises(ConfigError, match="absent, which cannot be read"):
        cfg.load_config(tmp_path, env=missing)
    store_file.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must hold one URI on one line"):
        cfg.load_config(tmp_path, env=env)
