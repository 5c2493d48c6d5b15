"""A real run for the run page's tests, built with the library on sklearn's iris table: params,
a metric with a few hundred steps (a spike in it), tags, a child run (a trial), and artifacts
of every kind the page previews (text, a long text, PNG, SVG, CSV, JSON, Parquet, a binary).
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.datasets import load_iris

from loopml.core.entities import RunStatus
from loopml.tracking import Client

STEPS = 300
SPIKE_STEP = 123
LONG_TEXT_LINES = 20_000  # ~ 400 KiB: more than a preview shows
PARQUET_ROWS = 150  # iris: more rows than a preview shows


@dataclass(frozen=True)
class RunPageData:
    run_id: str
    child_id: str
    experiment: str


def png(width: int = 8, height: int = 8) -> bytes:
    """A small valid PNG: a red-to-blue gradient (RGB, 8 bits)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes((255 * x // width, 0, 255 * y // height)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write_files(folder: Path) -> Path:
    """The artifacts, in ``folder/files`` (logged as the folder ``files``)."""
    files = folder / "files"
    (files / "plots").mkdir(parents=True)
    (files / "tables").mkdir()
    iris = load_iris(as_frame=True).frame
    iris["species"] = load_iris().target_names[iris["target"]]
    iris.loc[3, "sepal length (cm)"] = None  # a missing value
    (files / "notes.txt").write_text("Trained on iris.\n<script>alert('x')</script>\n")
    (files / "train.log").write_text(
        "".join(f"line {n:05d} of the training log\n" for n in range(LONG_TEXT_LINES))
    )
    (files / "plots" / "curve.png").write_bytes(png())
    (files / "plots" / "shape.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20">'
        '<script>alert(1)</script><rect width="20" height="20" fill="teal"/></svg>'
    )
    iris.to_csv(files / "tables" / "iris.csv", index=False)
    table = pa.Table.from_pandas(iris, preserve_index=False)
    pq.write_table(table, files / "tables" / "iris.parquet")
    (files / "tables" / "summary.json").write_text(
        json.dumps([{"species": s, "rows": 50} for s in ("setosa", "versicolor", "virginica")])
    )
    (files / "model.bin").write_bytes(bytes(range(256)) * 4)
    return files


def build(folder: Path) -> RunPageData:
    """The run (and its child) in the project at ``folder`` (``loopml.db`` + ``artifacts``)."""
    files = write_files(folder / "inputs")
    with Client(f"sqlite:///{folder / 'loopml.db'}", str(folder / "artifacts")) as client:
        run = client.create_run("iris", name="train-iris")
        client.log_params(run.id, {"max_depth": 4, "criterion": "gini"})
        for step in range(STEPS):
            loss = 1_000.0 if step == SPIKE_STEP else 1.0 / (1 + step)
            client.log_metrics(run.id, {"loss": loss, "accuracy": step / STEPS}, step=step)
        client.set_tag(run.id, "team", "vision")
        client.log_artifact(run.id, files)
        child = client.create_run("iris", name="trial-0", parent_run_id=run.id)
        client.log_metric(child.id, "loss", 0.5)
        client.set_terminated(child.id, RunStatus.FINISHED)
        client.set_terminated(run.id, RunStatus.FINISHED)
        return RunPageData(run.id, child.id, "iris")
