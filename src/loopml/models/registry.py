"""The model registry: named models with immutable numbered versions, aliases with history,
and safe loading.

A version is a tree in the artifact store (the flavor's files under ``model/``, the input
example, and ``loopml-model.json``: flavor, what loading needs, signature, requirements) plus
a record in the metadata store that names the tree by digest — so loading verifies every
byte against what was registered.

>>> version = register("churn", model, input_example=X[:5], run=run)  # doctest: +SKIP
>>> set_alias("churn", "champion", version.version, reason="beats v3")  # doctest: +SKIP
>>> load("churn@champion").predict(X)  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopml.core.entities import AliasChange, ModelVersion
from loopml.core.errors import BackendUnavailableError, InvalidInputError, UntrustedCodeError
from loopml.core.hashing import Digest
from loopml.core.ids import now_ms
from loopml.core.refs import ModelRef, check_alias, format_dataset_ref, parse_model_ref
from loopml.core.version import __version__
from loopml.models.flavors import flavor_for, flavor_named
from loopml.models.missing_values import mark_missing
from loopml.models.onnx import OnnxModel, convert_checked
from loopml.models.promotion_rules import CHAMPION, previous_versions
from loopml.models.signature import check_example, example_to_json, infer_signature
from loopml.stores.artifacts.base import batched_writes
from loopml.stores.artifacts.trees import materialize_tree, put_directory
from loopml.stores.scratch import scratch_directory, scratch_prefix
from loopml.tracking.active_run import ActiveRun
from loopml.tracking.client import Client, client_scope
from loopml.tracking.system_info import local_user

__all__ = [
    "get",
    "load",
    "load_flavor",
    "open_preferred",
    "open_version",
    "read_background",
    "register",
    "resolve",
    "rollback",
    "set_alias",
]

MANIFEST = "loopml-model.json"
EXAMPLE = "input_example.json"
MODEL_FOLDER = "model"
ONNX_FOLDER = "onnx"
ONNX_TAG = "loopml.onnx"  # "true" on versions that carry a checked ONNX conversion
NATIVE = "native"  # the variant that is the registered model itself
EXPLAIN_GLOBAL = "explain/global_importance.json"  # loopml.models.explanations writes them
EXPLAIN_BACKGROUND = "explain/background.json"

log = logging.getLogger("loopml.models")


def register(
    name: str,
    model: Any,
    *,
    input_example: Any = None,
    signature: Mapping[str, Any] | None = None,
    run: ActiveRun | str | None = None,
    metrics: Mapping[str, float] | None = None,
    requirements: Sequence[str] | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    allow_pickle: bool = False,
    onnx: bool = False,
    explain: bool = True,
    explain_data: Any = None,
    explain_budget_seconds: float | None = None,
    client: Client | None = None,
) -> ModelVersion:
    """Register ``model`` as the next version of ``name`` and return the
    :class:`~loopml.core.entities.ModelVersion`.

    The signature is inferred from ``input_example`` (and the model's predictions for it) or
    given, in which case the example must match it. ``run`` (a run or its id) links the
    version to the run, its dataset versions and — unless ``metrics`` are given — its metrics.
    A model no flavor stores is refused unless ``allow_pickle`` (then loading it needs the
    same opt-in). ``onnx`` also stores an ONNX conversion of a scikit-learn model, accepted
    only if it predicts the same on the input example (``load(ref, variant="onnx")``).
    ``explain`` stores the SHAP global feature importance of ``explain_data`` (rows the model
    takes; default: the input example) with the version (:mod:`loopml.models.explanations`);
    a model shap cannot explain exactly is sampled for ``explain_budget_seconds`` (default
    ``LOOPML_EXPLAIN_BUDGET_SECONDS``, else 0.5 s).
    """
    flavor = flavor_for(model, allow_pickle=allow_pickle)
    if onnx and flavor.name != "sklearn":
        raise InvalidInputError(
            f"ONNX conversion is for scikit-learn models; this one is {flavor.name}."
        )
    if signature is not None and input_example is not None:
        check_example(signature, input_example)
    if explain:
        from loopml.models.explanations import registration_budget, write_explanations

        budget = registration_budget(explain_budget_seconds)
    with client_scope(client) as active:
        run_id = run.id if isinstance(run, ActiveRun) else run
        datasets: tuple[str, ...] = ()
        recorded: dict[str, float] = {}
        if run_id is not None:
            (run if isinstance(run, ActiveRun) else active).flush()  # what it logged so far
            source = active.get_run(run_id)
            recorded = dict(source.metrics)
            edges = active.metadata.list_dataset_inputs(run_id=run_id)
            datasets = tuple(format_dataset_ref(e.dataset, e.version) for e in edges)
        # in the store's tmp/ (local store): one rename from the store, found by loopml gc
        with scratch_directory("model", active.artifacts) as scratch:
            folder = Path(scratch)
            (folder / MODEL_FOLDER).mkdir()
            details = flavor.save(model, folder / MODEL_FOLDER)
            if input_example is not None:
                if signature is None:
                    signature = infer_signature(input_example, _predict(model, input_example))
                    if hasattr(model, "predict"):
                        signature = mark_missing(signature, model.predict, input_example)
                text = json.dumps(example_to_json(input_example), allow_nan=False)
                (folder / EXAMPLE).write_text(text, encoding="utf-8")
            converted = None
            if onnx:
                (folder / ONNX_FOLDER).mkdir()
                converted = convert_checked(model, input_example, folder / ONNX_FOLDER)
            explained = None
            if explain:
                rows = explain_data if explain_data is not None else input_example
                explained = write_explanations(
                    model, signature, rows, folder, budget_seconds=budget
                )
            pins = list(requirements) if requirements is not None else flavor.requirements()
            manifest = {
                "flavor": flavor.name,
                MODEL_FOLDER: details,
                "signature": signature,
                "input_example": EXAMPLE if input_example is not None else None,
                "requirements": pins,
                ONNX_FOLDER: converted,
                "explain": explained,
                "loopml_version": __version__,
            }
            (folder / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            with batched_writes(active.artifacts):
                digest, _entries = put_directory(active.artifacts, folder)
        return active.metadata.add_model_version(
            ModelVersion(
                model=name,
                version=0,  # assigned by the store
                flavor=flavor.name,
                tree_digest=str(digest),
                created_at=now_ms(),
                run_id=run_id,
                signature=signature,
                metrics=dict(metrics) if metrics is not None else recorded,
                datasets=datasets,
                requirements=tuple(pins),
                description=description,
                tags={**(tags or {}), **({ONNX_TAG: "true"} if converted else {})},
            )
        )


def _predict(model: Any, example: Any) -> Any:
    predict = getattr(model, "predict", None)
    if predict is None:
        return None
    try:
        return predict(example)
    except Exception as exc:
        raise InvalidInputError(
            f"The model could not predict on its input example: {type(exc).__name__}: {exc}. "
            "Pass an example of what it takes."
        ) from exc


def resolve(ref: str | ModelRef, client: Client) -> ModelVersion:
    """The version a reference names now (``churn``, ``churn@3``, ``churn@champion``,
    ``models:/churn@champion``)."""
    parsed = parse_model_ref(ref) if isinstance(ref, str) else ref
    version = parsed.version
    if parsed.alias is not None:
        version = client.metadata.get_model_alias(parsed.model, parsed.alias)
    return client.metadata.get_model_version(parsed.model, version)


def get(ref: str, *, client: Client | None = None) -> ModelVersion:
    """The registered version ``ref`` names (its record, not the model)."""
    with client_scope(client, create=False) as active:
        return resolve(ref, active)


def load(
    ref: str,
    *,
    variant: str | None = None,
    trust_code: bool = False,
    client: Client | None = None,
) -> Any:
    """The model ``ref`` names, read back by its flavor after every file was checked against
    the registered digest (a tampered file raises IntegrityError); ``variant="onnx"`` gives
    its ONNX conversion in an ONNX Runtime session. A version whose loading runs code it names
    (a pickle, a python_function, a scikit-learn file with types outside loopml's allowlist)
    loads only with ``trust_code`` (and a warning); otherwise UntrustedCodeError."""
    if variant not in (None, ONNX_FOLDER):
        raise InvalidInputError(f"Unknown model variant {variant!r}; the one there is: onnx.")
    with client_scope(client, create=False) as active:
        version = resolve(ref, active)
        return open_version(version, active, variant=variant, trust_code=trust_code).model


@dataclass(frozen=True)
class OpenedVersion:
    """A registered version read back: the model (or its ONNX variant), its manifest, and
    its input example as stored (JSON, or None)."""

    version: ModelVersion
    model: Any
    manifest: Mapping[str, Any]
    input_example: Any
    variant: str = NATIVE  # or ONNX_FOLDER: the checked ONNX conversion
    background: Any = None  # explain/background.json, the rows explanations compare against

    @property
    def classes(self) -> list[Any] | None:
        """A classifier's class labels, in the order of its probability columns: the native
        model's ``classes_``, or those registration recorded for the ONNX variant."""
        known = getattr(self.model, "classes_", None)
        if known is None and self.variant == ONNX_FOLDER:
            known = (self.manifest.get(ONNX_FOLDER) or {}).get("classes")
        return list(known) if known is not None else None


def open_preferred(
    version: ModelVersion,
    client: Client,
    *,
    prefer_onnx: bool = True,
    trust_code: bool = False,
) -> OpenedVersion:
    """``version`` opened as predict, serve and gate run it: its ONNX variant when it has one
    (a conversion registration checked against the native model) and ``prefer_onnx``, else
    — or when ONNX Runtime is not installed — the native model."""
    if prefer_onnx and version.tags.get(ONNX_TAG) == "true":
        try:
            return open_version(version, client, variant=ONNX_FOLDER, trust_code=trust_code)
        except BackendUnavailableError as exc:
            log.warning("%s: using the native model: %s", version.model, exc.message)
    return open_version(version, client, trust_code=trust_code)


def open_version(
    version: ModelVersion,
    client: Client,
    *,
    variant: str | None = None,
    trust_code: bool = False,
) -> OpenedVersion:
    """Materialize ``version``'s files (each checked against its digest) and read it back;
    UntrustedCodeError, before any of its code runs, for a version that needs ``trust_code``."""
    # the files stay while this process runs: a python_function model reads its data
    folder = Path(tempfile.mkdtemp(prefix=scratch_prefix("model"))) / "version"
    atexit.register(shutil.rmtree, folder.parent, ignore_errors=True)
    label = f"{version.model}@{version.version}"
    materialize_tree(client.artifacts, Digest.parse(version.tree_digest), folder)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    example_file = manifest.get("input_example")
    example = (
        json.loads((folder / example_file).read_text(encoding="utf-8")) if example_file else None
    )
    if variant == ONNX_FOLDER:
        details = manifest.get(ONNX_FOLDER)
        if not details:
            raise InvalidInputError(
                f"{label} has no ONNX variant; register it with onnx=True (--onnx)."
            )
        model = OnnxModel(folder / ONNX_FOLDER / str(details["file"]))
    else:
        model = load_flavor(manifest, folder / MODEL_FOLDER, trust_code=trust_code, label=label)
    return OpenedVersion(
        version,
        model,
        manifest,
        example,
        ONNX_FOLDER if variant == ONNX_FOLDER else NATIVE,
        read_background(manifest, folder),
    )


def read_background(manifest: Mapping[str, Any], folder: Path) -> Any:
    """The background rows registration stored for explanations (JSON), or None."""
    if (manifest.get("explain") or {}).get("background") != EXPLAIN_BACKGROUND:
        return None
    return json.loads((folder / EXPLAIN_BACKGROUND).read_text(encoding="utf-8"))


def load_flavor(manifest: Mapping[str, Any], folder: Path, *, trust_code: bool, label: str) -> Any:
    """The native model of a version from its manifest and its ``model/`` folder; an
    UntrustedCodeError names the version ``label``."""
    try:
        flavor = flavor_named(str(manifest["flavor"]), trust_code=trust_code)
        return flavor.load(folder, manifest[MODEL_FOLDER], trust_code=trust_code)
    except UntrustedCodeError as exc:
        raise UntrustedCodeError(f"{label}: {exc.message}") from exc


def set_alias(
    name: str,
    alias: str,
    version: int | None,
    *,
    reason: str = "",
    client: Client | None = None,
) -> AliasChange:
    """Point ``name@alias`` at ``version`` (None removes the alias); the move is recorded in
    the alias's history with who, when and ``reason``."""
    check_alias(alias)
    with client_scope(client, create=False) as active:
        return active.metadata.set_model_alias(
            name, alias, version, actor=local_user(), reason=reason
        )


def rollback(
    name: str, *, alias: str = CHAMPION, reason: str = "", client: Client | None = None
) -> AliasChange:
    """Move ``alias`` back to the version it pointed at before its current one. Rolling back
    again goes further back (a rollback undoes a move; it is not itself undone by the next
    one); removing the alias starts its history afresh."""
    check_alias(alias)
    with client_scope(client, create=False) as active:
        stack = previous_versions(active.metadata.list_alias_history(name, alias))
        if len(stack) < 2:
            raise InvalidInputError(
                f"{name}@{alias} has no earlier version to roll back to"
                + (f" (it points at version {stack[0]} only)." if stack else " (it is not set).")
            )
        return active.metadata.set_model_alias(
            name,
            alias,
            stack[-2],
            actor=local_user(),
            reason=reason or f"rollback from version {stack[-1]}",
        )
