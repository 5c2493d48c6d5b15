"""Running a plan: one tracked run for the pipeline, one nested run per step, outputs through
the artifact store, cached outputs reused, steps handed to an executor
(:mod:`loopml.pipelines.executors`) as soon as their inputs are ready.

This module is the driver: it opens and ends the step runs, looks up the cache, retries with
backoff and records lineage; :mod:`loopml.pipelines.execution` runs one attempt wherever the
executor puts it.

A step call is skipped when a FINISHED step run anywhere in the store carries the same cache
key (:mod:`loopml.pipelines.cache`); its output digest is taken from that run, so a failed
pipeline run re-run resumes from what succeeded. Outputs are loaded only when a step that runs
needs them.

>>> result = run(training, params={"n_estimators": 50})  # doctest: +SKIP
>>> result.steps["train"].cached, result.value()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loopml.core.entities import Run, RunStatus
from loopml.core.errors import (
    BackendUnavailableError,
    InvalidInputError,
    StepFailedError,
    UntrustedCodeError,
)
from loopml.core.hashing import Digest
from loopml.core.refs import format_dataset_ref
from loopml.core.retry import ENV_RETRY_BUDGET_S
from loopml.pipelines.cache import CACHE_KEY_TAG, cache_key, canonical_json, environment
from loopml.pipelines.datasets import dataset_version
from loopml.pipelines.definitions import Pipeline
from loopml.pipelines.execution import StepJob, StepOutcome, Stored, load_output, run_step
from loopml.pipelines.executors import Executor, Finished, executor_scope, ray_options
from loopml.pipelines.materializers import Materializers
from loopml.pipelines.plan import OutputRef, Plan, StepCall
from loopml.pipelines.steplogs import LOG_NAME
from loopml.tracking.active_run import ActiveRun
from loopml.tracking.client import Client, client_scope
from loopml.tracking.fluent import start_run

__all__ = ["PipelineRun", "StepResult", "rerun", "run", "step_output"]

OUTPUT_TAG = "loopml.output"  # the tree digest of the stored output, or "none"
MATERIALIZER_TAG = "loopml.materializer"
CACHED_TAG = "loopml.cached"  # "true" on a step run that reused an earlier output
PIPELINE_TAG = "loopml.pipeline"
REF_TAG = "loopml.pipeline_ref"  # module:function, set by whoever can name the pipeline
RERUN_OF_TAG = "loopml.rerun_of"
PARAMS_TAG = "loopml.pipeline_params"  # the params as JSON (run params are text)
DATASETS_TAG = "loopml.datasets"  # JSON {dataset_version ref: "name@N" it resolved to}
EXECUTOR_TAG = "loopml.executor"
_NO_OUTPUT = "none"
_MAX_BACKOFF_S = 5.0
_LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class StepResult:
    """What one step call did: its run, whether it was a cache hit, where its output is."""

    call: str
    run_id: str
    cached: bool
    output: str | None  # tree digest, None when the step returned None
    materializer: str | None
    seconds: float
    attempts: int = 1


@dataclass
class PipelineRun:
    """A finished pipeline run: its run id, plan, and every step's result."""

    run_id: str
    plan: Plan
    steps: dict[str, StepResult]
    client: Client = field(repr=False)
    materializers: Materializers = field(repr=False)

    def value(self, call: str | None = None) -> Any:
        """The output of step call ``call`` (default: the pipeline's only output), loaded
        from the artifact store."""
        if call is None:
            if len(self.plan.outputs) != 1:
                raise InvalidInputError(
                    f"Pipeline {self.plan.pipeline!r} returns {len(self.plan.outputs)} outputs; "
                    "name the step call: value('train')."
                )
            call = self.plan.outputs[0].call
        result = self.steps.get(call)
        if result is None:
            raise InvalidInputError(
                f"No step call {call!r} in this run; calls: {', '.join(self.steps)}."
            )
        return load_output(self.client, self.materializers, result.output, result.materializer)


def run(
    target: Pipeline[Any, Any] | Plan,
    *,
    params: Mapping[str, Any] | None = None,
    client: Client | None = None,
    experiment: str | None = None,
    use_cache: bool = True,
    materializers: Materializers | None = None,
    tags: Mapping[str, str] | None = None,
    dataset_pins: Mapping[str, str] | None = None,
    executor: str | Executor | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    on_step: Callable[[StepResult], None] | None = None,
    trust_code: bool = False,
) -> PipelineRun:
    """Run a pipeline (planned with ``params``) or a plan on an executor.

    Everything that can be checked is checked before the first step runs (params, the DAG,
    a materializer for every declared output type). ``use_cache=False`` runs every step;
    ``tags`` are set on the pipeline run. ``dataset_pins`` maps a ``dataset_version`` ref
    to the version to use instead (``{"iris@latest": "iris@3"}``: how a rerun reproduces the
    data of the original run); the versions used are recorded in the tag ``loopml.datasets``.
    ``executor`` is ``"local"`` (default, or ``LOOPML_EXECUTOR``), ``"process"`` (``workers``
    processes), ``"ray"`` (at ``ray_address``) or an open :class:`Executor`. ``on_step`` is
    called with each step's result as it finishes (for progress displays). ``trust_code``
    lets step outputs load that build types outside loopml's allowlist (scikit-learn models
    whose files name other code): only for pipelines whose steps you trust.
    """
    if isinstance(target, Plan):
        if params:
            raise InvalidInputError("Pass params when planning, not with a ready plan.")
        plan = target
    else:
        plan = target.plan(**dict(params or {}))
    plan, asked = _pinned(plan, dataset_pins or {})
    registry = (materializers or Materializers.default()).trusting_code(trust_code)
    registry.check_plan(plan)
    for call in plan.calls:
        ray_options(call.step.resources)  # a bad resource fails before anything runs
    with (
        client_scope(client) as active,
        executor_scope(executor, active, workers, ray_address) as chosen,
    ):
        for call in plan.calls:
            chosen.check(call.step)
        run_tags = {
            **(tags or {}),
            PIPELINE_TAG: plan.pipeline,
            PARAMS_TAG: canonical_json(dict(plan.params)),
            EXECUTOR_TAG: chosen.name,
        }
        name = experiment or plan.pipeline
        with start_run(name, plan.params, plan.pipeline, tags=run_tags, client=active) as parent:
            state = _RunState(
                active, registry, chosen, name, parent.id, use_cache, environment(), asked, on_step
            )
            state.drive(plan)
            outputs = [(ref.call, state.results[ref.call].output) for ref in plan.outputs]
            edges = [("output", digest, call) for call, digest in outputs if digest is not None]
            active.metadata.add_artifact_edges(parent.id, edges)
            if state.pins:
                parent.set_tag(DATASETS_TAG, canonical_json(state.pins))
            return PipelineRun(parent.id, plan, state.results, active, registry)


_Failure = StepFailedError | InvalidInputError | UntrustedCodeError | BackendUnavailableError


@dataclass
class _Attempt:
    call: StepCall
    run: ActiveRun
    opened: Run  # the run as created, for the job
    number: int


@dataclass
class _RunState:
    client: Client
    registry: Materializers
    executor: Executor
    experiment: str
    parent_id: str
    use_cache: bool
    env: dict[str, str]
    asked: dict[str, str]  # dataset_version call → the ref the plan asked for (before pins)
    on_step: Callable[[StepResult], None] | None = None
    results: dict[str, StepResult] = field(default_factory=dict)
    pins: dict[str, str] = field(default_factory=dict)  # dataset ref → the version it was
    values: dict[str, Any] = field(default_factory=dict)  # in-process: digest → object
    running: dict[int, _Attempt] = field(default_factory=dict)  # ticket → attempt
    retries: list[tuple[float, _Attempt]] = field(default_factory=list)  # (when, attempt)
    failure: _Failure | None = None

    def _done(self, result: StepResult) -> None:
        self.results[result.call] = result
        if self.on_step is not None:
            self.on_step(result)

    def drive(self, plan: Plan) -> None:
        """Start every call whose inputs are ready (up to the executor's capacity), collect
        what ends, retry with backoff; after a final failure, let running calls finish (their
        outputs are cached for a resume) and raise it."""
        waiting = {call.name: call for call in plan.calls}
        try:
            while True:
                self._start_ready(waiting)
                if not self.running and not self.retries:
                    break
                due = min((when for when, _ in self.retries), default=None)
                limit = None if due is None else max(0.0, due - time.monotonic())
                if not self.running:  # only retries wait for their backoff
                    time.sleep(limit or 0.0)
                    continue
                for finished in self.executor.wait(limit):
                    self._finish(self.running.pop(finished.ticket), finished)
        except BaseException:
            for attempt in self.running.values():
                attempt.run.end(RunStatus.KILLED)
            raise
        if self.failure is not None:
            raise self.failure

    def _start_ready(self, waiting: dict[str, StepCall]) -> None:
        progressed = True
        while progressed:
            progressed = False
            now = time.monotonic()
            for when, attempt in list(self.retries):
                if when <= now and self._has_room():
                    self.retries.remove((when, attempt))
                    self._submit(attempt)
            if self.failure is not None:
                continue  # start nothing new after a final failure
            for name, call in list(waiting.items()):
                if not self._has_room():
                    break
                if all(dependency in self.results for dependency in call.dependencies()):
                    del waiting[name]
                    progressed |= self._begin(call)

    def _has_room(self) -> bool:
        return len(self.running) < self.executor.capacity

    def _begin(self, call: StepCall) -> bool:
        """Open the call's run; True when it was served from the cache (so it is done)."""
        key = cache_key(call.step, call.params, [self._input_key(i) for i in call.inputs], self.env)
        hit = self._cached(key) if self.use_cache and call.step.cache else None
        opened = self.client.create_run(
            self.experiment,
            name=call.name,
            parent_run_id=self.parent_id,
            tags={CACHE_KEY_TAG: key, CACHED_TAG: "false" if hit is None else "true"},
            capture_system_info=False,  # the pipeline run has it
        )
        step = ActiveRun(self.client, opened)
        if call.params:
            step.log_params(call.params)
        if hit is not None:
            output, materializer = hit
            self._tag_output(step, output, materializer)
            self._record_edges(call, step.id, output)
            step.end(RunStatus.FINISHED)
            self._done(StepResult(call.name, step.id, True, output, materializer, 0.0))
            return True
        self._submit(_Attempt(call, step, opened, 1))
        return False

    def _submit(self, attempt: _Attempt) -> None:
        call = attempt.call
        inputs = tuple(self._input(item) for item in call.inputs)
        job = StepJob(call.name, call.step, inputs, call.params, attempt.opened, self.registry)
        # objects in memory are shared only with a step run in this very process (a local
        # step with a timeout runs in a child process)
        shares = self.executor.in_process and call.step.timeout is None
        values = self.values if shares else None
        ticket = self.executor.submit(
            run_step, (job, values), timeout=call.step.timeout, resources=call.step.resources
        )
        self.running[ticket] = attempt

    def _finish(self, attempt: _Attempt, finished: Finished) -> None:
        call, step = attempt.call, attempt.run
        outcome = finished.value if finished.error is None else StepOutcome(error=finished.error)
        assert isinstance(outcome, StepOutcome)
        log_stored = outcome.log is None or _store_log(step, outcome.log)
        if outcome.infrastructure:  # not the step's fault: no retry of its code, no FAILED
            step.end(RunStatus.KILLED)
            if self.failure is None:
                self.failure = _unreachable(call.name, outcome, step.id)
            return
        if outcome.error is not None:
            if outcome.retryable and attempt.number <= call.step.retries:
                backoff = min(0.1 * 2 ** (attempt.number - 1), _MAX_BACKOFF_S)
                again = replace(attempt, number=attempt.number + 1)
                self.retries.append((time.monotonic() + backoff, again))
                return
            step.log_metrics({"attempts": attempt.number})
            step.end(RunStatus.FAILED)
            if self.failure is None:
                self.failure = _failed(call.name, attempt.number, outcome, step.id, log_stored)
            return
        if outcome.dataset is not None:  # lineage: this run read that version
            dataset, version = outcome.dataset
            if call.step is dataset_version:
                asked = self.asked.get(call.name, str(call.params["ref"]))
                self.pins[asked] = format_dataset_ref(dataset, version)
            for run_id in (self.parent_id, step.id):
                self.client.metadata.add_dataset_inputs(run_id, [(dataset, version)])
        self._tag_output(step, outcome.output, outcome.materializer)
        self._record_edges(call, step.id, outcome.output)
        step.log_metrics({"duration_s": outcome.seconds, "attempts": attempt.number})
        step.end(RunStatus.FINISHED)
        self._done(
            StepResult(
                call.name,
                step.id,
                False,
                outcome.output,
                outcome.materializer,
                outcome.seconds,
                attempt.number,
            )
        )

    def _record_edges(self, call: StepCall, run_id: str, output: str | None) -> None:
        """Lineage: the stored outputs this call read (named by its input parameters) and
        the one it wrote."""
        edges = [
            ("input", self.results[item.call].output or "", name)
            for name, item in zip(call.step.inputs, call.inputs, strict=True)
            if isinstance(item, OutputRef) and self.results[item.call].output is not None
        ]
        if output is not None:
            edges.append(("output", output, "output"))
        self.client.metadata.add_artifact_edges(run_id, edges)

    def _input_key(self, item: object) -> str:
        if isinstance(item, OutputRef):
            return f"output:{self.results[item.call].output or _NO_OUTPUT}"
        return f"value:{canonical_json(item)}"

    def _input(self, item: object) -> object:
        if not isinstance(item, OutputRef):
            return item
        result = self.results[item.call]
        return Stored(result.output, result.materializer)

    def _cached(self, key: str) -> tuple[str | None, str | None] | None:
        """(output digest, materializer) of a finished step run with this key, if any."""
        found = self.client.search_runs(filter=f"tags.{CACHE_KEY_TAG} = '{key}'", max_results=20)
        for earlier in found:
            output = earlier.tags.get(OUTPUT_TAG)
            if earlier.status is RunStatus.FINISHED and output is not None:
                if output == _NO_OUTPUT:
                    return None, None
                if self.client.artifacts.exists(Digest.parse(output)):
                    return output, earlier.tags.get(MATERIALIZER_TAG)
        return None

    @staticmethod
    def _tag_output(step: ActiveRun, output: str | None, materializer: str | None) -> None:
        step.set_tag(OUTPUT_TAG, output or _NO_OUTPUT)
        if materializer is not None:
            step.set_tag(MATERIALIZER_TAG, materializer)


def _failed(
    call: str, attempts: int, outcome: StepOutcome, run_id: str, log_stored: bool = True
) -> StepFailedError | InvalidInputError | UntrustedCodeError:
    if outcome.untrusted:
        return UntrustedCodeError(outcome.error or "")
    if not outcome.retryable:
        return InvalidInputError(outcome.error or "")
    if log_stored:
        where = (
            f"its output and traceback are the run's artifact {LOG_NAME} "
            f"(loopml runs show {run_id[:8]})."
        )
    else:  # the store was away: show the end of the log here instead of pointing to it
        tail = "\n".join((outcome.log or "").splitlines()[-_LOG_TAIL_LINES:])
        where = (
            f"its {LOG_NAME} could not be stored (the artifact store was unreachable); "
            f"its last lines:\n{tail}"
        )
    return StepFailedError(
        f"Step {call!r} failed after {attempts} attempt(s): {(outcome.error or '').rstrip('.')}. "
        f"Its run is {run_id}; {where}"
    )


def _unreachable(call: str, outcome: StepOutcome, run_id: str) -> BackendUnavailableError:
    return BackendUnavailableError(
        f"Step {call!r} did not fail, but the stores were unreachable for longer than the "
        f"retry budget ({ENV_RETRY_BUDGET_S}): {(outcome.error or '').rstrip('.')}. Its run "
        f"{run_id} was marked KILLED. Run the pipeline again once the stores are back; the "
        "steps that finished are reused from the cache."
    )


def _store_log(step: ActiveRun, text: str) -> bool:
    """Store a step's log that its attempt could not (the driver's store calls have their
    own retry budget); False when the store is still unreachable."""
    with tempfile.TemporaryDirectory(prefix="loopml-steplog-") as scratch:
        path = Path(scratch) / LOG_NAME
        path.write_text(text, encoding="utf-8")
        try:
            step.log_artifact(path)
        except BackendUnavailableError:
            return False
    return True


def step_output(
    run_id: str,
    call: str | None = None,
    *,
    client: Client | None = None,
    materializers: Materializers | None = None,
    trust_code: bool = False,
) -> Any:
    """The stored output of the step run ``run_id`` — or, given ``call``, of that step call of
    the pipeline run ``run_id`` — read back as an object (how a pipeline's model reaches the
    registry: ``step_output(run_id, "train")``). ``trust_code`` as for :func:`run`."""
    registry = (materializers or Materializers.default()).trusting_code(trust_code)
    with client_scope(client, create=False) as active:
        step = active.get_run(run_id)
        if call is not None:
            if "'" in call:
                raise InvalidInputError(f"No step call is named {call!r}.")
            children = active.search_runs(
                filter=f"attributes.parent_run_id = '{run_id}' and attributes.name = '{call}'",
                max_results=2,
            )
            if not children:
                raise InvalidInputError(f"Pipeline run {run_id} has no step call {call!r}.")
            step = children[0]
        output = step.tags.get(OUTPUT_TAG)
        if output is None:
            raise InvalidInputError(
                f"Run {step.id} ({step.name}) is not a finished pipeline step: it records no "
                f"output (tag {OUTPUT_TAG})."
            )
        if output == _NO_OUTPUT:
            return None
        return load_output(active, registry, output, step.tags.get(MATERIALIZER_TAG))


def rerun(
    run_id: str,
    *,
    client: Client | None = None,
    search_path: Path | None = None,
    use_cache: bool = True,
    executor: str | Executor | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    trust_code: bool = False,
) -> PipelineRun:
    """Run again the pipeline run ``run_id`` recorded: the same pipeline reference, the same
    params and the same dataset versions (even where it said ``@latest``)."""
    from loopml.pipelines.loading import load_pipeline, parse_params

    with client_scope(client, create=False) as active:
        original = active.get_run(run_id)
        ref = original.tags.get(REF_TAG)
        if ref is None:
            raise InvalidInputError(
                f"Run {run_id} records no pipeline reference (tag {REF_TAG}); only runs started "
                "with 'loopml pipeline run' or run(..., tags={...}) can be rerun."
            )
        pipeline = load_pipeline(ref, search_path=search_path)
        recorded = original.tags.get(PARAMS_TAG)
        if recorded is not None:
            params = json.loads(recorded)
        else:  # recorded before the tag existed: the params as text
            texts = [f"{key}={value}" for key, value in original.params.items()]
            params = parse_params(texts, pipeline.params, pipeline.name)
        pins = json.loads(original.tags.get(DATASETS_TAG, "{}"))
        tags = {REF_TAG: ref, RERUN_OF_TAG: original.id}
        return run(
            pipeline,
            params=params,
            client=active,
            experiment=active.get_experiment(original.experiment_id).name,
            use_cache=use_cache,
            tags=tags,
            dataset_pins=pins,
            executor=executor,
            workers=workers,
            ray_address=ray_address,
            trust_code=trust_code,
        )


def _pinned(plan: Plan, pins: Mapping[str, str]) -> tuple[Plan, dict[str, str]]:
    """``plan`` with the refs of its ``dataset_version`` calls replaced as ``pins`` says, and
    the ref each replaced call asked for."""
    asked: dict[str, str] = {}
    calls = []
    for call in plan.calls:
        ref = call.params.get("ref")
        if call.step is dataset_version and isinstance(ref, str) and ref in pins:
            asked[call.name] = ref
            call = replace(call, params={**call.params, "ref": pins[ref]})
        calls.append(call)
    if not asked:
        return plan, asked
    return Plan(plan.pipeline, plan.params, tuple(calls), plan.outputs), asked
