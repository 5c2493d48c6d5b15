"""Data: versioned datasets, table profiles, schemas and validation.

>>> import loopml.data
>>> loopml.data.add("iris", "data/iris.csv", message="first cut")  # doctest: +SKIP
>>> loopml.data.get("iris@latest").to_arrow()  # doctest: +SKIP
"""

from loopml.data.profiles import TableProfile
from loopml.data.schema import Schema, SchemaError, infer_schema, schema_from_yaml, schema_to_yaml
from loopml.data.tables import TableFormatError
from loopml.data.validation import ValidationReport, validate
from loopml.data.versions import (
    AddResult,
    VersionHandle,
    add,
    get,
    list_datasets,
    log,
    remove,
    validate_files,
)

__all__ = [
    "AddResult",
    "Schema",
    "SchemaError",
    "TableFormatError",
    "TableProfile",
    "ValidationReport",
    "VersionHandle",
    "add",
    "get",
    "infer_schema",
    "list_datasets",
    "log",
    "remove",
    "schema_from_yaml",
    "schema_to_yaml",
    "validate",
    "validate_files",
]
