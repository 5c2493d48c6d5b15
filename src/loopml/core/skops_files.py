"""Reading scikit-learn models from skops files, deciding what may load from the file itself.

skops builds only the types it trusts by default (scikit-learn's estimators, numpy and scipy
basics) and the ones it is told to trust: here :data:`ALLOWED_TYPES`, a fixed list loopml
owns — never a list recorded beside the file, which whoever wrote the file could have forged.
skops reads from the file every type it names and checks them all before it builds anything.
A type outside both (``skops.io.get_untrusted_types`` names them) loads only when the caller
trusts code (``trust_code=True``, ``--trust-code``), with a warning: building it can run code.

skops is imported on first use (``pip install 'loopml[sklearn]'``), without its scan of every
scikit-learn estimator when it can be (:mod:`loopml.core.skops_import`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from loopml.core.errors import BackendUnavailableError, InvalidInputError, UntrustedCodeError
from loopml.core.skops_import import import_skops_io

__all__ = ["ALLOWED_TYPES", "TRUST_CODE_HINT", "load_skops", "skops_io", "untrusted_types"]

TRUST_CODE_HINT = "trust_code=True (--trust-code)"

# Types skops does not trust by default that common fitted scikit-learn models hold, and that
# carry only data (no function, nothing that calls what it is given). Every name here loads
# from any file anyone registers: widen with care. The tree types store node indices that
# scikit-learn does not bounds-check, so a forged file can crash ``predict`` (skops' note on
# them); they are here because forests and boosted trees are the common case, and a crash is
# not code running.
ALLOWED_TYPES = frozenset(
    {
        "numpy.dtype",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.metrics._dist_metrics.ChebyshevDistance64",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.tree._tree.Tree",
    }
)


def skops_io() -> Any:
    """The ``skops.io`` module (BackendUnavailableError when skops is not installed)."""
    try:
        return import_skops_io()
    except ImportError as exc:
        raise BackendUnavailableError(
            "scikit-learn models are stored with skops, which is not installed: "
            "pip install 'loopml[sklearn]'."
        ) from exc


def untrusted_types(path: Path) -> list[str]:
    """The types the skops file at ``path`` names that skops does not trust by default, read
    from the file (nothing is built)."""
    try:
        return sorted(skops_io().get_untrusted_types(file=path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{path} is not a readable skops file: {exc}") from exc


def load_skops(path: Path, *, trust_code: bool = False) -> Any:
    """The object in the skops file at ``path``. Types outside skops' defaults and
    :data:`ALLOWED_TYPES` raise UntrustedCodeError naming them, unless ``trust_code`` (then a
    warning names them)."""
    sio = skops_io()
    from skops.io.exceptions import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
        UntrustedTypesFoundException,
    )

    try:  # skops checks every type the file names before it builds anything
        return sio.load(path, trusted=sorted(ALLOWED_TYPES))
    except UntrustedTypesFoundException:
        pass
    found = untrusted_types(path)
    outside = ", ".join(name for name in found if name not in ALLOWED_TYPES)
    if not trust_code:
        raise UntrustedCodeError(
            f"The model file names types loopml does not load by default: {outside}. Building "
            "them can run code: load it only if you trust who registered it, with "
            f"{TRUST_CODE_HINT}."
        )
    warnings.warn(
        f"Loading a model file with types outside loopml's allowlist ({outside}) because "
        "code is trusted: building them can run code.",
        UserWarning,
        stacklevel=3,
    )
    return sio.load(path, trusted=found)
