"""Batch scoring (``loopml predict``): a registered model version over a CSV / Parquet file,
a folder of them or a dataset version, streamed in record batches into one Parquet or CSV
file, and recorded as a run with its lineage.

Memory stays bounded by the batch, not the input: batches are read (Parquet column by column
through a small buffer, CSV with :func:`loopml.data.tables.read_batches`), turned into what
the model takes (:func:`loopml.models.inputs.to_model_input`), scored on as many threads as
there are CPUs (the model, Arrow and ONNX Runtime release the GIL) and appended to the output
in input order. The output is written beside its final path and renamed
into place at the end, so a failure leaves nothing there. ``executor="ray"`` scores parts of
the input (files, Parquet row groups) as Ray tasks and joins their parts in input order.

>>> result = score("churn@champion", "customers.parquet", "scores.parquet")  # doctest: +SKIP
>>> result.rows, result.run_id  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.entities import ModelVersion
from loopml.core.errors import (
    InvalidInputError,
    LoopMLError,
    error_from_code,
)
from loopml.core.hashing import Digest
from loopml.models.inputs import to_model_input
from loopml.models.onnx import OnnxModel
from loopml.models.registry import (
    MODEL_FOLDER,
    ONNX_FOLDER,
    OpenedVersion,
    open_preferred,
    open_version,
    resolve,
)
from loopml.serving.batch_input import FORMATS, BatchInput, Unit, open_input, read_unit
from loopml.serving.batch_output import Writer, atomic, file_digest, output_columns
from loopml.tracking.active_run import ActiveRun
from loopml.tracking.client import Client, client_scope

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEFAULT_BATCH_ROWS", "EXPERIMENT", "BatchResult", "output_format", "score"]

DEFAULT_BATCH_ROWS = 65_536
EXPERIMENT = "batch-scoring"
EXECUTORS = ("local", "ray")
PREDICTION = "prediction"
PROBABILITY = "probability_"

Progress = Callable[[int, int | None], None]  # (rows scored, total rows or None if unknown)


@dataclass(frozen=True)
class BatchResult:
    """What one scoring wrote: the version (``NAME@N``) and variant used, rows, time, the
    output file and the run that records it."""

    model: str
    variant: str
    input: str
    dataset: str | None
    output: Path
    format: str
    rows: int
    seconds: float
    run_id: str
    columns: tuple[str, ...] = field(default=())

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "variant": self.variant,
            "input": self.input,
            "dataset": self.dataset,
            "output": str(self.output),
            "format": self.format,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "run_id": self.run_id,
            "columns": list(self.columns),
        }


def output_format(output: str | os.PathLike[str], given: str | None = None) -> str:
    """``"parquet"`` or ``"csv"``: ``given``, else from the output's suffix."""
    if given is not None:
        if given not in ("parquet", "csv"):
            raise InvalidInputError(f"The output format must be parquet or csv. Got {given!r}.")
        return given
    found = FORMATS.get(Path(output).suffix.lower())
    if found is None:
        raise InvalidInputError(
            f"{output}: cannot tell the output format from the suffix; name the file .parquet "
            "or .csv, or pass the format (--format parquet|csv)."
        )
    return found


def score(
    ref: str,
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    format: str | None = None,
    keep_columns: bool = False,
    features: Sequence[str] | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    prefer_onnx: bool = True,
    trust_code: bool = False,
    on_progress: Progress | None = None,
    client: Client | None = None,
) -> BatchResult:
    """Score ``input`` (a CSV / Parquet file, a folder of them, or a dataset version
    ``name@N``) with the version ``ref`` names and write ``output``; record it as a run in
    experiment ``batch-scoring``.

    Output columns: the input's (``keep_columns``), ``prediction``, and ``probability_<class>``
    for classifiers with ``predict_proba``. ``features`` names the columns an array model
    takes (default: every numeric column). The ONNX variant is used when the version has one,
    unless ``prefer_onnx`` is False. A version whose loading runs code it names loads only
    with ``trust_code`` (else UntrustedCodeError). Bad input (a missing file or column, an
    unknown format) raises InvalidInputError before anything is written.
    """
    fmt = output_format(output, format)
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InvalidInputError(f"batch_rows must be an int >= 1. Got {batch_rows!r} instead.")
    if executor not in EXECUTORS:
        raise InvalidInputError(
            f"Unknown executor {executor!r} for batch scoring. Allowed: {', '.join(EXECUTORS)}."
        )
    target = Path(output).resolve()
    if not target.parent.is_dir():
        raise InvalidInputError(f"{output}: the folder {target.parent} does not exist.")
    if target.is_dir():
        raise InvalidInputError(f"{output}: is a folder; give the output file's path.")
    with client_scope(client, create=False) as active:
        version = resolve(ref, active)
        source = open_input(input, active, output=target)
        scorer = _Scorer.open(version, active, prefer_onnx, features, keep_columns, trust_code)
        scorer.check(source)
        tags = {
            "loopml.model": version.model,
            "loopml.model_version": str(version.version),
            "loopml.model_digest": version.tree_digest,
            "loopml.model_variant": scorer.variant,
            "loopml.executor": executor,
        }
        label = f"{version.model}@{version.version}"
        opened = active.create_run(EXPERIMENT, name=f"predict {label}", tags=tags)
        with ActiveRun(active, opened) as run:
            run.log_params(
                {
                    "model": label,
                    "model_ref": str(ref),
                    "input": source.text,
                    "output": str(target),
                    "format": fmt,
                    "batch_rows": batch_rows,
                    "keep_columns": keep_columns,
                }
            )
            if source.dataset is not None:
                run.use_dataset(source.dataset)
            active.metadata.add_artifact_edges(run.id, [("input", version.tree_digest, "model")])
            started = time.perf_counter()
            with atomic(target) as temporary:
                if executor == "ray":
                    job = _Job(
                        version,
                        scorer.variant,
                        scorer.features,
                        keep_columns,
                        batch_rows,
                        trust_code,
                    )
                    rows = _score_on_ray(
                        job, source, temporary, fmt, ray_address, active, on_progress
                    )
                else:
                    rows = _score_here(scorer, source, temporary, fmt, batch_rows, on_progress)
                if rows == 0:
                    raise InvalidInputError(f"{source.text}: has no rows; nothing to score.")
                digest = file_digest(temporary)
                columns = output_columns(temporary, fmt)
            seconds = time.perf_counter() - started
            run.log_params({"rows": rows, "output_digest": str(digest)})
            run.log_metrics(
                {"rows": rows, "seconds": seconds, "rows_per_second": rows / max(seconds, 1e-9)}
            )
    return BatchResult(
        model=label,
        variant=scorer.variant,
        input=source.text,
        dataset=source.dataset,
        output=target,
        format=fmt,
        rows=rows,
        seconds=seconds,
        run_id=run.id,
        columns=columns,
    )


# -- the model --------------------------------------------------------------------------------


class _Scorer:
    """A version's model (native or ONNX) turning input batches into output tables."""

    def __init__(
        self,
        version: ModelVersion,
        model: Any,
        variant: str,
        classes: list[Any] | None,
        features: Sequence[str] | None,
        keep_columns: bool,
    ) -> None:
        self.version = version
        self.model = model
        self.variant = variant
        self.classes = classes
        self.features = tuple(features) if features is not None else None
        self.keep_columns = keep_columns

    @classmethod
    def open(
        cls,
        version: ModelVersion,
        client: Client,
        prefer_onnx: bool,
        features: Sequence[str] | None,
        keep_columns: bool,
        trust_code: bool,
    ) -> _Scorer:
        opened = open_preferred(version, client, prefer_onnx=prefer_onnx, trust_code=trust_code)
        return cls.of_opened(opened, client, features, keep_columns)

    @classmethod
    def of_variant(
        cls,
        version: ModelVersion,
        client: Client,
        variant: str,
        features: Sequence[str] | None,
        keep_columns: bool,
        trust_code: bool,
    ) -> _Scorer:
        chosen = ONNX_FOLDER if variant == ONNX_FOLDER else None
        opened = open_version(version, client, variant=chosen, trust_code=trust_code)
        return cls.of_opened(opened, client, features, keep_columns)

    @classmethod
    def of_opened(
        cls,
        opened: OpenedVersion,
        client: Client,
        features: Sequence[str] | None,
        keep_columns: bool,
    ) -> _Scorer:
        classes = opened.classes
        if isinstance(opened.model, OnnxModel) and classes is None:  # older: from the graph
            folder = ONNX_FOLDER if opened.variant == ONNX_FOLDER else MODEL_FOLDER
            classes = _onnx_classes(opened.version, client, folder)
        return cls(opened.version, opened.model, opened.variant, classes, features, keep_columns)

    def check(self, source: BatchInput) -> None:
        """Refuse an input a file of which lacks a column the model takes (naming both), or
        whose kept columns would clash with the output's, before anything is written."""
        import pyarrow as pa

        for file, schema in zip(source.files, source.physical, strict=True):
            # not schema.empty_table(): it imports pandas whenever pandas is installed
            self.model_input(pa.Table.from_batches([], schema=schema), file)
        taken = {PREDICTION, *(f"{PROBABILITY}{c}" for c in self.classes or ())}
        clash = sorted(taken & set(source.schema.names)) if self.keep_columns else []
        if clash:
            raise InvalidInputError(
                f"{source.text}: has a column {clash[0]!r}, which the output adds; rename it "
                "or score without keeping the input columns."
            )

    def model_input(self, table: pa.Table, source: str, first_row: int = 1) -> Any:
        return to_model_input(
            self.version.signature,
            table,
            features=self.features,
            source=source,
            first_row=first_row,
        )

    def score(self, batch: pa.RecordBatch, source: str, first_row: int) -> pa.Table:
        """The output rows for ``batch`` (rows ``first_row``… of ``source``)."""
        import numpy as np
        import pyarrow as pa

        table = pa.Table.from_batches([batch])
        inputs = self.model_input(table, source, first_row + 1)  # counted from 1 in messages
        try:
            labels, probabilities = self._predict(inputs)
        except Exception as exc:
            last = first_row + batch.num_rows - 1
            raise InvalidInputError(
                f"{source}: rows {first_row}-{last}: {self.version.model}@"
                f"{self.version.version} could not score them: {type(exc).__name__}: {exc}"
            ) from exc
        columns: dict[str, Any] = dict(zip(table.column_names, table.columns, strict=True))
        if not self.keep_columns:
            columns = {}
        labels = np.asarray(labels)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim == 1:
            columns[PREDICTION] = _arrow_array(labels)
        else:
            for index in range(labels.shape[1]):
                columns[f"{PREDICTION}_{index}"] = _arrow_array(labels[:, index])
        if probabilities is not None:
            probabilities = np.asarray(probabilities)
            names = self.classes or list(range(probabilities.shape[1]))
            for index, name in enumerate(names):
                columns[f"{PROBABILITY}{name}"] = _arrow_array(probabilities[:, index])
        return pa.table(columns)

    def _predict(self, inputs: Any) -> tuple[Any, Any]:
        model = self.model
        if isinstance(model, OnnxModel):  # one session run gives labels and probabilities
            import numpy as np

            array = np.ascontiguousarray(np.asarray(inputs, dtype=np.float32))
            outputs = model.session.run(None, {model.input_name: array})
            scores = outputs[1] if len(outputs) > 1 else None
            if isinstance(scores, list):  # a list of {class: probability} maps
                scores = model.predict_proba(inputs)
            if scores is not None and np.ndim(scores) != 2:
                scores = None  # a second output that is not one row of scores per input row
            return outputs[0], scores
        labels = model.predict(inputs)
        if not hasattr(model, "predict_proba"):
            return labels, None
        return labels, model.predict_proba(inputs)


def _arrow_array(values: Any) -> Any:
    """A 1-D numpy array as an Arrow array: plain numbers straight from their buffer, since
    ``pa.array`` imports pandas whenever it is installed (half a second of a command's start);
    anything else through ``pa.array``."""
    import numpy as np
    import pyarrow as pa

    if values.dtype.kind in "iuf" and values.dtype.isnative:
        contiguous = np.ascontiguousarray(values)
        kind = pa.from_numpy_dtype(contiguous.dtype)
        return pa.Array.from_buffers(kind, len(contiguous), [None, pa.py_buffer(contiguous)])
    return pa.array(values)


def _onnx_classes(version: ModelVersion, client: Client, folder: str) -> list[Any] | None:
    """The class labels an ONNX classifier's graph records (the order of its probability
    columns), read from the version's stored ``folder/*.onnx``; None when there are none."""
    from loopml.stores.artifacts.trees import get_tree

    try:
        import onnx  # type: ignore[import-untyped,unused-ignore]
        from onnx import helper
    except ImportError:
        return None
    for entry in get_tree(client.artifacts, Digest.parse(version.tree_digest)):
        if entry.path.startswith(f"{folder}/") and entry.path.endswith(".onnx"):
            with client.artifacts.open(entry.digest) as reader:
                graph = onnx.load_from_string(reader.read()).graph
            for node in graph.node:
                for attribute in node.attribute:
                    if attribute.name.startswith("classlabels_"):
                        values = helper.get_attribute_value(attribute)
                        return [v.decode() if isinstance(v, bytes) else v for v in values]
    return None


# -- scoring here -----------------------------------------------------------------------------


def _score_units(
    scorer: _Scorer,
    units: Sequence[Unit],
    source: BatchInput,
    writer: Writer,
    batch_rows: int,
    *,
    workers: int = 1,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """Score ``units`` into ``writer`` in input order: this thread reads, ``workers`` threads
    score (the model, Arrow and ONNX Runtime release the GIL) and one thread writes, so the
    three overlap; at most ``workers + 2`` batches are held."""
    from concurrent.futures import Future, ThreadPoolExecutor

    rows = 0
    failed = False

    def write(scored: Future[pa.Table]) -> None:
        nonlocal rows, failed
        if failed:  # a batch before this one failed: nothing more is written
            return
        try:
            table = scored.result()
            writer.write(table)
        except BaseException:
            failed = True
            raise
        rows += table.num_rows
        if on_rows is not None:
            on_rows(rows)

    written: collections.deque[Future[None]] = collections.deque()
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loopml-score") as scoring,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="loopml-write") as writing,
    ):
        try:
            for unit in units:
                first = 0
                for batch in read_unit(unit, source.format, source.schema, batch_rows):
                    scored = scoring.submit(scorer.score, batch, unit.path, first)
                    written.append(writing.submit(write, scored))
                    first += batch.num_rows
                    while len(written) > workers + 1:
                        written.popleft().result()
            while written:
                written.popleft().result()
        finally:
            failed = failed or bool(written)
            for future in written:
                future.cancel()
    return rows


def _score_here(
    scorer: _Scorer,
    source: BatchInput,
    path: Path,
    fmt: str,
    batch_rows: int,
    on_progress: Progress | None,
) -> int:
    total = source.total_rows
    writer = Writer(path, fmt)
    report = None if on_progress is None else (lambda done: on_progress(done, total))
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        return _score_units(
            scorer,
            source.units(split=False),
            source,
            writer,
            batch_rows,
            workers=workers or 1,
            on_rows=report,
        )
    finally:
        writer.close()


# -- scoring on Ray ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """What a Ray task needs to score its part (small: no model, no data)."""

    version: ModelVersion
    variant: str
    features: Sequence[str] | None
    keep_columns: bool
    batch_rows: int
    trust_code: bool  # what the driver was told to trust, so every task decides the same


def _score_part(
    client: Client, job: _Job, source: BatchInput, units: list[Unit], part: str, fmt: str
) -> dict[str, Any]:
    """One Ray task: score ``units`` into the file ``part`` (CSV without its header, which
    comes back with the row count). Errors come back as their code and message, so that the
    driver raises the same class."""
    try:
        scorer = _Scorer.of_variant(
            job.version, client, job.variant, job.features, job.keep_columns, job.trust_code
        )
        writer = Writer(Path(part), fmt, header=False)
        try:
            rows = _score_units(scorer, units, source, writer, job.batch_rows)
        finally:
            writer.close()
        return {"rows": rows, "header": writer.csv_header()}
    except LoopMLError as exc:
        return exc.to_dict()


def _partitions(units: list[Unit], count: int) -> list[list[Unit]]:
    """``units`` in at most ``count`` runs of neighbours, about equal in rows (or units)."""
    weights = [unit.rows if unit.rows is not None else 1 for unit in units]
    total = sum(weights) or 1
    parts: list[list[Unit]] = [[]]
    done = 0
    for unit, weight in zip(units, weights, strict=True):
        if parts[-1] and done >= total * len(parts) / count:
            parts.append([])
        parts[-1].append(unit)
        done += weight
    return parts


def _score_on_ray(
    job: _Job,
    source: BatchInput,
    path: Path,
    fmt: str,
    ray_address: str | None,
    client: Client,
    on_progress: Progress | None,
) -> int:
    from loopml.pipelines.executors import open_executor

    total = source.total_rows
    folder = path.with_name(path.name + ".parts")
    folder.mkdir()
    try:
        with open_executor("ray", client, ray_address=ray_address) as executor:
            parts = _partitions(source.units(split=True), executor.capacity * 2)
            index = {}
            for number, units in enumerate(parts):
                name = str(folder / f"part-{number:05d}")
                ticket = executor.submit(_score_part, (job, source, units, name, fmt))
                index[ticket] = number
            written: dict[int, dict[str, Any]] = {}
            while len(written) < len(parts):
                for done in executor.wait():
                    value = done.value or {}
                    if done.error is not None:
                        raise LoopMLError(f"A batch-scoring Ray task failed: {done.error}")
                    if "error" in value:
                        raise error_from_code(value["error"]["code"], value["error"]["message"])
                    written[index[done.ticket]] = value
                if on_progress is not None:
                    on_progress(sum(int(v["rows"]) for v in written.values()), total)
        order = [(folder / f"part-{n:05d}", written[n]) for n in range(len(parts))]
        _join_parts([(part, value) for part, value in order if value["rows"]], path, fmt)
        return sum(int(value["rows"]) for _, value in order)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _join_parts(parts: list[tuple[Path, dict[str, Any]]], path: Path, fmt: str) -> None:
    """The parts that have rows, in order, as one file: Parquet row group by row group, CSV
    byte for byte after the header."""
    import pyarrow.parquet as pq

    if not parts:
        return
    if fmt == "csv":
        with path.open("wb") as out:
            out.write(parts[0][1]["header"])
            for part, _ in parts:
                with part.open("rb") as stream:
                    shutil.copyfileobj(stream, out, 1 << 20)
        return
    writer = Writer(path, fmt)
    try:
        for part, _ in parts:
            with pq.ParquetFile(part) as parquet:
                for group in range(parquet.num_row_groups):
                    writer.write(parquet.read_row_group(group))
    finally:
        writer.close()


# -- the output file --------------------------------------------------------------------------
