"""What the two sides of ``run_registry.py`` share (loopml's, MLflow's). It imports only the
standard library at module level: each side imports it inside its own tool's virtualenv, and
scikit-learn (installed in both) only when the forest is fitted.

A side is called as ``python _<tool>_registry_side.py --workdir DIR [--variant V]`` with a
fresh, empty ``DIR``, and prints one ``BENCH_RESULT {json}`` line (``_harness.emit``). In one
process, in this order, each phase timed alone with ``perf_counter``:

1. ``fit``: import scikit-learn, load the bundled breast-cancer data, fit the forest (the same
   recipe on both sides; reported, not compared);
2. ``import``: import the tool (``Side.open`` does the imports);
3. ``store``: create the tool's store in ``DIR`` (a project / a SQLite database);
4. ``register``: start a run, register the forest with ``X[:5]`` as input example, end the run
   (version 1; the first call, so it includes what the tool imports on first use);
5. ``load``: load version 1 back by its registry name;
6. ``register_again``, ``load_again``: the same for version 2 in the same process (imports
   done, store open: what a script that registers several models pays per model);

then, off the clock, check that both loaded models predict exactly what the fitted one does
on all of ``X`` (a side that stored or loaded nothing cannot pass).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from _harness import emit

MODEL_NAME = "rf"
N_TREES = 100


@dataclass(frozen=True)
class Session:
    """A tool with its store open: ``register(model, example)`` registers the model inside a
    run (start and end of the run included) and returns what was registered, its version
    number under ``"version"``; ``load(version)`` loads that version back by the model's
    name; ``close()`` releases the store (untimed)."""

    register: Callable[[Any, Any], dict[str, Any]]
    load: Callable[[int], Any]
    close: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class Side:
    """``imports(variant)`` imports the tool (timed as ``import``); ``open(workdir, variant)``
    creates its store in ``workdir`` (timed as ``store``) and returns the session."""

    imports: Callable[[str], None]
    open: Callable[[Path, str], Session]
    variants: tuple[str, ...] = ("default",)


def fit_forest() -> tuple[Any, Any]:
    """The forest (100 trees, random_state=0) fitted on the breast-cancer data, and the data."""
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]

    x, y = load_breast_cancer(return_X_y=True)
    return RandomForestClassifier(n_estimators=N_TREES, random_state=0).fit(x, y), x


def same_predictions(model: Any, loaded: Any, x: Any) -> bool:
    """Whether ``loaded`` is a forest of as many trees that predicts exactly what ``model``
    does on ``x``, labels and probabilities."""
    import numpy as np

    return (
        type(loaded) is type(model)
        and len(getattr(loaded, "estimators_", ())) == N_TREES
        and bool(np.array_equal(loaded.predict(x), model.predict(x)))
        and bool(np.array_equal(loaded.predict_proba(x), model.predict_proba(x)))
    )


def main(side: Side) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", required=True, type=Path, help="a fresh, empty folder")
    parser.add_argument("--variant", default=side.variants[0], choices=side.variants)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    def phase(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = fn()
        seconds[name] = time.perf_counter() - start
        return value

    model, x = phase("fit", fit_forest)
    phase("import", lambda: side.imports(args.variant))
    session: Session = phase("store", lambda: side.open(args.workdir, args.variant))
    registered: list[dict[str, Any]] = []
    loaded: list[Any] = []
    for suffix in ("", "_again"):
        registered.append(phase(f"register{suffix}", lambda: session.register(model, x[:5])))
        version = int(registered[-1]["version"])
        loaded.append(phase(f"load{suffix}", partial(session.load, version)))
    session.close()
    versions = [r["version"] for r in registered]
    if versions != [1, 2]:
        raise SystemExit(f"registered versions {versions}, expected [1, 2]")
    for number, model_loaded in enumerate(loaded, start=1):
        if not same_predictions(model, model_loaded, x):
            raise SystemExit(f"version {number} loaded is not the registered model")
    emit(
        {
            "variant": args.variant,
            "seconds": seconds,
            "registered": registered,
            "predictions_checked": len(x),
        }
    )
