"""Flavors: how a kind of model is written to files and read back — never by unpickling.

- ``sklearn``: scikit-learn estimators as skops files. Loading reads from the file which types
  it names and builds them only if skops trusts them by default or they are on loopml's own
  allowlist (:mod:`loopml.core.skops_files`); anything else needs ``trust_code``. (The list
  recorded in the manifest at save is informational: a forged one widens nothing.)
- ``xgboost`` / ``lightgbm``: their own file formats (UBJSON / text); loading rebuilds one of
  a fixed list of their classes.
- ``onnx``: an ``onnx.ModelProto``, checked and stored as ``model.onnx``; loaded into an
  ONNX Runtime session (``predict`` / ``predict_proba``).
- ``python_function``: a reference to importable code (``package.module:callable``) plus data
  files; loading imports the code the environment already has.
- ``pickle``: anything else, only with ``allow_pickle=True`` at registration.

A ``module:callable`` reference is code exactly like a pickle: whoever registered the version
chose what runs. Both load only when the caller trusts code (``trust_code=True``,
``--trust-code``), with a warning; otherwise UntrustedCodeError, before anything is imported
or unpickled.
"""

from __future__ import annotations

import importlib
import shutil
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from loopml.core.errors import InvalidInputError, UntrustedCodeError
from loopml.core.skops_files import TRUST_CODE_HINT, load_skops, skops_io

__all__ = ["CODE_FLAVORS", "Flavor", "PythonFunction", "flavor_for", "flavor_named"]


class Flavor(Protocol):
    @property
    def name(self) -> str: ...

    def handles(self, model: object) -> bool: ...

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        """Write the model's files into ``folder``; return what loading needs to know."""
        ...

    def load(self, folder: Path, details: Mapping[str, Any], *, trust_code: bool = False) -> Any:
        """Read the model back; ``trust_code`` lets a flavor build what can run code."""
        ...

    def requirements(self) -> list[str]:
        """Pinned pip requirements for loading the model elsewhere."""
        ...


def _pinned(*distributions: str) -> list[str]:
    pins = []
    for name in distributions:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


@dataclass(frozen=True)
class SklearnFlavor:
    name: str = "sklearn"

    def handles(self, model: object) -> bool:
        return any(
            f"{t.__module__}.{t.__qualname__}" == "sklearn.base.BaseEstimator"
            for t in type(model).__mro__
        )

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        sio = skops_io()
        sio.dump(model, folder / "model.skops")
        return {
            "file": "model.skops",
            "trusted": sorted(sio.get_untrusted_types(file=folder / "model.skops")),
        }

    def load(self, folder: Path, details: Mapping[str, Any], *, trust_code: bool = False) -> Any:
        # details["trusted"] (recorded at save) is not asked: the file says what it holds
        return load_skops(folder / str(details.get("file", "model.skops")), trust_code=trust_code)

    def requirements(self) -> list[str]:
        return _pinned("scikit-learn", "skops", "numpy")


def _class_in(model: object, package: str, allowed: frozenset[str]) -> str | None:
    """The name of the first class of ``model`` (or its bases) that ``package`` defines and
    ``allowed`` lists."""
    for kind in type(model).__mro__:
        if kind.__module__.split(".")[0] == package and kind.__name__ in allowed:
            return kind.__name__
    return None


_XGBOOST_CLASSES = frozenset(
    {"XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor", "Booster"}
)


@dataclass(frozen=True)
class XGBoostFlavor:
    """XGBoost models in XGBoost's own format (UBJSON); loading rebuilds one of a fixed list
    of XGBoost classes and reads the file into it."""

    name: str = "xgboost"

    def handles(self, model: object) -> bool:
        return _class_in(model, "xgboost", _XGBOOST_CLASSES) is not None

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        model.save_model(str(folder / "model.ubj"))
        return {"file": "model.ubj", "class": _class_in(model, "xgboost", _XGBOOST_CLASSES)}

    def load(self, folder: Path, details: Mapping[str, Any], *, trust_code: bool = False) -> Any:
        import xgboost  # type: ignore[import-untyped,import-not-found,unused-ignore]

        name = str(details.get("class"))
        if name not in _XGBOOST_CLASSES:
            raise InvalidInputError(f"Unknown XGBoost model class {name!r} in the manifest.")
        model = getattr(xgboost, name)()
        model.load_model(str(folder / str(details.get("file", "model.ubj"))))
        return model

    def requirements(self) -> list[str]:
        pins = _pinned("xgboost")
        return pins if "==" in pins[0] else _pinned("xgboost-cpu")


_LIGHTGBM_CLASSES = frozenset({"LGBMClassifier", "LGBMRegressor", "LGBMRanker", "Booster"})


@dataclass(frozen=True)
class LoadedLightGBM:
    """A LightGBM booster read back from its text file, with the scikit-learn-style
    ``predict`` (labels for classifiers) and ``predict_proba``."""

    booster: Any
    classes: tuple[Any, ...] | None  # the labels of a classifier, else None

    def predict_proba(self, inputs: Any) -> Any:
        import numpy as np

        raw = np.asarray(self.booster.predict(inputs))
        return np.column_stack([1 - raw, raw]) if raw.ndim == 1 else raw

    def predict(self, inputs: Any) -> Any:
        import numpy as np

        if self.classes is None:
            return self.booster.predict(inputs)
        return np.asarray(self.classes)[np.argmax(self.predict_proba(inputs), axis=1)]


@dataclass(frozen=True)
class LightGBMFlavor:
    """LightGBM models as LightGBM's text model file (plus a classifier's labels)."""

    name: str = "lightgbm"

    def handles(self, model: object) -> bool:
        return _class_in(model, "lightgbm", _LIGHTGBM_CLASSES) is not None

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        kind = _class_in(model, "lightgbm", _LIGHTGBM_CLASSES)
        booster = model if kind == "Booster" else model.booster_
        booster.save_model(str(folder / "model.txt"))
        classes = getattr(model, "classes_", None)
        details: dict[str, Any] = {"file": "model.txt", "class": kind}
        if classes is not None:
            details["classes"] = [c.item() if hasattr(c, "item") else c for c in classes]
        return details

    def load(self, folder: Path, details: Mapping[str, Any], *, trust_code: bool = False) -> Any:
        import lightgbm  # type: ignore[import-untyped,import-not-found,unused-ignore]

        booster = lightgbm.Booster(model_file=str(folder / str(details.get("file", "model.txt"))))
        if details.get("class") == "Booster":
            return booster
        classes = details.get("classes")
        return LoadedLightGBM(booster, tuple(classes) if classes is not None else None)

    def requirements(self) -> list[str]:
        return _pinned("lightgbm", "numpy")


@dataclass(frozen=True)
class PythonFunction:
    """A model that is code: ``ref`` names ``package.module:callable`` taking the inputs (and,
    when ``data`` is given, the folder of its data files as keyword ``data``)."""

    ref: str
    data: Path | None = None
    requirements: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadedFunction:
    """A loaded python_function model: call it or use ``predict``."""

    fn: Callable[..., Any]
    data: Path | None

    def predict(self, inputs: Any) -> Any:
        return self.fn(inputs, data=self.data) if self.data is not None else self.fn(inputs)

    __call__ = predict


def _import(ref: str) -> Callable[..., Any]:
    module, sep, attribute = ref.partition(":")
    if not sep or not module or not attribute:
        raise InvalidInputError(f"Invalid code reference {ref!r}: write package.module:callable.")
    try:
        found: Any = importlib.import_module(module)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInputError(f"Cannot import {ref!r}: {exc}.") from exc
    if not callable(found):
        raise InvalidInputError(f"{ref!r} is not callable.")
    return found  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PythonFunctionFlavor:
    name: str = "python_function"

    def handles(self, model: object) -> bool:
        return isinstance(model, PythonFunction)

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        _import(model.ref)  # refuse a reference that does not import here and now
        details: dict[str, Any] = {"ref": model.ref}
        if model.data is not None:
            source = Path(model.data)
            if source.is_dir():
                shutil.copytree(source, folder / "data")
            elif source.is_file():
                (folder / "data").mkdir()
                shutil.copy2(source, folder / "data" / source.name)
            else:
                raise InvalidInputError(f"The data of the python_function model, {source}, "
                                        "does not exist.")  # fmt: skip
            details["data"] = "data"
        return details

    def load(self, folder: Path, details: Mapping[str, Any], *, trust_code: bool = False) -> Any:
        _require_trust(self.name, trust_code)
        data = folder / str(details["data"]) if details.get("data") else None
        return LoadedFunction(_import(str(details["ref"])), data)

    def requirements(self) -> list[str]:
        return []


@dataclass(frozen=True)
class PickleFlavor:
    """Any object, pickled — only when the caller opts in: ``allow_pickle`` at registration,
    ``trust_code`` at load (unpickling runs whatever code the file names)."""

    name: str = "pickle"

    def handles(self, model: object) -> bool:
        return True

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        import pickle

        (folder / "model.pkl").write_bytes(pickle.dumps(model, protocol=5))
        return {"file": "model.pkl"}

    def load(self, folder: Path, details: Mapping[str, Any], *, trust_code: bool = False) -> Any:
        import pickle

        _require_trust(self.name, trust_code)
        return pickle.loads((folder / str(details.get("file", "model.pkl"))).read_bytes())

    def requirements(self) -> list[str]:
        return []


@dataclass(frozen=True)
class OnnxFlavor:
    """ONNX models (an ``onnx.ModelProto``), checked by ONNX's checker when saved and run
    with ONNX Runtime when loaded."""

    name: str = "onnx"

    def handles(self, model: object) -> bool:
        kind = type(model)
        return kind.__module__.split(".")[0] == "onnx" and kind.__name__ == "ModelProto"

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        import onnx  # present: the model is one of its objects

        try:
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as exc:
            raise InvalidInputError(f"The ONNX model is not valid: {exc}") from exc
        (folder / ONNX_FILE).write_bytes(model.SerializeToString())
        return {"file": ONNX_FILE}

    def load(self, folder: Path, details: Mapping[str, Any], *, trust_code: bool = False) -> Any:
        from loopml.models.onnx import OnnxModel

        return OnnxModel(folder / str(details.get("file", ONNX_FILE)))

    def requirements(self) -> list[str]:
        return _pinned("onnxruntime")


ONNX_FILE = "model.onnx"
PICKLE = PickleFlavor()
CODE_FLAVORS = frozenset({PICKLE.name, PythonFunctionFlavor.name})  # loading them runs code
_FLAVORS: tuple[Flavor, ...] = (
    XGBoostFlavor(),  # before sklearn: XGBoost's and LightGBM's wrappers are estimators too
    LightGBMFlavor(),
    SklearnFlavor(),
    OnnxFlavor(),
    PythonFunctionFlavor(),
)


def flavor_for(model: object, *, allow_pickle: bool = False) -> Flavor:
    """The flavor that stores ``model`` (pickle only with ``allow_pickle``);
    InvalidInputError naming the type otherwise."""
    for flavor in _FLAVORS:
        if flavor.handles(model):
            return flavor
    if allow_pickle:
        return PICKLE
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    raise InvalidInputError(
        f"No flavor stores a {kind}. Flavors: {', '.join(f.name for f in _FLAVORS)}; wrap code "
        "as loopml.models.PythonFunction('package.module:predict', data=...), or, for a model "
        "only you will load, opt in to pickle with allow_pickle=True."
    )


def flavor_named(name: str, *, trust_code: bool = False) -> Flavor:
    """The flavor called ``name``. A flavor whose loading runs code the version names
    (:data:`CODE_FLAVORS`) raises UntrustedCodeError unless ``trust_code``, then warns."""
    if name in CODE_FLAVORS:
        _require_trust(name, trust_code)
        warnings.warn(
            f"Loading {_describe(name)} model because code is trusted (trust_code=True): it "
            "runs whatever code the version names.",
            UserWarning,
            stacklevel=3,
        )
    for flavor in (*_FLAVORS, PICKLE):
        if flavor.name == name:
            return flavor
    raise InvalidInputError(
        f"Unknown model flavor {name!r} (this loopml knows "
        f"{', '.join(f.name for f in _FLAVORS)}); upgrade loopml to load it."
    )


def _describe(name: str) -> str:
    return "a pickled" if name == PICKLE.name else "a python_function (package.module:callable)"


def _require_trust(name: str, trust_code: bool) -> None:
    if not trust_code:
        raise UntrustedCodeError(
            f"This model version is {_describe(name)} model: loading it runs code that whoever "
            f"registered it chose. Load it only if you trust them, with {TRUST_CODE_HINT}."
        )
