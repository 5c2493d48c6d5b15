"""Explanations of registered versions: global feature importance, computed at registration
and stored with the version, and per-row SHAP values for new rows.

At registration (:func:`write_explanations`), rows of ``explain_data`` (default: the input
example) are explained (:mod:`loopml.models.explainers`) and two files join the version's
files::

    explain/global_importance.json   {"method": "tree"|"linear"|"sampled",
                                      "feature_names": [...], "mean_abs_shap": [...],
                                      "expected_value": float|list, "rows": int,
                                      "sampling": {...}, ...}
    explain/background.json          the background rows, as the input example is stored

``sampling`` says what the numbers rest on: how many rows were given and explained (at most
:data:`MAX_ROWS`), and for the sampled explainer the background rows, the feature orders
sampled, the time budget (:func:`registration_budget`: 0.5 s unless
``LOOPML_EXPLAIN_BUDGET_SECONDS`` or ``register(explain_budget_seconds=...)`` says otherwise)
and whether the budget cut the orders short of :data:`MAX_ORDERS`.

``mean_abs_shap`` is the mean over the rows (and the outputs) of each feature's absolute
contribution. The background rows are what per-row explanations (``loopml explain``,
``POST /explain``) compare against, so they give the same expected value. Registration never
fails because of an explanation: the manifest's ``explain`` entry then says why there is none.

>>> global_importance(get("churn@3"), client)["method"]  # doctest: +SKIP
'tree'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.env_numbers import env_number
from loopml.core.errors import InvalidInputError
from loopml.core.hashing import Digest
from loopml.models.explainers import (
    SHAP_HINT,
    Contributions,
    Explainer,
    make_explainer,
    shap_installed,
)
from loopml.models.inputs import example_input, to_model_input
from loopml.models.permutation_shap import MAX_ORDERS
from loopml.models.registry import EXPLAIN_BACKGROUND, EXPLAIN_GLOBAL
from loopml.models.signature import example_table, example_to_json
from loopml.stores.artifacts.trees import get_tree
from loopml.tracking.client import Client

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.core.entities import ModelVersion

__all__ = [
    "BACKGROUND_FILE",
    "GLOBAL_FILE",
    "contributions_json",
    "explain_rows",
    "global_importance",
    "registration_budget",
    "version_explainer",
    "write_explanations",
]

EXPLAIN_FOLDER = "explain"
GLOBAL_FILE = EXPLAIN_GLOBAL
BACKGROUND_FILE = EXPLAIN_BACKGROUND
MAX_ROWS = {"tree": 1000, "linear": 1000, "sampled": 100}  # rows explained at registration
MAX_BACKGROUND_ROWS = 50
REGISTRATION_BUDGET_SECONDS = 0.5  # of the sampled explainer (a pipeline, ONNX), per register
ENV_REGISTRATION_BUDGET = "LOOPML_EXPLAIN_BUDGET_SECONDS"
EXPLAIN_BUDGET_SECONDS = 5.0  # of the sampled explainer, per ``loopml explain``

log = logging.getLogger("loopml.models")


def write_explanations(
    model: Any,
    signature: Mapping[str, Any] | None,
    data: Any,
    folder: Path,
    *,
    budget_seconds: float = REGISTRATION_BUDGET_SECONDS,
) -> dict[str, Any]:
    """Explain rows of ``data`` (what the model takes) and write the files under ``folder``
    (the version's folder); returns the manifest's ``explain`` entry: the files and the
    method, or ``{"skipped": why}``. The sampled explainer stops after ``budget_seconds``
    (one feature order and its reverse at least)."""
    if data is None:
        return {"skipped": "no input example (or explain_data) to explain"}
    if signature is None:
        return {"skipped": "no signature: register with an input example to explain"}
    try:
        stored, given = _sampled_json(data, seed=0)
        count = _count(stored)
        rows = example_input(signature, stored, rows=count)
        background_json = _head(stored, MAX_BACKGROUND_ROWS)
        background = example_input(signature, background_json, rows=MAX_BACKGROUND_ROWS)
        explainer = make_explainer(model, background, budget_seconds=budget_seconds)
        found = explainer.explain(_head_rows(rows, MAX_ROWS[explainer.method]))
        document = importance_json(found)
        document["sampling"] = _sampling(found, given, _count(background_json), budget_seconds)
        if not shap_installed():
            document["note"] = (
                f"shap is not installed, so every model is sampled; {SHAP_HINT} for exact "
                "values of tree and linear models."
            )
            log.warning("Global importance sampled: shap is not installed (%s).", SHAP_HINT)
        texts = {
            GLOBAL_FILE: json.dumps(document, indent=2, allow_nan=False),
            BACKGROUND_FILE: json.dumps(background_json, allow_nan=False),
        }
    except Exception as exc:  # an explanation is extra: it never fails a registration
        why = f"{type(exc).__name__}: {exc}"
        log.warning("No global importance for this version: %s", why)
        return {"skipped": why}
    (folder / EXPLAIN_FOLDER).mkdir(exist_ok=True)
    for path, text in texts.items():
        (folder / path).write_text(text, encoding="utf-8")
    return {"global_importance": GLOBAL_FILE, "background": BACKGROUND_FILE, "method": found.method}


def importance_json(found: Contributions) -> dict[str, Any]:
    """The global importance document of some rows' contributions."""
    import numpy as np

    mean_abs = np.abs(found.values).mean(axis=(0, 2)) if len(found.values) else found.values
    return {
        "method": found.method,
        "feature_names": found.feature_names,
        "mean_abs_shap": [float(v) for v in np.atleast_1d(mean_abs)],
        "expected_value": found.plain_expected(),
        "rows": int(found.values.shape[0]),
        "output": found.output,
        "output_names": found.output_names,
    }


def registration_budget(seconds: float | None = None) -> float:
    """The sampled explainer's time budget at registration: ``seconds`` if given, else
    ``LOOPML_EXPLAIN_BUDGET_SECONDS``, else 0.5 s (a bad value raises ``ConfigError``)."""
    if seconds is not None:
        if not seconds >= 0:  # NaN too
            raise InvalidInputError(
                f"explain_budget_seconds must be a number of seconds >= 0, got {seconds!r}."
            )
        return float(seconds)
    return env_number(
        ENV_REGISTRATION_BUDGET, REGISTRATION_BUDGET_SECONDS, high=3600, unit="seconds"
    )


def _sampling(
    found: Contributions, given: int, background_rows: int, budget_seconds: float
) -> dict[str, Any]:
    """What the global importance rests on: the rows given and explained, and for the
    sampled explainer its background rows, feature orders and whether the budget cut them."""
    sampling: dict[str, Any] = {
        "rows_given": given,
        "rows_explained": int(found.values.shape[0]),
        "max_rows": MAX_ROWS[found.method],
    }
    if found.orders is not None:
        sampling |= {
            "background_rows": background_rows,
            "orders": found.orders,
            "max_orders": MAX_ORDERS,
            "budget_seconds": budget_seconds,
            "cut_by_budget": found.orders < MAX_ORDERS,
        }
    return sampling


def global_importance(version: ModelVersion, client: Client) -> dict[str, Any] | None:
    """The version's ``explain/global_importance.json`` (checked against its digest), or
    None when it has none."""
    text = read_version_file(version, GLOBAL_FILE, client)
    return None if text is None else dict(json.loads(text))


def read_version_file(version: ModelVersion, path: str, client: Client) -> str | None:
    """One file of a version's tree, verified while read; None if the tree has no ``path``."""
    for entry in get_tree(client.artifacts, Digest.parse(version.tree_digest)):
        if entry.path == path:
            with client.artifacts.open(entry.digest) as reader:
                return reader.read().decode("utf-8")
    return None


def version_explainer(
    model: Any,
    signature: Mapping[str, Any] | None,
    background: Mapping[str, Any] | None,
    input_example: Mapping[str, Any] | None,
    *,
    label: str,
    budget_seconds: float = EXPLAIN_BUDGET_SECONDS,
) -> Explainer:
    """The explainer of a loaded version: its stored background rows (else its input
    example) are what its rows are compared against."""
    stored = background if background is not None else input_example
    if stored is None:
        raise InvalidInputError(
            f"{label} has no background rows nor input example to compare rows against; "
            "register it with an input example to explain its predictions."
        )
    rows = example_input(signature, stored, rows=_count(stored))
    return make_explainer(model, rows, budget_seconds=budget_seconds)


def explain_rows(
    explainer: Explainer,
    signature: Mapping[str, Any] | None,
    table: pa.Table,
    *,
    source: str = "the data",
) -> Contributions:
    """The contributions of every row of ``table`` (the model's columns; others ignored)."""
    rows = to_model_input(signature, table, source=source)
    return explainer.explain(rows)


def contributions_json(found: Contributions) -> dict[str, Any]:
    """Per-row contributions as the CLI's ``--json`` and ``POST /explain`` give them."""
    document: dict[str, Any] = {
        "method": found.method,
        "output": found.output,
        "output_names": found.output_names,
        "feature_names": found.feature_names,
        "expected_value": found.plain_expected(),
        "contributions": found.plain_values(),
    }
    if found.orders is not None:
        document["orders"] = found.orders
    return document


def _sampled_json(data: Any, *, seed: int) -> tuple[dict[str, Any], int]:
    """At most the largest row count of :data:`MAX_ROWS` rows of ``data``, picked at random
    (the same ones every time, in random order: the first ones are a sample too), as an
    input example is stored; and how many rows ``data`` has."""
    import numpy as np

    limit = max(MAX_ROWS.values())
    table = example_table(data)
    total = table.num_rows if table is not None else len(np.asarray(data))
    picked = None
    if total > limit:
        picked = np.random.default_rng(seed).choice(total, limit, replace=False)
    if table is not None:
        return example_to_json(table.take(picked) if picked is not None else table), total
    array = np.asarray(data)
    return example_to_json(array[picked] if picked is not None else array), total


def _count(stored: Mapping[str, Any]) -> int:
    return len(stored["data"] if "columns" in stored else stored["inputs"])


def _head(stored: Mapping[str, Any], rows: int) -> dict[str, Any]:
    if "columns" in stored:
        return {"columns": stored["columns"], "data": stored["data"][:rows]}
    return {"inputs": stored["inputs"][:rows]}


def _head_rows(rows: Any, count: int) -> Any:
    return rows.iloc[:count] if hasattr(rows, "iloc") else rows[:count]
