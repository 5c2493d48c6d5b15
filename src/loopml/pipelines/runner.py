"""Running a plan in this process: one tracked run for the pipeline, one nested run per step,
outputs through the artifact store, and cached outputs reused.

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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loopml.core.entities import DatasetVersion, RunStatus
from loopml.core.errors import InvalidInputError, StepFailedError
from loopml.core.hashing import Digest
from loopml.core.refs import format_dataset_ref
from loopml.pipelines.cache import CACHE_KEY_TAG, cache_key, canonical_json, environment
from loopml.pipelines.datasets import dataset_version
from loopml.pipelines.definitions import Pipeline
from loopml.pipelines.materializers import Materializers
from loopml.pipelines.plan import OutputRef, Plan, StepCall
from loopml.pipelines.steplogs import LOG_NAME, captured, write_exception
from loopml.stores.artifacts.trees import materialize_tree, put_directory
from loopml.tracking.active_run import ActiveRun
from loopml.tracking.client import Client, client_scope
from loopml.tracking.fluent import start_run

__all__ = ["PipelineRun", "StepResult", "rerun", "run"]

OUTPUT_TAG = "loopml.output"  # the tree digest of the stored output, or "none"
MATERIALIZER_TAG = "loopml.materializer"
CACHED_TAG = "loopml.cached"  # "true" on a step run that reused an earlier output
PIPELINE_TAG = "loopml.pipeline"
REF_TAG = "loopml.pipeline_ref"  # module:function, set by whoever can name the pipeline
RERUN_OF_TAG = "loopml.rerun_of"
PARAMS_TAG = "loopml.pipeline_params"  # the params as JSON (run params are text)
DATASETS_TAG = "loopml.datasets"  # JSON {dataset_version ref: "name@N" it resolved to}
_NO_OUTPUT = "none"
_MAX_BACKOFF_S = 5.0


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
        return _load(self.client, self.materializers, result.output, result.materializer)


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
) -> PipelineRun:
    """Run a pipeline (planned with ``params``) or a plan, step after step, in this process.

    Everything that can be checked is checked before the first step runs (params, the DAG,
    a materializer for every declared output type). ``use_cache=False`` runs every step;
    ``tags`` are set on the pipeline run. ``dataset_pins`` maps a ``dataset_version`` ref
    to the version to use instead (``{"iris@latest": "iris@3"}``: how a rerun reproduces the
    data of the original run); the versions used are recorded in the tag ``loopml.datasets``.
    """
    if isinstance(target, Plan):
        if params:
            raise InvalidInputError("Pass params when planning, not with a ready plan.")
        plan = target
    else:
        plan = target.plan(**dict(params or {}))
    plan, asked = _pinned(plan, dataset_pins or {})
    registry = materializers or Materializers.default()
    registry.check_plan(plan)
    with client_scope(client) as active:
        run_tags = {
            **(tags or {}),
            PIPELINE_TAG: plan.pipeline,
            PARAMS_TAG: canonical_json(dict(plan.params)),
        }
        name = experiment or plan.pipeline
        with start_run(name, plan.params, plan.pipeline, tags=run_tags, client=active) as parent:
            state = _RunState(active, registry, name, parent.id, use_cache, environment(), asked)
            for call in plan.calls:
                state.results[call.name] = state.execute(call)
            if state.pins:
                parent.set_tag(DATASETS_TAG, canonical_json(state.pins))
            return PipelineRun(parent.id, plan, state.results, active, registry)


@dataclass
class _RunState:
    client: Client
    registry: Materializers
    experiment: str
    parent_id: str
    use_cache: bool
    env: dict[str, str]
    asked: dict[str, str]  # dataset_version call → the ref the plan asked for (before pins)
    results: dict[str, StepResult] = field(default_factory=dict)
    pins: dict[str, str] = field(default_factory=dict)  # dataset ref → the version it was
    values: dict[str, Any] = field(default_factory=dict)  # outputs loaded or computed

    def execute(self, call: StepCall) -> StepResult:
        key = cache_key(call.step, call.params, [self._input_key(i) for i in call.inputs], self.env)
        tags = {CACHE_KEY_TAG: key}
        hit = self._cached(key) if self.use_cache and call.step.cache else None
        with start_run(
            self.experiment, call.params, call.name, tags=tags, client=self.client
        ) as step:
            if hit is not None:
                output, materializer = hit
                step.set_tag(CACHED_TAG, "true")
                self._tag_output(step.set_tag, output, materializer)
                return StepResult(call.name, step.id, True, output, materializer, 0.0)
            step.set_tag(CACHED_TAG, "false")
            inputs = [self._input_value(item) for item in call.inputs]
            started = time.perf_counter()
            value, attempts = _invoke_logged(call, inputs, step)
            seconds = time.perf_counter() - started
            self.values[call.name] = value
            if isinstance(value, DatasetVersion):  # lineage: this run read that version
                edge = [(value.dataset, value.version)]
                if call.step is dataset_version:
                    pinned = format_dataset_ref(value.dataset, value.version)
                    asked = self.asked.get(call.name, str(call.params["ref"]))
                    self.pins[asked] = pinned
                for run_id in (self.parent_id, step.id):
                    self.client.metadata.add_dataset_inputs(run_id, edge)
            output, materializer = _store(self.client, self.registry, call, value)
            self._tag_output(step.set_tag, output, materializer)
            step.log_metrics({"duration_s": seconds, "attempts": attempts})
            return StepResult(call.name, step.id, False, output, materializer, seconds, attempts)

    def _input_key(self, item: object) -> str:
        if isinstance(item, OutputRef):
            return f"output:{self.results[item.call].output or _NO_OUTPUT}"
        return f"value:{canonical_json(item)}"

    def _input_value(self, item: object) -> Any:
        if not isinstance(item, OutputRef):
            return item
        if item.call not in self.values:
            result = self.results[item.call]
            self.values[item.call] = _load(
                self.client, self.registry, result.output, result.materializer
            )
        return self.values[item.call]

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
    def _tag_output(set_tag: Any, output: str | None, materializer: str | None) -> None:
        set_tag(OUTPUT_TAG, output or _NO_OUTPUT)
        if materializer is not None:
            set_tag(MATERIALIZER_TAG, materializer)


def rerun(
    run_id: str,
    *,
    client: Client | None = None,
    search_path: Path | None = None,
    use_cache: bool = True,
) -> PipelineRun:
    """Run again the pipeline run ``run_id`` recorded: the same pipeline reference, the same
    params and the same dataset versions (even where it said ``@latest``)."""
    from loopml.pipelines.loading import load_pipeline, parse_params

    with client_scope(client) as active:
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


def _invoke_logged(call: StepCall, inputs: list[Any], step: ActiveRun) -> tuple[Any, int]:
    """:func:`_invoke` with the step's output and logs captured into the artifact
    ``step.log`` of its run (kept when the step fails, with the traceback)."""
    with tempfile.TemporaryDirectory(prefix="loopml-step-") as scratch:
        path = Path(scratch) / LOG_NAME
        try:
            with captured(path) as log:
                try:
                    return _invoke(call, inputs, step.id)
                except StepFailedError as exc:
                    write_exception(log, exc.__cause__ or exc)
                    raise
        finally:
            step.log_artifact(path)


def _invoke(call: StepCall, inputs: list[Any], run_id: str) -> tuple[Any, int]:
    """Call the step, retrying with exponential backoff; StepFailedError after the last try."""
    attempts = call.step.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return call.step.fn(*inputs, **call.params), attempt
        except Exception as exc:
            if attempt == attempts:
                raise StepFailedError(
                    f"Step {call.name!r} failed after {attempt} attempt(s): "
                    f"{type(exc).__name__}: {exc}. Its run is {run_id}; its output and "
                    f"traceback are the run's artifact {LOG_NAME} (loopml runs show "
                    f"{run_id[:8]})."
                ) from exc
            time.sleep(min(0.1 * 2 ** (attempt - 1), _MAX_BACKOFF_S))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _store(
    client: Client, registry: Materializers, call: StepCall, value: Any
) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    materializer = registry.for_type(type(value))
    with tempfile.TemporaryDirectory(prefix="loopml-output-") as scratch:
        folder = Path(scratch)
        try:
            materializer.write(value, folder)
        except InvalidInputError as exc:
            raise InvalidInputError(f"Step {call.name!r}: {exc.message}") from exc
        digest, _entries = put_directory(client.artifacts, folder)
    return str(digest), materializer.name


def _load(
    client: Client, registry: Materializers, output: str | None, materializer: str | None
) -> Any:
    if output is None:
        return None
    if materializer is None:
        raise InvalidInputError(f"Output {output} does not record its materializer.")
    with tempfile.TemporaryDirectory(prefix="loopml-input-") as scratch:
        folder = Path(scratch) / "value"
        materialize_tree(client.artifacts, Digest.parse(output), folder)
        return registry.by_name(materializer).read(folder)
