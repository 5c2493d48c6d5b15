"""skops.io imported from the snapshot of its trusted type names: a later process skips
scikit-learn's estimator scan (and pytest) yet trusts exactly what skops would, and a snapshot
that names a type outside its package, or was taken with other versions, is ignored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loopml.core.skops_files import skops_io
from loopml.core.skops_import import (
    SNAPSHOT_FILE,
    _environment_key,
    _read_snapshot,
    _valid_names,
)

# what a fresh process reports after loading both files through loopml
PROBE = """
import json, sys
from pathlib import Path
from loopml.core.errors import UntrustedCodeError
from loopml.core.skops_files import load_skops, untrusted_types

forest = load_skops(Path(sys.argv[1]))
try:
    load_skops(Path(sys.argv[2]))
    refused = False
except UntrustedCodeError:
    refused = True
print(json.dumps({
    "snapshot": not hasattr(sys.modules["skops.io._trusted_types"], "__file__"),
    "pytest": "pytest" in sys.modules,
    "forest": forest.predict([[1.0, 2.0], [30.0, 31.0]]).tolist(),
    "refused": refused,
    "untrusted": untrusted_types(Path(sys.argv[2])),
}))
"""


def _files(folder: Path) -> tuple[Path, Path]:
    """A forest (loads untrusted-free) and a pipeline that would call os.system."""
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import FunctionTransformer  # type: ignore[import-untyped]

    x = np.arange(40, dtype=float).reshape(20, 2)
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(x, np.arange(20) >= 10)
    shell = make_pipeline(FunctionTransformer(os.system), LogisticRegression())
    sio = skops_io()
    sio.dump(forest, folder / "forest.skops")
    sio.dump(shell, folder / "shell.skops")
    return folder / "forest.skops", folder / "shell.skops"


def _probe(cache: Path, forest: Path, shell: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(forest), str(shell)],
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_later_process_imports_skops_from_the_snapshot_and_trusts_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forest, shell = _files(tmp_path)
    cache = tmp_path / "cache"
    first = _probe(cache, forest, shell)
    assert not first["snapshot"] and first["pytest"]  # the ordinary import, with its scan
    snapshot = cache / "loopml" / SNAPSHOT_FILE
    recorded = json.loads(snapshot.read_text(encoding="utf-8"))
    assert (
        "sklearn.ensemble._forest.RandomForestClassifier"
        in (recorded["names"]["SKLEARN_ESTIMATOR_TYPE_NAMES"])
    )

    second = _probe(cache, forest, shell)
    assert second["snapshot"] and not second["pytest"]
    assert second["forest"] == first["forest"] == [False, True]
    assert second["refused"] and first["refused"]  # os.system still needs trust_code
    assert second["untrusted"] == first["untrusted"] and "posix.system" in second["untrusted"]

    # a tampered snapshot (a type outside scikit-learn in its list) is not used
    recorded["names"]["SKLEARN_ESTIMATOR_TYPE_NAMES"].append("posix.system")
    snapshot.write_text(json.dumps(recorded), encoding="utf-8")
    tampered = _probe(cache, forest, shell)
    assert not tampered["snapshot"] and tampered["refused"]
    assert "posix.system" not in snapshot.read_text(encoding="utf-8")  # recorded afresh

    # one taken with other versions is not used either
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    key = _environment_key()
    assert key is not None and _read_snapshot(key) is not None
    assert _read_snapshot({**key, "skops": "0.1"}) is None


@pytest.mark.parametrize(
    "names",
    [
        {"SKLEARN_ESTIMATOR_TYPE_NAMES": ["builtins.eval"]},
        {"NUMPY_UFUNC_TYPE_NAMES": ["sklearn.base.BaseEstimator"]},
        {"PRIMITIVE_TYPE_NAMES": ["posix.system"]},
        {"OTHER_TYPE_NAMES": ["sklearn.tree._tree.Tree"]},
        {"SKLEARN_ESTIMATOR_TYPE_NAMES": "sklearn.tree._tree.Tree"},
        {},
    ],
)
def test_a_snapshot_list_with_a_name_outside_its_package_is_refused(names: Any) -> None:
    assert _valid_names(names) is None


def test_lists_inside_their_packages_are_accepted() -> None:
    names = {
        "SKLEARN_ESTIMATOR_TYPE_NAMES": ["sklearn.tree._classes.DecisionTreeClassifier"],
        "NUMPY_DTYPE_TYPE_NAMES": ["numpy.float64"],
        "CONTAINER_TYPE_NAMES": ["builtins.list"],
    }
    assert _valid_names(names) == names
