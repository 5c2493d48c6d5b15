"""Data protection on real servers: no artifact or blob route of either server reads outside
its store, whatever the path (``..``, absolute, NUL, encoded separators, backslashes, drive
letters); sensitive input columns reach the stored prediction log dropped or hashed; and
neither a token nor the password of a store URL ever appears in a server's output.

One platform server (over PostgreSQL, with a password in its store URL, and S3, encrypted at
rest with the server's key) and one model server (reading its model from the platform server
with a token) serve the whole module.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

import loopml.models
from loopml.monitoring.sensitive_columns import keyed_hash
from loopml.serving import read_predictions
from loopml.stores.artifacts.encryption_keys import new_key_text
from loopml.tracking.client import Client
from tests.fixtures.model_server import (
    ModelServer,
    start_model_server,
    wait_for,
    wait_until_serving,
)
from tests.fixtures.server import PlatformServer, start_platform_server, wait_until_ready

pytestmark = [pytest.mark.postgres, pytest.mark.s3, pytest.mark.timeout(300)]

PASSWORD = "pw-Zq81xVv0cRk2"
TOKEN = "tok-1c9f4e7a2b6d8e0f"
HASH_KEY = b"k" * 32
SENTINEL = "loopml-traversal-sentinel-4f1d"
MODEL = "protected"
# what an attacker puts where a name or a path goes
PATH_ATTACKS = [
    "..",
    "../../../../etc/passwd",
    "..%2f..%2f..%2fsecret.txt",
    "%2e%2e%2f%2e%2e%2fsecret.txt",
    "..%5c..%5csecret.txt",
    "..\\..\\secret.txt",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "C:%5cWindows%5cwin.ini",
    "C:/Windows/win.ini",
    "%00",
    "secret.txt%00.json",
]
# ... and where a digest goes
ATTACKS = [*PATH_ATTACKS, "blake3:" + "a" * 64 + "%0a", "blake3:..%2f" + "a" * 61]
ENTRY_PATHS = ["../secret.txt", "a/../../secret.txt", "/etc/passwd", "a\\..\\b", "C:/x", "a\x00b"]


@dataclass
class Servers:
    platform: PlatformServer
    model: ModelServer
    run_id: str
    digest: str
    rows: pd.DataFrame
    bucket: str
    s3: Any


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ssn": [123456789, 987654321, 555443333, 111223333],
            "income": [52000.5, 61000.25, 38000.75, 99000.0],
            "age": [41.0, 35.0, 29.0, 63.0],
        }
    )


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_uri_factory: Callable[[], str],
    s3_server: str,
    s3_admin_filesystem: Any,
) -> Iterator[Servers]:
    folder = tmp_path_factory.mktemp("protection")
    (folder / "secret.txt").write_text(SENTINEL)
    uri = postgres_uri_factory()
    parts = urlsplit(uri)  # the test server trusts local users: any password gets in
    store_uri = uri.replace(f"//{parts.username}@", f"//{parts.username}:{PASSWORD}@")
    bucket = f"loopml-protect-{uuid.uuid4().hex[:12]}"
    s3_admin_filesystem.mkdir(bucket)
    (folder / "server.key").write_text(new_key_text())
    platform = start_platform_server(
        folder / "platform",
        store_uri=store_uri,
        artifact_uri=f"s3://{bucket}/artifacts",
        env={
            "LOOPML_S3_ENDPOINT_URL": s3_server,
            "LOOPML_ENCRYPTION_KEY_FILE": str(folder / "server.key"),
        },
    )
    model_server: ModelServer | None = None
    try:
        assert wait_until_ready(platform, timeout=180), platform.log()
        rows = _frame()
        with Client(server_url=platform.url, token=TOKEN) as client:
            fitted = LogisticRegression().fit(rows, [0, 1, 0, 1])
            version = loopml.models.register(MODEL, fitted, input_example=rows, client=client)
            loopml.models.set_alias(MODEL, "champion", version.version, client=client)
            run = client.create_run(experiment="protection")
            digest = str(client.artifacts.put(io.BytesIO(b"an artifact")))
        key_file = folder / "hash.key"
        key_file.write_bytes(HASH_KEY)
        env = {
            "LOOPML_SERVER_URL": platform.url,
            "LOOPML_TOKEN": TOKEN,
            "LOOPML_LOG_HASH_KEY_FILE": str(key_file),
        }
        model_server = wait_until_serving(
            start_model_server(
                folder,
                f"{MODEL}@champion",
                "--sensitive",
                "ssn",
                "--sensitive",
                "income:hash",
                "--sensitive",
                "incomee",  # misspelt: the server says so
                "--log-roll-seconds",
                "0.2",
                env=env,
            )
        )
        yield Servers(platform, model_server, run.id, digest, rows, bucket, s3_admin_filesystem)
    finally:
        if model_server is not None:
            model_server.stop()
        platform.stop()
        s3_admin_filesystem.rm(bucket, recursive=True)


def _raw(base: str, method: str, target: bytes) -> tuple[int, bytes]:
    """Send ``target`` as the request target byte for byte (no client normalises it)."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as conn:
        conn.sendall(
            method.encode() + b" " + target + b" HTTP/1.1\r\nHost: " + parts.netloc.encode()
            + b"\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\nConnection: close\r\n\r\n"
        )  # fmt: skip
        answer = b"".join(iter(lambda: conn.recv(65536), b""))
    status_line = answer.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), answer


def _assert_refused(base: str, method: str, targets: list[bytes]) -> None:
    for target in targets:
        status, answer = _raw(base, method, target)
        assert 400 <= status < 500, (target, status, answer[:300])
        assert SENTINEL.encode() not in answer and b"root:" not in answer, target


def _targets(template: str, attacks: list[str] = ATTACKS) -> list[bytes]:
    found = [template.format(attack).encode("latin-1") for attack in attacks]
    return [*found, template.format("a\x00b").encode("latin-1")]  # a raw NUL byte too


def test_platform_server_blob_and_artifact_routes_stay_inside_the_store(servers: Servers) -> None:
    base = servers.platform.url
    for method in ("GET", "HEAD"):
        _assert_refused(base, method, _targets("/api/v1/blobs/{}"))
    run = servers.run_id
    _assert_refused(
        base, "GET", _targets(f"/api/v1/runs/{run}/artifacts?prefix={{}}", PATH_ATTACKS)
    )
    _assert_refused(base, "GET", _targets("/api/v1/runs/{}/artifacts"))
    _assert_refused(base, "GET", _targets("/api/v1/datasets/{}/versions/1"))
    _assert_refused(base, "GET", _targets("/api/v1/models/{}/versions/1"))
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as http:
        for path in ENTRY_PATHS:
            entry = {"path": path, "digest": servers.digest, "size": 11}
            answer = http.post(f"/runs/{run}/artifacts", json={"entries": [entry]})
            assert answer.status_code == 400, (path, answer.text)
        assert http.get(f"/runs/{run}/artifacts").json()["items"] == []
        assert http.get(f"/blobs/{servers.digest}").content == b"an artifact"


def test_model_server_routes_stay_inside_what_it_serves(servers: Servers) -> None:
    base = servers.model.url
    _assert_refused(base, "GET", _targets("/v2/models/{}"))
    _assert_refused(base, "GET", _targets("/v2/models/{}/ready"))
    _assert_refused(base, "GET", _targets(f"/v2/models/{MODEL}/versions/{{}}"))
    _assert_refused(base, "POST", _targets("/v2/models/{}/infer"))
    _assert_refused(base, "GET", _targets("/{}"))


def test_sensitive_columns_reach_the_stored_log_dropped_or_hashed(servers: Servers) -> None:
    rows = servers.rows
    body = {"dataframe_split": rows.to_dict(orient="split", index=False)}
    with httpx.Client(timeout=30) as http:
        answer = http.post(f"{servers.model.url}/invocations", json=body)
    assert answer.status_code == 200, answer.text
    with Client(server_url=servers.platform.url, token=TOKEN) as client:
        assert wait_for(lambda: read_predictions(MODEL, client).num_rows == len(rows), 60)
        logged = read_predictions(MODEL, client).column("inputs").to_pylist()
    assert logged == [
        {"income": keyed_hash(str(income), HASH_KEY), "age": age}
        for income, age in zip(rows["income"], rows["age"], strict=True)
    ]
    assert "takes no input column named 'incomee'" in servers.model.log()


def test_no_token_or_password_in_any_server_output(servers: Servers, tmp_path: Path) -> None:
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        assert http.post(f"{servers.model.url}/invocations", content=b"{").status_code == 400
        assert http.get(f"{servers.platform.url}/api/v1/runs/{'0' * 32}").status_code == 404
    # a server that cannot reach its store prints the URL in its error: masked
    failed = subprocess.run(
        [
            sys.executable,
            "-m",
            "loopml.server",
            "--port",
            "1",
            "--store-uri",
            f"postgresql+psycopg://loopml:{PASSWORD}@127.0.0.1:1/none",
            "--artifact-uri",
            str(tmp_path / "artifacts"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert failed.returncode != 0
    outputs = {
        "platform server": servers.platform.log(),
        "model server": servers.model.log(),
        "failed start": failed.stdout + failed.stderr,
    }
    assert "127.0.0.1:1" in outputs["failed start"]  # it did say which store failed
    for name, text in outputs.items():
        assert PASSWORD not in text, f"the password leaked into the {name}'s output:\n{text}"
        assert TOKEN not in text, f"the token leaked into the {name}'s output:\n{text}"


def test_the_server_keeps_blobs_encrypted_on_s3_and_serves_them_decrypted(
    servers: Servers,
) -> None:
    with Client(server_url=servers.platform.url, token=TOKEN) as client:
        digest = client.artifacts.put(io.BytesIO(b"customer 4711: very private"))
        with client.artifacts.open(digest) as reader:
            assert reader.read() == b"customer 4711: very private"
        assert client.artifacts.size(digest) == len(b"customer 4711: very private")
    key = f"{servers.bucket}/artifacts/blobs/{digest.hexdigest[:2]}/{digest.hexdigest[2:]}"
    stored = servers.s3.cat_file(key)
    assert b"private" not in stored and stored.startswith(b"\x89LMLENC")
