"""Materializers: every built-in type round-trips through files without pickle, the choice is
made by type before a plan runs, and a registration overrides the defaults."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import loopml
from loopml.core.errors import InvalidInputError
from loopml.pipelines.materializers import Materializers


def round_trip(value: object, tmp_path: Path, name: str) -> Any:
    registry = Materializers.default()
    materializer = registry.for_type(type(value))
    assert materializer.name == name
    folder = tmp_path / name
    folder.mkdir(parents=True)
    materializer.write(value, folder)
    return registry.by_name(name).read(folder)


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, "x", None, True], "nested": {"t": (1, 2)}},
        [1, 2, 3],
        "text",
        7,
        2.5,
        False,
        None,
        (1, "two", [3]),
    ],
)
def test_plain_data_round_trips_as_json(value: object, tmp_path: Path) -> None:
    assert round_trip(value, tmp_path, "json") == value


def test_non_finite_floats_survive_json(tmp_path: Path) -> None:
    back = round_trip({"nan": math.nan, "inf": [math.inf, -math.inf]}, tmp_path, "json")
    assert math.isnan(back["nan"]) and back["inf"] == [math.inf, -math.inf]


def test_json_refuses_what_it_cannot_write_and_names_the_type(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="of type dict cannot be written as JSON"):
        round_trip({1: "integer key"}, tmp_path, "json")


def test_numpy_arrays_round_trip_without_pickle(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    back = round_trip(array, tmp_path, "numpy")
    assert back.dtype == np.float32 and np.array_equal(back, array)
    with pytest.raises(InvalidInputError, match="dtype object cannot be stored without pickle"):
        round_trip(np.array([{"a": 1}], dtype=object), tmp_path / "o", "numpy")


def test_arrow_tables_round_trip_as_parquet(tmp_path: Path) -> None:
    table = pa.table({"x": [1, 2, None], "y": ["a", "b", "c"]})
    back = round_trip(table, tmp_path, "arrow")
    assert back.equals(table)
    assert (tmp_path / "arrow" / "table.parquet").is_file()


def test_pandas_and_polars_frames_round_trip_as_parquet(tmp_path: Path) -> None:
    import pandas as pd
    import polars as pl

    frame = pd.DataFrame({"x": [1.5, 2.5], "y": ["a", "b"]}, index=[10, 20])
    pd.testing.assert_frame_equal(round_trip(frame, tmp_path, "pandas"), frame)
    fast = pl.DataFrame({"x": [1, 2, None], "y": ["a", "b", "c"]})
    back = round_trip(fast, tmp_path, "polars")
    assert isinstance(back, pl.DataFrame) and back.equals(fast)
    assert (tmp_path / "polars" / "frame.parquet").is_file()


def test_an_unknown_type_names_itself_and_the_registered_ones() -> None:
    class Opaque:
        pass

    with pytest.raises(InvalidInputError, match=r"No materializer handles .*Opaque\. Registered: "):
        Materializers.default().for_type(Opaque)


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


class PointMaterializer:
    name = "point"

    def handles(self, value_type: type) -> bool:
        return issubclass(value_type, Point)

    def write(self, value: Any, folder: Path) -> None:
        (folder / "x.txt").write_text(str(value.x), encoding="utf-8")

    def read(self, folder: Path) -> Any:
        return Point(int((folder / "x.txt").read_text(encoding="utf-8")))


@loopml.step
def make_point(*, x: int = 1) -> Point:
    return Point(x)


@loopml.step
def norm(point: Point) -> float:
    return float(abs(point.x))


@loopml.pipeline
def points(x: int = 3) -> float:
    return norm(make_point(x=x))


def test_a_plan_whose_outputs_nobody_can_store_is_refused_before_running() -> None:
    registry = Materializers.default()
    with pytest.raises(InvalidInputError, match="Step 'make_point' returns Point, which no"):
        registry.check_plan(points.plan())
    registry.register(PointMaterializer())
    registry.check_plan(points.plan())  # now every output has a home
    assert registry.for_type(Point).name == "point"


@loopml.step
def make_anything(*, x: int = 1) -> Any:
    return [x]


@loopml.pipeline
def anything(x: int = 3) -> Any:
    return make_anything(x=x)


def test_a_step_returning_any_is_checked_on_its_value_not_refused_before_running() -> None:
    # typing.Any is a class since Python 3.11: it must still mean "decided at run time"
    Materializers.default().check_plan(anything.plan())


def test_a_registration_overrides_the_defaults(tmp_path: Path) -> None:
    class UpperJson:
        name = "upper"

        def handles(self, value_type: type) -> bool:
            return value_type is str

        def write(self, value: Any, folder: Path) -> None:
            (folder / "s.txt").write_text(value.upper(), encoding="utf-8")

        def read(self, folder: Path) -> Any:
            return (folder / "s.txt").read_text(encoding="utf-8")

    registry = Materializers.default()
    registry.register(UpperJson())
    assert registry.for_type(str).name == "upper"
    assert registry.for_type(dict).name == "json"
    assert registry.names()[0] == "upper"


def test_scikit_learn_models_round_trip_through_skops_without_a_trusted_list(
    tmp_path: Path,
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    features = np.arange(40, dtype=float).reshape(20, 2)
    labels = np.arange(20) % 2
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(features, labels)
    back = round_trip(model, tmp_path, "sklearn")
    assert np.array_equal(back.predict(features), model.predict(features))
    assert not (tmp_path / "sklearn" / "trusted.json").exists()  # loading never asks one
    assert not list((tmp_path / "sklearn").glob("*.pkl"))
