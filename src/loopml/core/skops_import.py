"""Importing ``skops.io`` without its import-time scan of every scikit-learn estimator.

skops decides what it builds by default from lists of type names it computes when
``skops.io._trusted_types`` is first imported; one of them calls
``sklearn.utils.all_estimators()``, which imports every scikit-learn module and
``sklearn.utils._testing`` (and so pytest) — about a second on an idle machine, in every
process that loads a scikit-learn model.

The lists depend only on the installed skops, scikit-learn, numpy and scipy (and Python). So
the first process that imports ``skops.io`` the ordinary way records them in a snapshot
(``<cache>/loopml/skops-trusted-types.json``, the cache folder being ``$XDG_CACHE_HOME`` or
``~/.cache``), keyed by those versions; a later process whose versions match puts the recorded
lists in place of ``skops.io._trusted_types`` before importing the rest of ``skops.io``. skops
then reads, checks and builds exactly as it would have, against the same lists: only the scan
is skipped. Anything unexpected — no snapshot, other versions, a name outside the package it
must belong to, a skops that needs a list the snapshot lacks — falls back to the ordinary
import (and records a new snapshot).

The snapshot is trust input: it is written and read only in the user's own cache folder, and
every name in it must lie in the package its list is about (``sklearn.`` for scikit-learn's
lists, ``numpy.``, ``scipy.``, ``builtins.``), so even a tampered snapshot cannot make skops
trust a type outside those packages.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import types
from importlib import import_module, metadata
from pathlib import Path
from typing import Any

__all__ = ["import_skops_io", "snapshot_path"]

TRUSTED_MODULE = "skops.io._trusted_types"
SNAPSHOT_FILE = "skops-trusted-types.json"
DISTRIBUTIONS = ("skops", "scikit-learn", "numpy", "scipy")
# each list skops trusts by default, by the prefix every name in it must have
PREFIXES = {
    "PRIMITIVE_": "builtins.",
    "CONTAINER_": "builtins.",
    "SKLEARN_": "sklearn.",
    "NUMPY_": "numpy.",
    "SCIPY_": "scipy.",
}

_lock = threading.Lock()


def snapshot_path() -> Path:
    """Where the snapshot of skops' trusted type names lives for this user."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "loopml" / SNAPSHOT_FILE


def import_skops_io() -> Any:
    """``skops.io``, imported from the snapshot of its trusted type names when one matches
    the installed versions (ImportError when skops is not installed)."""
    with _lock:
        if "skops.io" in sys.modules:
            return sys.modules["skops.io"]
        key = _environment_key()
        names = _read_snapshot(key) if key is not None else None
        if names is not None:
            try:
                return _import_with(names)
            except Exception:  # a skops that needs more than was recorded: the ordinary way
                _forget_skops_io()
        module = import_module("skops.io")
        if key is not None:
            _write_snapshot(key, sys.modules[TRUSTED_MODULE])
        return module


def _environment_key() -> dict[str, str] | None:
    key = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in DISTRIBUTIONS:
        try:
            key[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            return None
    return key


def _valid_names(value: Any) -> dict[str, list[str]] | None:
    """The recorded lists if every one is a known list of names inside its package."""
    if not isinstance(value, dict) or not value:
        return None
    for attribute, names in value.items():
        prefix = next((p for k, p in PREFIXES.items() if str(attribute).startswith(k)), None)
        if prefix is None or not str(attribute).endswith("_TYPE_NAMES"):
            return None
        if not isinstance(names, list) or not all(
            isinstance(name, str) and name.startswith(prefix) for name in names
        ):
            return None
    return value


def _read_snapshot(key: dict[str, str]) -> dict[str, list[str]] | None:
    try:
        document = json.loads(snapshot_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("key") != key:
        return None
    return _valid_names(document.get("names"))


def _write_snapshot(key: dict[str, str], trusted: types.ModuleType) -> None:
    names = {
        attribute: list(value)
        for attribute, value in vars(trusted).items()
        if attribute.endswith("_TYPE_NAMES") and isinstance(value, list)
    }
    if _valid_names(names) is None:
        return  # a list this module does not know how to check: never recorded
    path = snapshot_path()
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial.write_text(json.dumps({"key": key, "names": names}), encoding="utf-8")
        partial.replace(path)
    except OSError:  # a read-only home: no snapshot, the ordinary import every time
        partial.unlink(missing_ok=True)


def _import_with(names: dict[str, list[str]]) -> Any:
    trusted = types.ModuleType(TRUSTED_MODULE, "skops' trusted type names (loopml snapshot)")
    for attribute, value in names.items():
        setattr(trusted, attribute, list(value))
    sys.modules[TRUSTED_MODULE] = trusted
    module: Any = import_module("skops.io")
    module._trusted_types = trusted  # where the ordinary import puts it too
    return module


def _forget_skops_io() -> None:
    for name in [m for m in sys.modules if m == "skops.io" or m.startswith("skops.io.")]:
        del sys.modules[name]
