"""put_directory / materialize_tree on real folders (a temporary local store, no servers)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loopml.core.errors import NotFoundError
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.artifacts.trees import materialize_tree, put_directory, put_file


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(str(tmp_path / "store"))


def test_put_directory_records_regular_files_and_skips_symlinks(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "real.txt").write_bytes(b"real")
    (src / "link.txt").symlink_to(src / "sub" / "real.txt")
    (src / "linked-dir").symlink_to(src / "sub", target_is_directory=True)
    (src / "empty-dir").mkdir()

    _, entries = put_directory(store, src)

    assert [(e.path, e.size) for e in entries] == [("sub/real.txt", 4)]


def test_equal_folders_get_equal_tree_digests(store: LocalArtifactStore, tmp_path: Path) -> None:
    for name, order in (("one", ["b", "a/x"]), ("two", ["a/x", "b"])):
        for relative in order:
            (tmp_path / name / relative).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name / relative).write_bytes(relative.encode())
    assert put_directory(store, tmp_path / "one")[0] == put_directory(store, tmp_path / "two")[0]


def test_materialize_replaces_existing_files(store: LocalArtifactStore, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "f.txt").write_bytes(b"new")
    dst.mkdir()
    (dst / "f.txt").write_bytes(b"old content")
    tree, _ = put_directory(store, src)

    materialize_tree(store, tree, dst)

    assert (dst / "f.txt").read_bytes() == b"new"
    assert sorted(os.listdir(dst)) == ["f.txt"]


def test_put_file_reports_digest_and_size(store: LocalArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"12345")
    digest, size = put_file(store, path)
    assert size == 5
    assert store.size(digest) == 5


def test_missing_inputs_raise_not_found(store: LocalArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        put_file(store, tmp_path / "nope.bin")
    with pytest.raises(NotFoundError, match="not a folder"):
        put_directory(store, tmp_path / "nope")
