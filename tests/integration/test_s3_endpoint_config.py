"""Where the S3 artifact store connects: LOOPML_S3_ENDPOINT_URL, else botocore's own settings."""

from __future__ import annotations

import io

import pytest

from loopml.core.errors import NotFoundError
from loopml.core.hashing import hash_bytes
from loopml.stores.artifacts.fsspec_store import FsspecArtifactStore
from loopml.stores.registry import open_artifact_store

pytestmark = pytest.mark.s3

# Nothing listens on port 9 (discard) on loopback: a client sent there fails.
DEAD_ENDPOINT = "http://127.0.0.1:9"


def test_aws_endpoint_url_is_used_when_loopml_s3_endpoint_url_is_unset(
    s3_server: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOOPML_S3_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    store = open_artifact_store(f"s3://{s3_bucket}/artifacts")
    digest = store.put(io.BytesIO(b"via AWS_ENDPOINT_URL"))
    assert store.open(digest).read() == b"via AWS_ENDPOINT_URL"


def test_loopml_s3_endpoint_url_wins_over_aws_endpoint_url(
    s3_server: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", DEAD_ENDPOINT)
    monkeypatch.setenv("LOOPML_S3_ENDPOINT_URL", s3_server)
    store = FsspecArtifactStore(f"s3://{s3_bucket}")
    digest = store.put(io.BytesIO(b"via LOOPML_S3_ENDPOINT_URL"))
    assert store.size(digest) == len(b"via LOOPML_S3_ENDPOINT_URL")


def test_a_missing_bucket_is_reported_with_what_to_do(s3_artifact_uri: str) -> None:
    store = FsspecArtifactStore("s3://loopml-no-such-bucket/artifacts")
    with pytest.raises(NotFoundError, match="Create the bucket"):
        store.put(io.BytesIO(b"x"))
    assert not store.exists(hash_bytes(b"x"))
