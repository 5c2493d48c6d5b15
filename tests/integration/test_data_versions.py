"""Dataset versions through ``loopml.data`` over real embedded stores (SQLite + a local folder)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import loopml.data
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.refs import parse_dataset_ref
from loopml.data import TableFormatError
from loopml.tracking.active_run import ActiveRun
from loopml.tracking.client import Client

IRIS = "sepal,species\n5.1,setosa\n4.9,setosa\n6.3,virginica\n"


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def blob_count(tmp_path: Path) -> int:
    """Distinct blobs stored: loose files plus the entries of every pack index."""
    root = tmp_path / "artifacts"
    loose = {p.parent.name + p.name for p in (root / "blobs").rglob("*") if p.is_file()}
    packed = {line.split()[0] for index in (root / "packs").glob("*.idx") for line in index.open()}
    return len(loose | packed)


def test_adding_a_csv_makes_version_1_with_a_profile(tmp_path: Path, client: Client) -> None:
    csv = write(tmp_path / "src" / "iris.csv", IRIS)
    result = loopml.data.add("iris", csv, message="first", client=client)
    assert result.created
    assert (result.version.version, result.version.file_count) == (1, 1)
    assert result.version.size == len(IRIS)
    profiles = loopml.data.get("iris@1", client=client).profiles()
    assert list(profiles) == ["iris.csv"]
    assert profiles["iris.csv"].rows == 3
    assert profiles["iris.csv"].column("sepal").max == pytest.approx(6.3)


def test_same_content_makes_no_new_version_and_a_change_makes_the_next(
    tmp_path: Path, client: Client
) -> None:
    csv = write(tmp_path / "src" / "iris.csv", IRIS)
    first = loopml.data.add("iris", csv, client=client)
    again = loopml.data.add("iris", csv, client=client)
    assert not again.created
    assert again.version.version == first.version.version == 1
    write(csv, IRIS + "7.0,versicolor\n")
    changed = loopml.data.add("iris", csv, message="more rows", client=client)
    assert changed.created and changed.version.version == 2
    assert [v.version for v in loopml.data.log("iris", client=client)] == [1, 2]
    assert loopml.data.get("iris", client=client).version.message == "more rows"


def test_unchanged_files_of_a_folder_are_stored_once(tmp_path: Path, client: Client) -> None:
    folder = tmp_path / "src"
    write(folder / "big.bin", "x" * 10_000)
    write(folder / "sub" / "notes.txt", "v1")
    loopml.data.add("mixed", folder, client=client)
    before = blob_count(tmp_path)
    write(folder / "sub" / "notes.txt", "v2")
    second = loopml.data.add("mixed", folder, client=client).version
    # only the changed file and the new tree are new; big.bin's blob is shared
    assert blob_count(tmp_path) == before + 2
    assert second.profiles_digest is None  # no tables in it
    files = {f.path: f for f in loopml.data.get("mixed@2", client=client).files()}
    first_files = {f.path: f for f in loopml.data.get("mixed@1", client=client).files()}
    assert set(files) == {"big.bin", "sub/notes.txt"}
    assert files["big.bin"].digest == first_files["big.bin"].digest
    assert files["sub/notes.txt"].digest != first_files["sub/notes.txt"].digest


def test_path_materialises_the_original_bytes_once(
    tmp_path: Path, client: Client, cache: Path
) -> None:
    folder = tmp_path / "src"
    write(folder / "train.csv", IRIS)
    write(folder / "docs" / "README.md", "# iris\n")
    loopml.data.add("iris", folder, client=client)
    handle = loopml.data.get("iris@1", client=client, cache_dir=cache)
    local = handle.path()
    assert local.parent == cache
    assert (local / "train.csv").read_text(encoding="utf-8") == IRIS
    assert (local / "docs" / "README.md").read_text(encoding="utf-8") == "# iris\n"
    assert handle.path() == local
    assert [p.name for p in cache.iterdir()] == [local.name]  # no temp folders left


def test_to_arrow_round_trips_a_table(tmp_path: Path, client: Client, cache: Path) -> None:
    csv = write(tmp_path / "src" / "iris.csv", IRIS)
    loopml.data.add("iris", csv, client=client)
    table = loopml.data.get("iris@latest", client=client, cache_dir=cache).to_arrow()
    assert table.num_rows == 3
    assert table.column("species").to_pylist() == ["setosa", "setosa", "virginica"]
    assert isinstance(table, pa.Table)


def test_to_arrow_asks_which_table_when_there_are_several(
    tmp_path: Path, client: Client, cache: Path
) -> None:
    write(tmp_path / "src" / "a.csv", IRIS)
    write(tmp_path / "src" / "b.csv", "x\n1\n2\n")
    loopml.data.add("two", tmp_path / "src", client=client)
    handle = loopml.data.get("two", client=client, cache_dir=cache)
    with pytest.raises(InvalidInputError, match=r"to_arrow\(path='a.csv'\)"):
        handle.to_arrow()
    assert handle.to_arrow(path="b.csv").column("x").to_pylist() == [1, 2]


def test_a_malformed_csv_names_file_and_line_and_makes_no_version(
    tmp_path: Path, client: Client
) -> None:
    bad = write(tmp_path / "src" / "bad.csv", "a,b\n1,2\n3,4,5\n")
    with pytest.raises(TableFormatError, match=r"bad\.csv.*line 3"):
        loopml.data.add("broken", bad, client=client)
    assert loopml.data.list_datasets(client=client) == []
    with pytest.raises(NotFoundError, match="broken"):
        loopml.data.log("broken", client=client)


def test_an_unknown_version_is_not_found_and_lists_the_versions(
    tmp_path: Path, client: Client
) -> None:
    csv = write(tmp_path / "src" / "iris.csv", IRIS)
    loopml.data.add("iris", csv, client=client)
    with pytest.raises(NotFoundError, match=r"(?s)iris.*7.*1"):
        loopml.data.get("iris@7", client=client)


def test_remove_deletes_one_version_or_the_dataset(tmp_path: Path, client: Client) -> None:
    csv = write(tmp_path / "src" / "iris.csv", IRIS)
    loopml.data.add("iris", csv, client=client)
    write(csv, IRIS + "7.0,versicolor\n")
    loopml.data.add("iris", csv, client=client)
    loopml.data.remove("iris", 1, client=client)
    assert [v.version for v in loopml.data.log("iris", client=client)] == [2]
    loopml.data.remove("iris", client=client)
    assert loopml.data.list_datasets(client=client) == []


def test_use_dataset_records_the_lineage_edge(tmp_path: Path, client: Client) -> None:
    csv = write(tmp_path / "src" / "iris.csv", IRIS)
    loopml.data.add("iris", csv, client=client)
    run = ActiveRun(client, client.create_run("train", capture_system_info=False))
    with run:
        used = run.use_dataset("iris@1")
        latest = run.use_dataset("iris")  # pinned to the same version: recorded once
    assert used == latest
    edges = client.metadata.list_dataset_inputs(run_id=run.id)
    assert [(e.run_id, e.dataset, e.version) for e in edges] == [(run.id, "iris", 1)]


@pytest.mark.parametrize("text", ["", "@3", "iris@", "iris@0", "iris@-1", "iris@x", "a@1@2"])
def test_bad_dataset_references_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError, match=r"dataset reference|dataset name"):
        parse_dataset_ref(text)


def test_dataset_references_parse() -> None:
    assert parse_dataset_ref("iris") == ("iris", None)
    assert parse_dataset_ref("iris@LATEST") == ("iris", None)
    assert parse_dataset_ref("iris@12") == ("iris", 12)


def test_the_schema_inferred_from_a_version_accepts_a_held_out_batch_of_the_same_data(
    tmp_path: Path, client: Client
) -> None:
    from loopml.cli.quickstart_data import write_example_data

    files = write_example_data(tmp_path)  # the quickstart's data: training rows and a holdout
    loopml.data.add("cancer", files.train, client=client)
    handle = loopml.data.get("cancer@1", client=client)
    [report] = loopml.data.validate_files(files.holdout, reference=handle)
    assert report.ok, report.render_text()
    radius = handle.schema().column("mean_radius")
    assert radius.min == 0.0 and radius.max is not None and radius.max > 28.11  # widened
