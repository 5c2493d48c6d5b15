"""``loopml.data.status`` and the stat cache over real embedded stores: what changed in the
folder a dataset was added from, found without trusting anything but the files' stat."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import loopml.data
from loopml.core.config import init_project
from loopml.core.entities import DatasetVersion
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.data.statcache import FINE_RACY_NS
from loopml.tracking.client import Client

TABLE = "x,y\n1,a\n2,b\n3,c\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "table.csv").write_text(TABLE, encoding="utf-8")
    (folder / "notes.txt").write_text("hello\n", encoding="utf-8")
    (folder / "sub" / "blob.bin").write_bytes(b"\x00\x01" * 500)
    return tmp_path


@pytest.fixture
def client(project: Path) -> Iterator[Client]:
    with Client() as c:
        yield c


def age(folder: Path) -> None:
    """Wait until the files are older than the racy window, so the stat cache keeps them."""
    newest = max(os.lstat(p).st_ctime_ns for p in folder.rglob("*"))
    time.sleep(max(0.0, (newest + FINE_RACY_NS - time.time_ns()) / 1e9) + 0.05)


def test_the_source_is_recorded_relative_to_the_project(project: Path, client: Client) -> None:
    added = loopml.data.add("d", "data", client=client)
    assert added.version.source == "data"
    outside = project.parent / f"{project.name}-outside.csv"
    outside.write_text(TABLE, encoding="utf-8")
    try:
        elsewhere = loopml.data.add("e", outside, client=client)
    finally:
        outside.unlink()
    assert elsewhere.version.source == str(outside)


def test_status_of_an_unchanged_folder_is_clean(project: Path, client: Client) -> None:
    loopml.data.add("d", "data", client=client)
    found = loopml.data.status("d", client=client)
    assert found.clean and found.found.unchanged == 3
    assert found.to_dict()["version"] == 1


def test_status_names_added_removed_and_modified_files(project: Path, client: Client) -> None:
    loopml.data.add("d", "data", client=client)
    folder = project / "data"
    (folder / "new.txt").write_text("new\n", encoding="utf-8")
    (folder / "notes.txt").unlink()
    (folder / "table.csv").write_text(TABLE + "4,d\n", encoding="utf-8")
    found = loopml.data.status("d", client=client).found
    assert (found.added, found.removed, found.modified) == (
        ["new.txt"],
        ["notes.txt"],
        ["table.csv"],
    )
    assert found.unchanged == 1


def test_a_same_size_rewrite_with_its_mtime_put_back_is_still_seen(
    project: Path, client: Client
) -> None:
    folder = project / "data"
    age(folder)
    loopml.data.add("d", "data", client=client)  # the stat cache now knows every file
    blob = folder / "sub" / "blob.bin"
    before = os.lstat(blob)
    blob.write_bytes(b"\x01\x00" * 500)  # same size
    os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))  # ctime still moves
    found = loopml.data.status("d", client=client).found
    assert found.modified == ["sub/blob.bin"]
    again = loopml.data.add("d", "data", client=client)
    assert again.created and again.version.version == 2


def test_re_adding_after_a_change_reuses_the_unchanged_files(project: Path, client: Client) -> None:
    folder = project / "data"
    age(folder)
    first = loopml.data.add("d", "data", client=client)
    assert not loopml.data.add("d", "data", client=client).created  # cached: a no-op
    (folder / "table.csv").write_text(TABLE + "4,d\n", encoding="utf-8")
    second = loopml.data.add("d", "data", client=client)
    assert second.created and second.version.version == 2
    before = {e.path: e.digest for e in loopml.data.get("d@1", client=client).files()}
    after = {e.path: e.digest for e in loopml.data.get("d@2", client=client).files()}
    assert [p for p in after if after[p] != before[p]] == ["table.csv"]
    assert loopml.data.get("d@2", client=client).profiles()["table.csv"].rows == 4
    assert first.version.tree_digest != second.version.tree_digest


def test_status_compares_another_path_when_asked(project: Path, client: Client) -> None:
    loopml.data.add("d", "data", client=client)
    other = project / "copy"
    other.mkdir()
    (other / "table.csv").write_text(TABLE, encoding="utf-8")
    found = loopml.data.status("d", path=other, client=client).found
    assert found.removed == ["notes.txt", "sub/blob.bin"] and found.unchanged == 1


def test_status_without_a_recorded_source_asks_for_a_path(client: Client) -> None:
    tree = loopml.data.add("d", "data", client=client).version.tree_digest
    client.metadata.add_dataset_version(DatasetVersion("legacy", 0, tree, 1))
    with pytest.raises(InvalidInputError, match="pass the folder or file"):
        loopml.data.status("legacy", client=client)


def test_status_of_a_missing_source_or_dataset_is_not_found(project: Path, client: Client) -> None:
    loopml.data.add("d", "data", client=client)
    with pytest.raises(NotFoundError, match="no-such"):
        loopml.data.status("d", path=project / "no-such", client=client)
    with pytest.raises(NotFoundError, match="nope"):
        loopml.data.status("nope", client=client)


def test_an_emptied_folder_has_every_file_removed(project: Path, client: Client) -> None:
    loopml.data.add("d", "data", client=client)
    for file in sorted((project / "data").rglob("*"), reverse=True):
        file.unlink() if file.is_file() else file.rmdir()
    (project / "data").mkdir(exist_ok=True)
    found = loopml.data.status("d", client=client).found
    assert found.removed == ["notes.txt", "sub/blob.bin", "table.csv"]
    assert (found.added, found.modified, found.unchanged) == ([], [], 0)
