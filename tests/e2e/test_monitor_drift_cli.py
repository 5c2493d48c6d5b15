"""``loopml monitor drift`` as a user runs it, on a real public table: the raw Palmer penguins
(``palmerpenguins``' ``penguins-raw.csv``: string categoricals, free-text comments, ids,
dates, missing values), against files, dataset versions and a model's training data."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from importlib import resources
from pathlib import Path

import pytest
from sklearn.dummy import DummyClassifier

import loopml
from loopml.core.config import init_project
from loopml.tracking.client import Client
from tests.e2e.runner import cli


def expect(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Slices of the raw table: by species (Adelie vs Gentoo: known drift), alternate rows
    (two halves of one distribution), and by year (2007–2008 vs 2009)."""
    shipped = resources.files("palmerpenguins").joinpath("data", "penguins-raw.csv")
    header, *rows = list(csv.reader(io.StringIO(shipped.read_text(encoding="utf-8"))))
    species, date = header.index("Species"), header.index("Date Egg")
    folder = tmp_path_factory.mktemp("penguins")
    slices = {
        "adelie": [r for r in rows if r[species].startswith("Adelie")],
        "gentoo": [r for r in rows if r[species].startswith("Gentoo")],
        "even": rows[0::2],
        "odd": rows[1::2],
        "earlier": [r for r in rows if r[date] < "2009"],
        "later": [r for r in rows if r[date] >= "2009"],
    }
    found = {}
    for name, chosen in slices.items():
        found[name] = folder / f"{name}.csv"
        with found[name].open("w", newline="", encoding="utf-8") as stream:
            csv.writer(stream).writerows([header, *chosen])
    return found


def test_another_species_drifts_with_every_kind_of_column_handled(
    penguins: dict[str, Path], tmp_path: Path
) -> None:
    report_file = tmp_path / "drift.html"
    args = ["-r", str(penguins["adelie"]), "-c", str(penguins["gentoo"])]
    out = expect(cli("monitor", "drift", *args, "--json", "--html", str(report_file),
                     cwd=tmp_path), 1)  # fmt: skip
    report = json.loads(out)
    by_name = {c["column"]: c for c in report["features"]}
    assert report["drifted"] and report["dataset_drifted"]
    assert (
        by_name["Culmen Depth (mm)"]["drifted"] and by_name["Culmen Depth (mm)"]["method"] == "ks"
    )
    assert by_name["Island"]["method"] == "chi_square" and by_name["Island"]["drifted"]
    assert by_name["Date Egg"]["kind"] == "datetime"
    assert by_name["Sex"]["reference_missing"] > 0  # NA / missing sexes are counted
    assert by_name["Delta 15 N (o/oo)"]["reference_missing"] > 0
    assert by_name["Individual ID"]["kind"] == "text"  # an id: free text, not tested
    assert by_name["Individual ID"]["method"] is None
    assert by_name["Comments"]["current_missing"] > 0
    assert by_name["Culmen Depth (mm)"]["bins"]["edges"]  # the JSON carries the plot's bins

    page = report_file.read_text(encoding="utf-8")
    plotted = [c for c in report["features"] if c.get("bins")]
    assert page.count("<svg") == len(plotted) > 10
    assert "<script" not in page and "<link" not in page  # one offline file
    assert re.findall(r"https?://[^'\"]+", page) == ["http://www.w3.org/2000/svg"] * len(plotted)


def test_two_halves_of_one_table_do_not_drift(penguins: dict[str, Path], tmp_path: Path) -> None:
    out = expect(cli("monitor", "drift", "-r", str(penguins["even"]), "-c", str(penguins["odd"]),
                     cwd=tmp_path), 0)  # fmt: skip
    assert "Dataset: no drift" in out


def test_references_from_a_dataset_version_and_a_models_training_data(
    penguins: dict[str, Path], tmp_path: Path
) -> None:
    config = init_project(tmp_path)
    expect(cli("data", "add", "penguins", str(penguins["earlier"]), cwd=tmp_path), 0)
    with Client(config=config, create=False) as client:
        with loopml.start_run("train", client=client) as run:
            run.use_dataset("penguins@1")
            model = DummyClassifier().fit([[0.0], [1.0]], [0, 1])
            loopml.models.register("peng", model, input_example=[[0.0]], run=run, client=client)
        loopml.models.register("peng", model, input_example=[[0.0]], client=client)  # no run
        stored = loopml.data.get("penguins@1", client=client).profiles()["earlier.csv"]
    later = str(penguins["later"])

    by_version = json.loads(cli("monitor", "drift", "-r", "penguins@1", "-c", later, "--json",
                                cwd=tmp_path).stdout)  # fmt: skip
    assert by_version["reference"] == "penguins@1"
    mass = next(c for c in by_version["features"] if c["column"] == "Body Mass (g)")
    assert mass["bins"]["edges"] == stored.column("Body Mass (g)").histogram.edges  # stored bins

    by_model = json.loads(cli("monitor", "drift", "-r", "models:/peng@1", "-c", later, "--json",
                              cwd=tmp_path).stdout)  # fmt: skip
    assert by_model["reference"] == "models:/peng@1 → penguins@1"
    assert by_model["features"] == by_version["features"]

    no_lineage = cli("monitor", "drift", "-r", "models:/peng@2", "-c", later, cwd=tmp_path)
    assert no_lineage.returncode == 2 and "peng@2 names no dataset version" in no_lineage.stderr
    unknown = cli("monitor", "drift", "-r", "penguins@7", "-c", later, cwd=tmp_path)
    assert unknown.returncode == 2 and "penguins@7" in unknown.stderr
    bare_model = cli("monitor", "drift", "-r", "peng@1", "-c", later, cwd=tmp_path)
    assert bare_model.returncode == 2 and "write models:/peng@1" in bare_model.stderr


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--columns", "Beak Colour"], "has no column 'Beak Colour'"),
        (["--method", "t_test"], "Unknown drift method 't_test'"),
        (["--threshold", "wasserstein"], "write METHOD=VALUE"),
        (["--correction", "holm"], "Unknown correction 'holm'"),
        (["--html", "report.txt"], "give a file ending in .html"),
    ],
)
def test_bad_options_exit_2_naming_what_is_wrong(
    penguins: dict[str, Path], tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["-r", str(penguins["adelie"]), "-c", str(penguins["gentoo"]), *extra]
    result = cli("monitor", "drift", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_unreadable_and_mismatched_tables_exit_2(penguins: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really parquet")
    result = cli("monitor", "drift", "-r", str(penguins["adelie"]), "-c", str(broken),
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2 and "broken.parquet: not a readable Parquet file" in result.stderr
    missing = cli("monitor", "drift", "-r", "nowhere.csv", "-c", str(broken), cwd=tmp_path)
    assert missing.returncode == 2 and "nowhere.csv: no such file" in missing.stderr
    retyped = tmp_path / "retyped.csv"
    retyped.write_text("Body Mass (g)\nheavy\nlight\n", encoding="utf-8")
    result = cli("monitor", "drift", "-r", str(penguins["adelie"]), "-c", str(retyped),
                 "--columns", "Body Mass (g)", "--json", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "invalid_input" and "'Body Mass (g)' is int64" in error["message"]
    assert not (tmp_path / ".loopml").exists()  # files alone need no project
