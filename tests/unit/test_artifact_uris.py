"""Artifact store URIs: which class a URI opens, and the errors for URIs that cannot work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from loopml.core.errors import BackendUnavailableError, ConfigError
from loopml.stores.artifacts.fsspec_store import FsspecArtifactStore
from loopml.stores.artifacts.local import LocalArtifactStore, path_from_uri
from loopml.stores.registry import open_artifact_store


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/srv/artifacts", "/srv/artifacts"),
        ("file:///srv/artifacts", "/srv/artifacts"),
        ("file://localhost/srv/artifacts", "/srv/artifacts"),
        ("file:///srv/with%20space", "/srv/with space"),
    ],
)
def test_local_uris_name_a_folder(uri: str, expected: str) -> None:
    assert path_from_uri(uri) == Path(expected)


def test_relative_paths_become_absolute() -> None:
    assert path_from_uri("artifacts") == Path.cwd() / "artifacts"


@pytest.mark.parametrize("uri", ["file://otherhost/srv", "s3://bucket/prefix", ""])
def test_local_store_rejects_uris_that_are_not_local_folders(uri: str) -> None:
    with pytest.raises(ConfigError):
        path_from_uri(uri)


def test_registry_opens_folders_with_the_local_store(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "artifacts"))
    assert isinstance(store, LocalArtifactStore)
    assert not (tmp_path / "artifacts").exists()  # folders are created lazily


def test_registry_opens_memory_uris_with_the_fsspec_store() -> None:
    assert isinstance(open_artifact_store("memory://loopml-unit"), FsspecArtifactStore)


def test_s3_uri_without_a_bucket_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="names no bucket"):
        FsspecArtifactStore("s3://")


def test_missing_s3fs_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # makes `import s3fs` raise ImportError
    with pytest.raises(BackendUnavailableError, match=r"pip install 'loopml\[s3\]'"):
        FsspecArtifactStore("s3://bucket/prefix")
