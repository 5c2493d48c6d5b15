"""Loading a model that runs code needs ``trust_code``: a pickle, a ``module:callable``, a
skops file naming types outside loopml's allowlist — whatever list was recorded beside it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loopml.core.errors import UntrustedCodeError
from loopml.core.skops_files import ALLOWED_TYPES
from loopml.models.flavors import PythonFunctionFlavor, SklearnFlavor, flavor_named


def _forest() -> Any:
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]

    x = np.arange(40, dtype=float).reshape(20, 2)
    return RandomForestClassifier(n_estimators=2, random_state=0).fit(x, np.arange(20) % 2), x


def _shell_pipeline() -> Any:
    """A pipeline whose first step would call ``os.system`` on its input."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import FunctionTransformer  # type: ignore[import-untyped]

    return make_pipeline(FunctionTransformer(os.system), LogisticRegression())


def test_a_forest_loads_without_trusting_code(tmp_path: Path) -> None:
    forest, x = _forest()
    details = SklearnFlavor().save(forest, tmp_path)
    assert set(details["trusted"]) <= ALLOWED_TYPES
    back = SklearnFlavor().load(tmp_path, details)
    assert np.array_equal(back.predict(x), forest.predict(x))


def test_a_forged_trusted_list_widens_nothing(tmp_path: Path) -> None:
    details = SklearnFlavor().save(_shell_pipeline(), tmp_path)
    assert "posix.system" in details["trusted"]  # what the writer recorded, and could forge
    forged = {**details, "trusted": [*details["trusted"], "builtins.eval", "builtins.exec"]}
    with pytest.raises(UntrustedCodeError, match=r"posix.system.*--trust-code") as caught:
        SklearnFlavor().load(tmp_path, forged)
    assert caught.value.code == "untrusted_code" and caught.value.http_status == 403
    with pytest.warns(UserWarning, match=r"outside loopml's allowlist \(posix.system\)"):
        back = SklearnFlavor().load(tmp_path, {"file": "model.skops"}, trust_code=True)
    assert back.steps[0][1].func is os.system


@pytest.mark.parametrize("name", ["pickle", "python_function"])
def test_code_flavors_are_refused_unless_code_is_trusted_then_warn(name: str) -> None:
    with pytest.raises(UntrustedCodeError, match=r"runs code .* with trust_code=True"):
        flavor_named(name)
    with pytest.warns(UserWarning, match=r"because code is trusted"):
        assert flavor_named(name, trust_code=True).name == name
    assert flavor_named("sklearn").name == "sklearn"  # no warning: filterwarnings = error


def test_a_python_function_is_not_imported_without_trust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "marks_import.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\npredict = len\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UntrustedCodeError):
        PythonFunctionFlavor().load(tmp_path, {"ref": "marks_import:predict"})
    assert not marker.exists()
    loaded = PythonFunctionFlavor().load(tmp_path, {"ref": "marks_import:predict"}, trust_code=True)
    assert marker.exists() and loaded.predict([1, 2]) == 2
