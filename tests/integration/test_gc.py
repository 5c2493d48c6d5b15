"""Garbage collection over real stores (SQLite + a local folder or S3): what is referenced
stays readable, what nothing names goes, and nothing a writer is still using is removed."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import loopml
import loopml.data
import loopml.models
from loopml.core.entities import ArtifactEntry
from loopml.core.errors import ConfigError
from loopml.core.hashing import Digest
from loopml.stores.artifacts.base import CollectableArtifactStore
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.artifacts.trees import get_tree
from loopml.stores.gc import collect, plan_collection
from loopml.stores.registry import open_artifact_store, open_metadata_store
from loopml.tracking.client import Client


@pytest.fixture(params=["local", "s3", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    """A client on SQLite and a local or an S3 (moto) artifact store, or on PostgreSQL and a
    local artifact store."""
    store_uri = f"sqlite:///{tmp_path / 'loopml.db'}"
    artifact_uri = str(tmp_path / "artifacts")
    if request.param == "s3":
        artifact_uri = request.getfixturevalue("s3_artifact_uri")
    elif request.param == "postgres":
        store_uri = request.getfixturevalue("postgres_uri")
    with Client(store_uri, artifact_uri) as client:
        yield client


def _populate(client: Client, folder: Path) -> dict[str, Digest]:
    """One of each kind of reference, plus blobs nothing names any more."""
    (folder / "v1.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (folder / "gone.csv").write_text("a,b\n7,8\n9,9\n", encoding="utf-8")
    (folder / "notes.txt").write_text("artifact of a run\n", encoding="utf-8")
    kept_data = loopml.data.add("iris", folder / "v1.csv", client=client).version
    deleted = loopml.data.add("scratch", folder / "gone.csv", client=client).version
    client.metadata.delete_dataset_version("scratch")
    with loopml.start_run("gc", client=client) as run:
        run.log_artifact(folder / "notes.txt")
    model = loopml.models.register("rules", {"w": [1.0]}, allow_pickle=True, client=client)
    orphan = client.artifacts.put(io.BytesIO(b"nothing names me" * 1000))
    return {
        "data_tree": Digest.parse(kept_data.tree_digest),
        "model_tree": Digest.parse(model.tree_digest),
        "deleted_tree": Digest.parse(deleted.tree_digest),
        "orphan": orphan,
        "artifact": Digest.parse(client.metadata.list_artifact_entries(run.id)[0].digest),
    }


def test_unreferenced_blobs_go_and_everything_referenced_stays_readable(
    any_client: Client, tmp_path: Path
) -> None:
    client = any_client
    digests = _populate(client, tmp_path)
    deleted_files = [entry.digest for entry in get_tree(client.artifacts, digests["deleted_tree"])]

    plan = plan_collection(client.metadata, client.artifacts, grace_seconds=0)
    names = {item.name for item in plan.removable if item.kind == "blob"}
    assert str(digests["orphan"]) in names
    assert not plan.missing_trees
    removed = collect(plan, client.metadata, client.artifacts)
    assert removed.count == len(plan.removable) > 0

    gone = [digests["orphan"], digests["deleted_tree"], *deleted_files]
    assert not any(client.artifacts.exists(digest) for digest in gone)
    # the referenced ones read back whole (every read verifies its digest)
    for key in ("data_tree", "model_tree", "artifact"):
        with client.artifacts.open(digests[key]) as reader:
            reader.read()
    assert loopml.data.get("iris@1", client=client).to_arrow().num_rows == 1
    with pytest.warns(UserWarning, match=r"because code is trusted"):
        assert loopml.models.load("rules", trust_code=True, client=client) == {"w": [1.0]}
    again = plan_collection(client.metadata, client.artifacts, grace_seconds=0)
    assert again.removable == ()


def _age(store: LocalArtifactStore, digest: Digest, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(store.blob_path(digest), (old, old))


def test_a_blob_younger_than_the_grace_period_is_kept(client: Client) -> None:
    """A writer stores blobs before it records them: an unreferenced young blob may be one."""
    store = client.artifacts
    assert isinstance(store, LocalArtifactStore)
    young = store.put(io.BytesIO(b"being written by someone" * 100))
    old = store.put(io.BytesIO(b"left over from long ago" * 100))
    _age(store, old, 7200)
    plan = plan_collection(client.metadata, store, grace_seconds=3600)
    assert [item.name for item in plan.removable] == [str(old)]
    assert plan.young.count == 1
    collect(plan, client.metadata, store)
    assert store.exists(young) and not store.exists(old)


def test_a_put_that_finds_an_old_unreferenced_blob_keeps_it_from_collection(
    client: Client,
) -> None:
    """Dedup: a writer whose put found the blob stored records it next; the put touches it, so
    a collection planned before or running at that moment does not remove it."""
    store = client.artifacts
    assert isinstance(store, LocalArtifactStore)
    data = b"stored long ago, wanted again" * 100
    digest = store.put(io.BytesIO(data))
    _age(store, digest, 7200)
    planned = plan_collection(client.metadata, store, grace_seconds=3600)
    assert [item.name for item in planned.removable] == [str(digest)]
    assert store.put(io.BytesIO(data)) == digest  # a writer reuses it now
    assert collect(planned, client.metadata, store).count == 0
    assert store.exists(digest)
    assert plan_collection(client.metadata, store, grace_seconds=3600).removable == ()


def test_a_reference_recorded_after_the_plan_keeps_the_blob(client: Client) -> None:
    store = client.artifacts
    assert isinstance(store, LocalArtifactStore)
    data = b"recorded after the plan\n"
    with loopml.start_run("gc", client=client) as run:
        digest = store.put(io.BytesIO(data))
        _age(store, digest, 7200)
        planned = plan_collection(client.metadata, store, grace_seconds=3600)
        assert [item.name for item in planned.removable] == [str(digest)]
        # the writer records what it stored (no second put: only the reference can keep it)
        client.metadata.add_artifacts(run.id, [ArtifactEntry("late.txt", str(digest), len(data))])
    assert collect(planned, client.metadata, store).count == 0
    assert store.exists(digest)


def test_leftovers_of_interrupted_writes_are_removed_after_the_grace_period(
    client: Client,
) -> None:
    store = client.artifacts
    assert isinstance(store, LocalArtifactStore)
    tmp = store.scratch_folder()
    (tmp / "put-dead.part").write_bytes(b"x" * 4096)
    (tmp / "model-1-abc").mkdir()
    (tmp / "model-1-abc" / "model.pkl").write_bytes(b"y" * 100)
    (tmp / "pack-live.pack").write_bytes(b"z")  # being filled right now
    for name in ("put-dead.part", "model-1-abc/model.pkl", "model-1-abc"):
        os.utime(tmp / name, (0, 0))
    plan = plan_collection(client.metadata, store, grace_seconds=3600)
    assert sorted((i.kind, i.name, i.size) for i in plan.removable) == [
        ("temp", "model-1-abc", 100),
        ("temp", "put-dead.part", 4096),
    ]
    collect(plan, client.metadata, store)
    assert sorted(p.name for p in tmp.iterdir()) == ["pack-live.pack"]


def test_collection_through_a_server_is_refused_with_a_clear_message(
    shared_platform_server_url: str,
) -> None:
    metadata = open_metadata_store(shared_platform_server_url)
    artifacts = open_artifact_store(shared_platform_server_url)
    assert not isinstance(artifacts, CollectableArtifactStore)
    try:
        with pytest.raises(ConfigError, match=r"Run 'loopml gc' where the stores are reachable"):
            plan_collection(metadata, artifacts, grace_seconds=0)
    finally:
        metadata.close()


def test_a_data_add_that_reuses_a_cached_blob_claims_it(client: Client, tmp_path: Path) -> None:
    """The stat cache lets ``data add`` reuse a stored blob without putting it again (a file
    of a deleted version, added back): it claims the blob, so a collection running meanwhile
    keeps it."""
    store = client.artifacts
    assert isinstance(store, LocalArtifactStore)
    (tmp_path / "big.bin").write_bytes(b"q" * (2 << 20))  # a loose blob, not packed
    time.sleep(0.25)  # the stat cache trusts only stats older than the timestamps' tick
    first = loopml.data.add("files", tmp_path / "big.bin", client=client).version
    client.metadata.delete_dataset_version("files")
    blob = get_tree(store, Digest.parse(first.tree_digest))[0].digest
    _age(store, blob, 7200)
    planned = plan_collection(client.metadata, store, grace_seconds=3600)
    assert str(blob) in {item.name for item in planned.removable}
    loopml.data.add("files", tmp_path / "big.bin", client=client)
    # as if the collection read the references before this add recorded its version
    client.metadata.delete_dataset_version("files")
    assert collect(planned, client.metadata, store).count < len(planned.removable)
    with store.open(blob) as reader:
        assert reader.read() == b"q" * (2 << 20)
