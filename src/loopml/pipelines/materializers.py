"""Materializers: how a step output of a given type is written to files and read back.

Between steps, outputs travel through the artifact store as a folder (a tree object): the
materializer writes the value's files into an empty folder and reads them back from one; the
runner records which materializer wrote a folder, so a reader never guesses. Nothing is ever
pickled: JSON for plain data, ``.npy`` without pickle for numpy arrays, Parquet for tables,
skops for scikit-learn models.

Which materializer a type gets is decided before a plan runs, from the steps' return
annotations (:meth:`Materializers.check_plan`), so an output nobody can store fails first.

>>> registry = Materializers.default()
>>> registry.for_type(dict).name
'json'
"""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from loopml.core.errors import InvalidInputError
from loopml.pipelines.plan import Plan

__all__ = ["Materializer", "Materializers"]


class Materializer(Protocol):
    """Writes values of some types to a folder and reads them back."""

    @property
    def name(self) -> str: ...

    def handles(self, value_type: type) -> bool: ...

    def write(self, value: Any, folder: Path) -> None: ...

    def read(self, folder: Path) -> Any: ...


def _qualified(value_type: type) -> set[str]:
    """``module.Qualname`` of the type and its bases (no import of optional libraries)."""
    return {f"{t.__module__}.{t.__qualname__}" for t in getattr(value_type, "__mro__", ())}


@dataclass(frozen=True)
class JsonMaterializer:
    """dict, list, tuple, str, int, float, bool and None → ``value.json`` (NaN/±inf kept)."""

    name: str = "json"

    def handles(self, value_type: type) -> bool:
        return value_type in (dict, list, tuple, str, int, float, bool, type(None))

    def write(self, value: Any, folder: Path) -> None:
        try:
            text = json.dumps(_encode(value), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"A step output of type {type(value).__name__} cannot be written as JSON: {exc}."
            ) from exc
        (folder / "value.json").write_text(text, encoding="utf-8")

    def read(self, folder: Path) -> Any:
        return _decode(json.loads((folder / "value.json").read_text(encoding="utf-8")))


_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _encode(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {
            "$float": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        }
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("dict keys must be strings")
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(item) for item in value]}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$float"}:
            return _FLOATS[value["$float"]]
        if set(value) == {"$tuple"}:
            return tuple(_decode(item) for item in value["$tuple"])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


@dataclass(frozen=True)
class NumpyMaterializer:
    """numpy arrays → ``array.npy`` (object arrays are refused: they would need pickle)."""

    name: str = "numpy"

    def handles(self, value_type: type) -> bool:
        return "numpy.ndarray" in _qualified(value_type)

    def write(self, value: Any, folder: Path) -> None:
        import numpy as np

        if value.dtype == object:
            raise InvalidInputError(
                "A numpy array of dtype object cannot be stored without pickle; convert it to "
                "a numeric or string dtype, or return a pyarrow table."
            )
        np.save(folder / "array.npy", value, allow_pickle=False)

    def read(self, folder: Path) -> Any:
        import numpy as np

        return np.load(folder / "array.npy", allow_pickle=False)


@dataclass(frozen=True)
class ArrowMaterializer:
    """pyarrow tables → ``table.parquet``."""

    name: str = "arrow"

    def handles(self, value_type: type) -> bool:
        return "pyarrow.lib.Table" in _qualified(value_type)

    def write(self, value: Any, folder: Path) -> None:
        import pyarrow.parquet as pq

        pq.write_table(value, folder / "table.parquet")

    def read(self, folder: Path) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(folder / "table.parquet")


@dataclass(frozen=True)
class PandasMaterializer:
    """pandas DataFrames → ``frame.parquet`` (through pyarrow, index kept)."""

    name: str = "pandas"

    def handles(self, value_type: type) -> bool:
        names = _qualified(value_type)  # pandas 3 calls its DataFrame pandas.DataFrame
        return "pandas.DataFrame" in names or "pandas.core.frame.DataFrame" in names

    def write(self, value: Any, folder: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pandas(value), folder / "frame.parquet")

    def read(self, folder: Path) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(folder / "frame.parquet").to_pandas()


@dataclass(frozen=True)
class PolarsMaterializer:
    """polars DataFrames → ``frame.parquet`` (polars' own writer)."""

    name: str = "polars"

    def handles(self, value_type: type) -> bool:
        names = _qualified(value_type)
        return "polars.DataFrame" in names or "polars.dataframe.frame.DataFrame" in names

    def write(self, value: Any, folder: Path) -> None:
        value.write_parquet(folder / "frame.parquet")

    def read(self, folder: Path) -> Any:
        import polars

        return polars.read_parquet(folder / "frame.parquet")


@dataclass(frozen=True)
class SklearnMaterializer:
    """scikit-learn estimators → ``model.skops`` (never pickle). Reading builds only the types
    skops trusts by default and loopml's allowlist (:mod:`loopml.core.skops_files`), decided
    from the file itself; any other type needs ``trust_code`` (``--trust-code``). A
    ``trusted.json`` that older versions wrote beside the file is never read: whoever can write
    to the artifact store could forge it."""

    name: str = "sklearn"
    trust_code: bool = False

    def handles(self, value_type: type) -> bool:
        return "sklearn.base.BaseEstimator" in _qualified(value_type)

    def write(self, value: Any, folder: Path) -> None:
        _skops().dump(value, folder / "model.skops")

    def read(self, folder: Path) -> Any:
        from loopml.core.skops_files import load_skops

        return load_skops(folder / "model.skops", trust_code=self.trust_code)


def _skops() -> Any:
    try:
        import skops.io as sio  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as exc:
        raise InvalidInputError(
            "Storing a scikit-learn model between steps needs skops: pip install 'loopml[sklearn]'."
        ) from exc
    return sio


class Materializers:
    """Materializers by type: the first registered one that handles a type wins, and the ones
    registered later are asked first (so a registration overrides the defaults)."""

    def __init__(self, materializers: Iterable[Materializer] = ()) -> None:
        self._items: list[Materializer] = list(materializers)

    @classmethod
    def default(cls, *, trust_code: bool = False) -> Materializers:
        """The built-in materializers; ``trust_code`` lets the scikit-learn one build types
        outside loopml's allowlist (building them can run code)."""
        from loopml.pipelines.datasets import DatasetVersionMaterializer

        return cls(
            [
                JsonMaterializer(),
                NumpyMaterializer(),
                ArrowMaterializer(),
                PandasMaterializer(),
                PolarsMaterializer(),
                SklearnMaterializer(trust_code=trust_code),
                DatasetVersionMaterializer(),
            ]
        )

    def trusting_code(self, trust_code: bool) -> Materializers:
        """These materializers, with the built-in scikit-learn one trusting code or not."""
        return Materializers(
            replace(item, trust_code=trust_code) if isinstance(item, SklearnMaterializer) else item
            for item in self._items
        )

    def register(self, materializer: Materializer) -> None:
        """Use ``materializer`` for the types it handles, before any registered earlier."""
        self._items.insert(0, materializer)

    def by_name(self, name: str) -> Materializer:
        for item in self._items:
            if item.name == name:
                return item
        raise InvalidInputError(
            f"No materializer is named {name!r}; registered: {', '.join(self.names())}."
        )

    def names(self) -> list[str]:
        return [item.name for item in self._items]

    def for_type(self, value_type: type) -> Materializer:
        found = self._find(value_type)
        if found is None:
            raise InvalidInputError(
                f"No materializer handles {value_type.__module__}.{value_type.__qualname__}. "
                f"Registered: {', '.join(self.names())}; register one for the type "
                "(Materializers.register), or return one of the types they handle."
            )
        return found

    def check_plan(self, plan: Plan) -> None:
        """Refuse a plan with a step whose declared return type no materializer handles."""
        for call in plan.calls:
            returns = call.step.returns
            origin = typing.get_origin(returns) or returns
            if returns is None or returns is Any or not isinstance(origin, type):
                continue  # not annotated (or a union / Any): checked on the value at run time
            if self._find(origin) is None:
                raise InvalidInputError(
                    f"Step {call.step.name!r} returns {origin.__qualname__}, which no "
                    f"materializer handles (registered: {', '.join(self.names())}). Register "
                    "one for the type before running the pipeline."
                )

    def _find(self, value_type: type) -> Materializer | None:
        return next((item for item in self._items if item.handles(value_type)), None)
