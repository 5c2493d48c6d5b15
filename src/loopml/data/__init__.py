"""Data: versioned datasets, table profiles, schemas and validation.

>>> import loopml.data
>>> loopml.data.add("iris", "data/iris.csv", message="first cut")  # doctest: +SKIP
>>> loopml.data.get("iris@latest").to_arrow()  # doctest: +SKIP
>>> loopml.data.diff("iris@1", "iris@2").table("iris.csv").schema_changes  # doctest: +SKIP

Names are imported on first use, so commands that only list and hash files (``status``, adding
files that are not tables) never import pyarrow or numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loopml.data.profiles import TableProfile
    from loopml.data.schema import (
        Schema,
        SchemaError,
        infer_schema,
        schema_from_yaml,
        schema_to_yaml,
    )
    from loopml.data.tables import TableFormatError
    from loopml.data.validation import ValidationReport, validate
    from loopml.data.version_diff import DatasetDiff, diff
    from loopml.data.versions import (
        AddResult,
        DatasetStatus,
        VersionHandle,
        add,
        get,
        list_datasets,
        log,
        remove,
        status,
        validate_files,
    )

_HOMES = {
    "loopml.data.version_diff": ("DatasetDiff", "diff"),
    "loopml.data.profiles": ("TableProfile",),
    "loopml.data.schema": (
        "Schema",
        "SchemaError",
        "infer_schema",
        "schema_from_yaml",
        "schema_to_yaml",
    ),
    "loopml.data.tables": ("TableFormatError",),
    "loopml.data.validation": ("ValidationReport", "validate"),
    "loopml.data.versions": (
        "AddResult",
        "DatasetStatus",
        "VersionHandle",
        "add",
        "get",
        "list_datasets",
        "log",
        "remove",
        "status",
        "validate_files",
    ),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "AddResult",
    "DatasetDiff",
    "DatasetStatus",
    "Schema",
    "SchemaError",
    "TableFormatError",
    "TableProfile",
    "ValidationReport",
    "VersionHandle",
    "add",
    "diff",
    "get",
    "infer_schema",
    "list_datasets",
    "log",
    "remove",
    "schema_from_yaml",
    "schema_to_yaml",
    "status",
    "validate",
    "validate_files",
]


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'loopml.data' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
