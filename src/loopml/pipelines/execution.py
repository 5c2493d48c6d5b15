"""One attempt of one step call, wherever an executor runs it: load the inputs from the
artifact store, call the step with its run as the current run, store the output, and keep
what it printed and logged as the artifact ``step.log`` of its run.

The driver (:mod:`loopml.pipelines.runner`) opens and ends the step's run and decides about
caching and retries; this module only needs a client on the same stores, so it runs the same
in this process, in a worker process or in a Ray task.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loopml.core.entities import DatasetVersion, Run
from loopml.core.errors import BackendUnavailableError, InvalidInputError, UntrustedCodeError
from loopml.core.hashing import Digest
from loopml.pipelines.definitions import Step
from loopml.pipelines.materializers import Materializers
from loopml.pipelines.steplogs import LOG_NAME, captured, write_exception
from loopml.stores.artifacts.base import batched_writes
from loopml.stores.artifacts.trees import materialize_tree, put_directory
from loopml.stores.scratch import scratch_directory
from loopml.tracking.active_run import ActiveRun
from loopml.tracking.client import Client
from loopml.tracking.fluent import attached_run

__all__ = ["StepJob", "StepOutcome", "Stored", "load_output", "run_step"]


@dataclass(frozen=True)
class Stored:
    """An input that is another step's output: the digest of its stored tree (None when the
    step returned None) and the materializer that reads it."""

    output: str | None
    materializer: str | None


@dataclass(frozen=True)
class StepJob:
    call: str
    step: Step[Any, Any]
    inputs: tuple[Any, ...]  # plain values, or Stored
    params: Mapping[str, Any]
    run: Run  # the step's run, opened by the driver
    registry: Materializers


@dataclass(frozen=True)
class StepOutcome:
    """What an attempt did. ``error`` is set when it failed; ``retryable`` is False when a
    retry cannot help (the output has no materializer, an input needs ``trust_code``: then
    ``untrusted``); ``infrastructure`` is True when the
    step's own code did not fail but the stores were unreachable for longer than the retry
    budget (loading its inputs, storing its output or its log). ``log`` holds the step's log
    when it could not be stored, for the driver to store once the store is back."""

    output: str | None = None
    materializer: str | None = None
    seconds: float = 0.0
    dataset: tuple[str, int] | None = None  # the dataset version the step returned
    error: str | None = None
    retryable: bool = True
    infrastructure: bool = False
    log: str | None = None
    untrusted: bool = False  # an input needs trust_code to load


def run_step(client: Client, job: StepJob, values: dict[str, Any] | None = None) -> StepOutcome:
    """Run one attempt of ``job``. ``values`` (digest → object) holds outputs already in
    memory, read and filled when the job runs in the driver's process."""
    try:
        with attached_run(client, job.run) as run:
            return _attempt(client, run, job, values)
    except BackendUnavailableError as exc:
        return StepOutcome(error=exc.message, infrastructure=True)


def _attempt(
    client: Client, run: ActiveRun, job: StepJob, values: dict[str, Any] | None
) -> StepOutcome:
    with scratch_directory("step") as scratch:
        path = Path(scratch) / LOG_NAME
        try:
            outcome = _call(client, job, values, path)
        except BackendUnavailableError as exc:
            outcome = StepOutcome(error=exc.message, infrastructure=True)
        try:
            run.log_artifact(path)
        except BackendUnavailableError:
            # the store is still away after the retry budget: the driver stores it later
            return replace(outcome, log=path.read_text(encoding="utf-8", errors="replace"))
        return outcome


def _call(client: Client, job: StepJob, values: dict[str, Any] | None, path: Path) -> StepOutcome:
    with captured(path) as log:
        inputs: list[Any] | None = None
        try:
            inputs = [_input(client, job.registry, item, values) for item in job.inputs]
            started = time.perf_counter()
            value = job.step.fn(*inputs, **job.params)
            seconds = time.perf_counter() - started
        except Exception as exc:
            write_exception(log, exc)
            if inputs is None and isinstance(exc, BackendUnavailableError):
                raise  # the inputs could not be loaded: not the step's failure
            if inputs is None and isinstance(exc, UntrustedCodeError):
                # an input that may not load without trust_code will not load on a retry either
                error = f"Step {job.call!r} cannot load an input: {exc.message}"
                return StepOutcome(error=error, retryable=False, untrusted=True)
            return StepOutcome(error=f"{type(exc).__name__}: {exc}")
    try:
        output, materializer = _store(client, job, value)
    except InvalidInputError as exc:
        return StepOutcome(error=exc.message, retryable=False)
    if values is not None and output is not None:
        values[output] = value
    dataset = (value.dataset, value.version) if isinstance(value, DatasetVersion) else None
    return StepOutcome(output, materializer, seconds, dataset)


def _input(
    client: Client, registry: Materializers, item: object, values: dict[str, Any] | None
) -> Any:
    if not isinstance(item, Stored):
        return item
    if values is not None and item.output in values:
        return values[item.output]
    value = load_output(client, registry, item.output, item.materializer)
    if values is not None and item.output is not None:
        values[item.output] = value
    return value


def _store(client: Client, job: StepJob, value: Any) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    try:
        materializer = job.registry.for_type(type(value))
    except InvalidInputError as exc:
        raise InvalidInputError(f"Step {job.call!r}: {exc.message}") from exc
    with scratch_directory("output", client.artifacts) as scratch:
        folder = Path(scratch)
        try:
            materializer.write(value, folder)
        except InvalidInputError as exc:
            raise InvalidInputError(f"Step {job.call!r}: {exc.message}") from exc
        with batched_writes(client.artifacts):  # one flush for the output's files and tree
            digest, _entries = put_directory(client.artifacts, folder)
    return str(digest), materializer.name


def load_output(
    client: Client, registry: Materializers, output: str | None, materializer: str | None
) -> Any:
    """A stored step output as an object again."""
    if output is None:
        return None
    if materializer is None:
        raise InvalidInputError(f"Output {output} does not record its materializer.")
    with scratch_directory("input", client.artifacts) as scratch:
        folder = Path(scratch) / "value"
        materialize_tree(client.artifacts, Digest.parse(output), folder)
        return registry.by_name(materializer).read(folder)
