"""What the data and pipelines pages are tested on: the Palmer penguins (the CSV inside the
installed ``palmerpenguins`` package: string categoricals, missing values) as two versions of
one dataset, and a three-step pipeline over it run twice (its middle step cached the second
time, when only the last step's param changed). Used by the in-process and the browser tests:
the browser test writes ``PIPELINE_SOURCE`` into a project for ``loopml pipeline run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.test_real_table import penguins_rows, write_csv

DATASET = "penguins"
STEPS = ("dataset_version", "measure", "report")
PIPELINE_SOURCE = """
from typing import Any

import loopml
from loopml.core.entities import DatasetVersion
from loopml.pipelines import dataset_version


@loopml.step
def measure(version: DatasetVersion) -> dict[str, Any]:
    table = loopml.data.get(f"{version.dataset}@{version.version}").to_arrow()
    masses = [m for m in table.column("body_mass_g").to_pylist() if m is not None]
    print(f"measured {table.num_rows} penguins <b>not bold</b>")
    return {"rows": table.num_rows, "mean_mass": sum(masses) / len(masses)}


@loopml.step
def report(stats: dict[str, Any], *, digits: int = 1) -> str:
    if digits < 0:
        raise ValueError(f"digits must be 0 or more, not {digits}")
    print("mean body mass", round(stats["mean_mass"], digits))
    return f"{stats['rows']} rows"


@loopml.pipeline
def penguin_summary(data: str = "penguins@latest", digits: int = 1) -> str:
    return report(measure(dataset_version(ref=data)), digits=digits)
"""


def write_versions(folder: Path) -> tuple[Path, Path]:
    """The two CSVs (same file name, so a diff compares them as one table): the years
    2007–2008, then all three years (2009 added)."""
    header, rows = penguins_rows()
    year = header.index("year")
    (folder / "early").mkdir(parents=True, exist_ok=True)
    (folder / "all").mkdir(parents=True, exist_ok=True)
    early = [row for row in rows if row[year] < "2009"]
    return (
        write_csv(folder / "early" / "penguins.csv", header, early),
        write_csv(folder / "all" / "penguins.csv", header, rows),
    )


def pipeline_module(folder: Path, name: str = "penguin_flows") -> Any:
    """``PIPELINE_SOURCE`` written as ``folder/name.py`` and imported (steps hash their
    source, so they must live in a real file)."""
    import importlib.util

    path = folder / f"{name}.py"
    path.write_text(PIPELINE_SOURCE, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
