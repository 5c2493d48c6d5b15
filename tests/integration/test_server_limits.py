"""Request size limits of the platform server, over real HTTP on loopback.

The server runs with a 1 MiB body limit and a 2 MiB upload limit (set through the
environment, as an operator would), so the tests send little to go over them."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from loopml.core.errors import ConfigError, PayloadTooLargeError
from loopml.server.limits import RequestLimits
from loopml.stores.remote.artifacts import HttpArtifactStore
from tests.fixtures.server import (
    PlatformServer,
    PlatformServerPool,
    start_platform_server,
    wait_until_ready,
)

MiB = 1 << 20
LIMITS = {"LOOPML_SERVER_MAX_BODY_MB": "1", "LOOPML_SERVER_MAX_BLOB_MB": "2"}
READ_TIMEOUT = 30.0  # a server that waits for the whole body would never answer in time


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, platform_server_pool: PlatformServerPool
) -> Iterator[PlatformServer]:
    started = start_platform_server(
        tmp_path_factory.mktemp("limits"), template_db=platform_server_pool.template_db, env=LIMITS
    )
    try:
        assert wait_until_ready(started), started.log()
        yield started
    finally:
        started.stop()


def _exchange(server: PlatformServer, head: bytes, body_parts: list[bytes]) -> tuple[int, dict]:
    """Send a raw request (``head`` then ``body_parts``) and read the answer's status and
    JSON body; the connection is left open so the server cannot count on its end."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(payload)


def _complete(answer: bytes) -> bool:
    head, _, payload = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(payload) >= int(value)
    return False


def _head(method: str, path: str, extra: str) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


def test_a_declared_oversized_json_body_is_413_before_it_is_sent(server: PlatformServer) -> None:
    # 1 GiB declared, 20 bytes sent: the answer comes without waiting for the rest
    head = _head("POST", "/api/v1/experiments", f"Content-Length: {1 << 30}\r\n")
    status, body = _exchange(server, head, [b'{"name": "x", "tags"'])
    assert status == 413
    assert body["error"]["code"] == "too_large"
    assert "1 MiB" in body["error"]["message"] and "--max-body-mb" in body["error"]["message"]


def test_a_chunked_json_body_is_cut_off_at_the_limit(server: PlatformServer) -> None:
    head = _head("POST", "/api/v1/experiments", "Transfer-Encoding: chunked\r\n")
    piece = b" " * (64 * 1024)
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    # a little over the limit, and no terminating chunk: the server must not wait for it
    status, body = _exchange(server, head, [b"1\r\n{\r\n", *[chunk] * 17])
    assert status == 413 and body["error"]["code"] == "too_large"
    with httpx.Client(base_url=server.url) as http:
        names = [e["name"] for e in http.get("/api/v1/experiments").json()["items"]]
        assert "x" not in names
        fits = http.post("/api/v1/experiments", json={"name": "fits", "tags": {"t": "a" * 1000}})
        assert fits.status_code == 201, fits.text


def _blob_count(server: PlatformServer) -> int:
    blobs = server.artifact_root / "blobs"
    return sum(1 for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else 0


def test_an_oversized_upload_is_413_and_nothing_is_stored(server: PlatformServer) -> None:
    before = _blob_count(server)
    declared = (
        b"PUT /api/v1/blobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % (3 * MiB)
    )
    status, body = _exchange(server, declared, [b"x" * 1000])
    assert status == 413 and "2 MiB" in body["error"]["message"]
    assert "--max-blob-mb" in body["error"]["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        for _ in range(3 * 4):
            yield b"y" * (MiB // 4)

    with httpx.Client(base_url=server.url, timeout=READ_TIMEOUT) as http:
        streamed = http.put(
            "/api/v1/blobs", content=chunks(), headers={"content-type": "application/octet-stream"}
        )
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["error"]["code"] == "too_large"
    assert _blob_count(server) == before
    store = HttpArtifactStore(server.url)
    try:
        with pytest.raises(PayloadTooLargeError, match="2 MiB"):
            store.put(_stream(b"z" * (2 * MiB + 1)))
        small = store.put(_stream(b"z" * MiB))  # under the blob limit, over the body limit
        assert store.size(small) == MiB
    finally:
        store.close()
    assert _blob_count(server) == before + 1


def _stream(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


def test_limits_come_from_options_then_the_environment_then_defaults() -> None:
    assert RequestLimits.resolve(env={}) == RequestLimits(32 * MiB, 10 * 1024 * MiB)
    assert RequestLimits.resolve(env=LIMITS) == RequestLimits(MiB, 2 * MiB)
    assert RequestLimits.resolve(0.5, None, env=LIMITS) == RequestLimits(MiB // 2, 2 * MiB)
    with pytest.raises(ConfigError, match="LOOPML_SERVER_MAX_BODY_MB must be a number of MiB"):
        RequestLimits.resolve(env={"LOOPML_SERVER_MAX_BODY_MB": "lots"})
    with pytest.raises(ConfigError, match="--max-blob-mb must be a positive number"):
        RequestLimits.resolve(None, 0, env={})
