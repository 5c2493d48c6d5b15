"""Rendering for the CLI: Rich tables for people, strict JSON for scripts.

JSON goes to stdout with nothing else mixed in; NaN and ±inf become the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` so every document parses with a strict JSON parser.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeAlias

import typer

from loopml.core.entities import Experiment, Metric, Run, RunStatus
from loopml.core.ids import format_ms, now_ms
from loopml.core.redaction import redact_uri as core_redact_uri

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SYSTEM_TAG_PREFIX = "loopml."
STATUS_STYLES = {
    RunStatus.RUNNING: "cyan",
    RunStatus.FINISHED: "green",
    RunStatus.FAILED: "red",
    RunStatus.KILLED: "yellow",
}

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON to stdout (for scripts).")]
JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None


# consoles ----------------------------------------------------------------------------------
def console(*, stderr: bool = False, quiet: bool = False) -> Console:
    """A Rich console for human output (stdout unless ``stderr``)."""
    from rich.console import Console

    return Console(stderr=stderr, quiet=quiet, highlight=False)


def escape(text: object) -> str:
    """``text`` made safe to embed in Rich markup (brackets in paths, names and values)."""
    from rich.markup import escape as rich_escape

    return rich_escape(str(text))


def print_error(message: str) -> None:
    """An error for people: red on stderr, no traceback, never reflowed (carets stay put)."""
    from rich.text import Text

    console(stderr=True).print(Text(f"Error: {message}", style="red"), soft_wrap=True)


# JSON ---------------------------------------------------------------------------------------
def jsonable(value: object) -> JsonValue:
    """``value`` with non-finite floats spelled as strings, ready for a strict JSON encoder."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [jsonable(v) for v in value]
    return str(value)


@contextmanager
def stdout_to_stderr(active: bool = True) -> Iterator[None]:
    """Send everything written to stdout — by this process, the worker processes it starts
    and Ray's forwarded task output — to stderr in the block (at the file-descriptor level),
    so that stdout carries only the JSON printed after it."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def print_json(value: object) -> None:
    """Write one JSON document to stdout (strict: no NaN literals, no markup)."""
    text = json.dumps(jsonable(value), indent=2, allow_nan=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def experiment_to_dict(experiment: Experiment) -> dict[str, object]:
    return {
        "id": experiment.id,
        "name": experiment.name,
        "created_at": experiment.created_at,
        "created": format_ms(experiment.created_at),
        "tags": dict(experiment.tags),
    }


def run_to_dict(run: Run, experiment_name: str | None = None) -> dict[str, object]:
    """A run as scripts see it; times in epoch milliseconds plus ISO-8601 UTC copies."""
    return {
        "id": run.id,
        "name": run.name,
        "experiment_id": run.experiment_id,
        "experiment": experiment_name,
        "status": str(run.status),
        "start_time": run.start_time,
        "end_time": run.end_time,
        "start": format_ms(run.start_time),
        "end": format_ms(run.end_time) or None,
        "duration_ms": duration_ms(run),
        "parent_run_id": run.parent_run_id,
        "params": dict(run.params),
        "metrics": dict(run.metrics),
        "tags": dict(run.tags),
    }


def metric_summary(history: Sequence[Metric]) -> dict[str, object]:
    """Count, first/last step, min/max (ignoring NaN) and last value of a metric's history."""
    finite = [m.value for m in history if not math.isnan(m.value)]
    return {
        "count": len(history),
        "first_step": history[0].step if history else None,
        "last_step": history[-1].step if history else None,
        "last": history[-1].value if history else None,
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
    }


# text formatting -----------------------------------------------------------------------------
def format_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.5g}"


def format_time(ms: int | None) -> str:
    """Local wall-clock time, to the second ("" for None)."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def duration_ms(run: Run) -> int | None:
    return None if run.end_time is None else max(0, run.end_time - run.start_time)


def format_duration(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def run_duration_text(run: Run) -> str:
    """Duration of an ended run, or time so far (with an ellipsis) of a running one."""
    if run.end_time is not None:
        return format_duration(duration_ms(run))
    if run.status is RunStatus.RUNNING:
        return format_duration(max(0, now_ms() - run.start_time)) + "…"
    return ""


def status_markup(status: RunStatus) -> str:
    return f"[{STATUS_STYLES.get(status, 'white')}]{status}[/]"


def sparkline(values: Sequence[float], width: int = 24) -> str:
    """A one-line plot of ``values`` (down-sampled to ``width``); NaN/inf show as spaces."""
    if len(values) < 2:
        return ""
    if len(values) > width:
        values = [values[round(i * (len(values) - 1) / (width - 1))] for i in range(width)]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return " " * len(values)
    low, high = min(finite), max(finite)
    span = high - low
    chars = []
    for v in values:
        if not math.isfinite(v):
            chars.append(" ")
        elif span == 0:
            chars.append(SPARK_BLOCKS[len(SPARK_BLOCKS) // 2])
        else:
            chars.append(SPARK_BLOCKS[round((v - low) / span * (len(SPARK_BLOCKS) - 1))])
    return "".join(chars)


def short_id(run_id: str) -> str:
    return run_id[:8]


def redact_uri(uri: str | None) -> str:
    """``uri`` with any password or secret query value replaced by ``***`` (safe to print)."""
    return core_redact_uri(uri)


def split_tags(tags: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(user tags, system tags recorded by loopml under the ``loopml.`` prefix)."""
    user = {k: v for k, v in tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)}
    system = {k: v for k, v in tags.items() if k.startswith(SYSTEM_TAG_PREFIX)}
    return user, system


# long work and files ------------------------------------------------------------------------


class CountProgress:
    """A Rich progress bar on stderr over a count of things (files stored, log parts read),
    shown only from ``minimum`` of them on, redrawn once per 1 %, gone when done. Enter it to
    get its ``update(done, total)``, the callback the capabilities take."""

    def __init__(self, description: str, *, minimum: int, hidden: bool) -> None:
        from rich.progress import Progress

        self.description = description
        self.minimum = minimum
        self.bar = Progress(console=console(stderr=True, quiet=hidden), transient=True)
        self.task: TaskID | None = None

    def __enter__(self) -> Callable[[int, int], None]:
        return self.update

    def update(self, done: int, total: int) -> None:
        if total < self.minimum:
            return
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=total)
        if done == total or done % max(1, total // 100) == 0:
            self.bar.update(self.task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.bar.stop()


def write_text_atomically(path: Path, text: str) -> None:
    """``text`` into ``path`` whole or not at all (a temporary file beside it, then renamed)."""
    target = path.resolve()
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
