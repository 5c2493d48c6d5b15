"""What every pydantic model at the HTTP boundary is built on: strict requests that refuse
unknown fields, responses, floats that may travel as "NaN"/"Infinity" strings (see
:mod:`loopml.stores.remote.wire`), and models derived from the entities' dataclass fields.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, create_model

from loopml.core.entities import RunStatus
from loopml.stores.remote.wire import decode_float, encode_float, entity_fields

JsonFloat = Annotated[
    float,
    BeforeValidator(decode_float),
    PlainSerializer(encode_float, return_type=float | str, when_used="json"),
    Field(
        json_schema_extra={"description": 'A number, or "NaN", "Infinity", "-Infinity".'},
    ),
]
LooseRunStatus = Annotated[RunStatus, Field(strict=False)]


class RequestModel(BaseModel):
    """A request body: strict types, unknown fields refused (a 400 naming the field)."""

    model_config = ConfigDict(strict=True, extra="forbid")


class ResponseModel(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="forbid")


def entity_model(
    entity: type, name: str, base: type[BaseModel], *, exclude: Collection[str] = ()
) -> type[BaseModel]:
    """A pydantic model with the fields (types, defaults) of the dataclass ``entity``."""
    definitions: dict[str, Any] = {}
    for field in entity_fields(entity):
        if field.name not in exclude:
            kind: Any = JsonFloat if field.kind is float else field.kind
            annotation = kind | None if field.optional else kind
            definitions[field.name] = (annotation, ... if field.required else field.default)
    doc = f"A {entity.__name__}" + (f" without {', '.join(exclude)}." if exclude else ".")
    return create_model(name, __base__=base, __doc__=doc, **definitions)
