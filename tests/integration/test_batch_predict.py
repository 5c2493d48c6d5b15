"""Batch scoring over a real embedded store with real registered scikit-learn models: CSV and
Parquet in and out, a file or a folder, outputs equal to the model's own predictions in input
order, the scoring recorded as a run with its lineage, bad input refused with nothing written,
and the Ray executor on a real local Ray runtime giving the same file as scoring here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml.data
import loopml.models
from loopml.core.entities import RunStatus
from loopml.core.errors import InvalidInputError, TableFormatError
from loopml.serving.batch import score
from loopml.tracking.client import Client

X, Y = load_breast_cancer(return_X_y=True)
NAMES = [f"f{i}" for i in range(X.shape[1])]
SITES = np.array(["north", "south", "east"])[np.arange(len(X)) % 3]


def table(rows: slice = slice(None), *, site: bool = False) -> pa.Table:
    columns: dict[str, Any] = {name: X[rows, i] for i, name in enumerate(NAMES)}
    if site:
        columns["site"] = SITES[rows]
    return pa.table(columns)


def cancer(client: Client) -> Any:
    """A LogisticRegression on numpy arrays (a tensor signature), registered as cancer@1."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, Y)
    loopml.models.register("cancer", model, input_example=X[:5], client=client)
    return model


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_parquet_file_is_scored_in_order_like_the_model_predicts(
    client: Client, tmp_path: Path
) -> None:
    model = cancer(client)
    source = tmp_path / "rows.parquet"
    pq.write_table(table(), source, row_group_size=100)  # several row groups and batches
    seen: list[tuple[int, int | None]] = []
    result = score(
        "cancer@1",
        source,
        tmp_path / "scores.parquet",
        batch_rows=64,
        on_progress=lambda done, total: seen.append((done, total)),
        client=client,
    )
    out = pq.read_table(tmp_path / "scores.parquet")
    assert out.column_names == ["prediction", "probability_0", "probability_1"]
    assert result.columns == tuple(out.column_names) and result.rows == len(X) == out.num_rows
    assert np.array_equal(out["prediction"].to_numpy(), model.predict(X))
    probabilities = model.predict_proba(X)
    assert np.allclose(out["probability_0"].to_numpy(), probabilities[:, 0])
    assert np.allclose(out["probability_1"].to_numpy(), probabilities[:, 1])
    assert seen[-1] == (len(X), len(X)) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert (result.model, result.variant, result.format) == ("cancer@1", "native", "parquet")
    assert leftovers(tmp_path) == []


def test_a_folder_of_csv_files_is_scored_file_by_file_in_path_order(
    client: Client, tmp_path: Path
) -> None:
    model = cancer(client)
    folder = tmp_path / "exports"
    (folder / "b").mkdir(parents=True)
    pieces = [
        ("a-0.csv", slice(0, 200)),
        ("a-1.csv", slice(200, 400)),
        ("b/c.csv", slice(400, None)),
    ]
    for name, rows in pieces:
        pa_csv.write_csv(table(rows), folder / name)
    (folder / "README.txt").write_text("not a table", encoding="utf-8")
    result = score("cancer", folder, tmp_path / "scores.csv", batch_rows=50, client=client)
    out = pa_csv.read_csv(tmp_path / "scores.csv")
    assert result.rows == len(X) and result.format == "csv"
    assert np.array_equal(out["prediction"].to_numpy(), model.predict(X))
    assert np.allclose(out["probability_1"].to_numpy(), model.predict_proba(X)[:, 1])


def test_a_dataframe_model_takes_its_columns_by_name_and_keeps_the_input_columns(
    client: Client, tmp_path: Path
) -> None:
    frame = table(site=True).to_pandas()
    chosen = ["f3", "f0", "f7", "f21"]
    model = LogisticRegression(max_iter=2000).fit(frame[chosen], Y)
    loopml.models.register("framed", model, input_example=frame[chosen].head(5), client=client)
    assert loopml.models.get("framed@1", client=client).signature["inputs"]["kind"] == "columns"
    source = tmp_path / "rows.parquet"
    pq.write_table(table(site=True), source, row_group_size=128)
    result = score("framed@1", source, tmp_path / "out.parquet", keep_columns=True, client=client)
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column_names == [*NAMES, "site", "prediction", "probability_0", "probability_1"]
    assert out.select([*NAMES, "site"]).equals(table(site=True))
    assert np.array_equal(out["prediction"].to_numpy(), model.predict(frame[chosen]))
    assert result.columns == tuple(out.column_names)


def test_an_onnx_variant_is_preferred_and_its_classes_name_the_probabilities(
    client: Client, tmp_path: Path
) -> None:
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, Y)
    loopml.models.register("forest", forest, input_example=X[:50], onnx=True, client=client)
    source = tmp_path / "rows.csv"
    pa_csv.write_csv(table(), source)

    result = score("forest@1", source, tmp_path / "onnx.parquet", client=client)
    out = pq.read_table(tmp_path / "onnx.parquet")
    onnx_model = loopml.models.load("forest@1", variant="onnx", client=client)
    assert result.variant == "onnx"
    assert out.column_names == ["prediction", "probability_0", "probability_1"]
    assert np.array_equal(out["prediction"].to_numpy(), onnx_model.predict(X))
    assert np.allclose(out["probability_1"].to_numpy(), onnx_model.predict_proba(X)[:, 1])

    native = score("forest@1", source, tmp_path / "native.parquet", prefer_onnx=False,
                   client=client)  # fmt: skip
    assert native.variant == "native"
    out = pq.read_table(tmp_path / "native.parquet")
    assert np.array_equal(out["prediction"].to_numpy(), forest.predict(X))
    assert np.allclose(out["probability_1"].to_numpy(), forest.predict_proba(X)[:, 1])


def test_the_scoring_is_a_run_with_the_model_version_and_the_dataset_version_it_read(
    client: Client, tmp_path: Path
) -> None:
    cancer(client)
    loopml.models.set_alias("cancer", "champion", 1, client=client)
    folder = tmp_path / "holdout"
    folder.mkdir()
    pq.write_table(table(slice(0, 300)), folder / "part-0.parquet")
    pq.write_table(table(slice(300, None)), folder / "part-1.parquet")
    loopml.data.add("bc", folder, client=client)

    result = score("cancer@champion", "bc@latest", tmp_path / "scores.parquet", client=client)
    assert result.dataset == "bc@1" and result.input == "bc@1"
    run = client.get_run(result.run_id)
    assert run.status is RunStatus.FINISHED
    assert client.get_experiment(run.experiment_id).name == "batch-scoring"
    assert run.params["model"] == "cancer@1" and run.params["model_ref"] == "cancer@champion"
    assert run.params["input"] == "bc@1" and run.params["rows"] == str(len(X))
    assert run.params["output"] == str(tmp_path / "scores.parquet")
    assert run.params["output_digest"].startswith("blake3:")
    assert run.metrics["rows"] == len(X) and run.metrics["rows_per_second"] > 0
    version = loopml.models.get("cancer@1", client=client)
    assert run.tags["loopml.model"] == "cancer" and run.tags["loopml.model_version"] == "1"
    assert run.tags["loopml.model_digest"] == version.tree_digest
    edges = client.metadata.list_dataset_inputs(run_id=run.id)
    assert [(e.dataset, e.version) for e in edges] == [("bc", 1)]
    (edge,) = client.metadata.list_artifact_edges(run_id=run.id)
    assert (edge.direction, edge.digest, edge.name) == ("input", version.tree_digest, "model")


def test_bad_input_is_refused_and_nothing_is_written(client: Client, tmp_path: Path) -> None:
    cancer(client)
    frame = table().to_pandas()
    model = LogisticRegression(max_iter=2000).fit(frame[["f0", "f1"]], Y)
    loopml.models.register("framed", model, input_example=frame[["f0", "f1"]].head(3),
                           client=client)  # fmt: skip
    out = tmp_path / "out" / "scores.parquet"
    out.parent.mkdir()
    with pytest.raises(TableFormatError, match=r"missing\.csv: no such file or folder"):
        score("cancer@1", tmp_path / "missing.csv", out, client=client)

    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(table(slice(0, 100)), folder / "a.parquet")
    pq.write_table(table(slice(100, 200)).drop_columns(["f1"]), folder / "b.parquet")
    with pytest.raises(InvalidInputError, match=r"b\.parquet has no column 'f1'"):
        score("framed@1", folder, out, client=client)

    with pytest.raises(InvalidInputError, match=r"cannot tell the output format"):
        score("cancer@1", folder / "a.parquet", tmp_path / "scores.txt", client=client)

    pq.write_table(table(site=True).rename_columns([*NAMES, "prediction"]), tmp_path / "p.parquet")
    with pytest.raises(InvalidInputError, match=r"has a column 'prediction'"):
        score("cancer@1", tmp_path / "p.parquet", out, keep_columns=True, client=client)
    assert list(client.search_runs()) == []  # refused before a run was started

    broken = tmp_path / "broken"
    broken.mkdir()
    pa_csv.write_csv(table(slice(0, 300)), broken / "1.csv")
    rows = table(slice(300, None)).to_pandas()
    rows.loc[rows.index[5], "f2"] = np.nan  # the model cannot score a missing value
    pa_csv.write_csv(pa.Table.from_pandas(rows, preserve_index=False), broken / "2.csv")
    with pytest.raises(InvalidInputError, match=r"2\.csv: row 6, column 'f2': a missing value"):
        score("cancer@1", broken, out, batch_rows=1000, client=client)
    (failed,) = client.search_runs()
    assert failed.status is RunStatus.FAILED
    assert list(out.parent.iterdir()) == []  # no output, no temporary file


def test_the_features_option_names_an_array_models_columns(client: Client, tmp_path: Path) -> None:
    model = cancer(client)
    source = tmp_path / "rows.parquet"
    with_id = table().append_column("id", pa.array(np.arange(len(X))))
    pq.write_table(with_id, source)
    with pytest.raises(InvalidInputError, match=r"takes \[30\] features per row but .* gives 31"):
        score("cancer@1", source, tmp_path / "a.parquet", client=client)
    score("cancer@1", source, tmp_path / "a.parquet", features=NAMES, keep_columns=True,
          client=client)  # fmt: skip
    out = pq.read_table(tmp_path / "a.parquet")
    assert out["id"].to_pylist() == list(range(len(X)))
    assert np.array_equal(out["prediction"].to_numpy(), model.predict(X))


@pytest.mark.usefixtures("ray_runtime")
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_ray_scores_parts_in_parallel_into_the_same_file_as_scoring_here(
    client: Client, tmp_path: Path, suffix: str
) -> None:
    """Parquet: row groups are the parts; CSV: files are."""
    cancer(client)
    folder = tmp_path / "rows"
    folder.mkdir()
    for name, rows in (("a", slice(0, 250)), ("b", slice(250, 400)), ("c", slice(400, None))):
        if suffix == ".parquet":
            pq.write_table(table(rows, site=True), folder / f"{name}.parquet", row_group_size=60)
        else:
            pa_csv.write_csv(table(rows, site=True), folder / f"{name}.csv")
    options: dict[str, Any] = {"batch_rows": 40, "keep_columns": True, "client": client}
    here = score("cancer@1", folder, tmp_path / f"here{suffix}", **options)
    on_ray = score("cancer@1", folder, tmp_path / f"ray{suffix}", executor="ray", **options)
    assert on_ray.rows == here.rows == len(X) and on_ray.columns == here.columns
    if suffix == ".parquet":  # the same table (its row groups are cut elsewhere)
        assert pq.read_table(tmp_path / "ray.parquet").equals(
            pq.read_table(tmp_path / "here.parquet")
        )
    else:  # the same bytes: one header, then the parts in order
        assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "here.csv").read_bytes()
    assert client.get_run(on_ray.run_id).tags["loopml.executor"] == "ray"
    assert leftovers(tmp_path) == []


def test_string_class_labels_name_the_probability_columns(client: Client, tmp_path: Path) -> None:
    labels = np.array(["benign", "malignant"])[Y]
    model = LogisticRegression(max_iter=5000).fit(X[:, :4], labels)
    loopml.models.register("named", model, input_example=X[:3, :4], client=client)
    source = tmp_path / "rows.parquet"
    pq.write_table(table().select(NAMES[:4]), source)
    score("named@1", source, tmp_path / "out.parquet", client=client)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == ["prediction", "probability_benign", "probability_malignant"]
    assert (out["prediction"].to_numpy() == model.predict(X[:, :4])).all()


@pytest.mark.usefixtures("ray_runtime")
def test_a_ray_task_that_fails_fails_the_scoring_with_its_error_and_leaves_nothing(
    client: Client, tmp_path: Path
) -> None:
    cancer(client)
    folder = tmp_path / "rows"
    folder.mkdir()
    pa_csv.write_csv(table(slice(0, 300)), folder / "1.csv")
    rows = table(slice(300, None)).to_pandas()
    rows.loc[rows.index[7], "f4"] = np.nan
    pa_csv.write_csv(pa.Table.from_pandas(rows, preserve_index=False), folder / "2.csv")
    out = tmp_path / "out" / "scores.parquet"
    out.parent.mkdir()
    with pytest.raises(InvalidInputError, match=r"2\.csv: row 8, column 'f4': a missing value"):
        score("cancer@1", folder, out, executor="ray", client=client)
    assert list(out.parent.iterdir()) == []
    (failed,) = client.search_runs()
    assert failed.status is RunStatus.FAILED
