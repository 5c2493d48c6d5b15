"""The model server's bodies as OpenAPI describes them (``/docs``, ``/openapi.json``).

The server itself reads request bodies with orjson and checks them against the model's
signature (``payloads.py``, ``oip.py``); these models only document the shapes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "FEEDBACK_REQUEST_BODY",
    "INFER_REQUEST_BODY",
    "INVOCATIONS_REQUEST_BODY",
    "ErrorBody",
    "ExplainResponse",
    "FeedbackResponse",
    "HealthBody",
    "InferResponse",
    "InvocationsResponse",
    "LogHealthBody",
    "MlflowErrorBody",
    "ModelMetadata",
    "OipErrorBody",
    "ServerMetadata",
    "VersionBody",
]


class ErrorDetail(BaseModel):
    code: str = Field(examples=["input_mismatch"])
    message: str = Field(examples=["dataframe_split.columns[3]: expected 'mean_radius'."])


class ErrorBody(BaseModel):
    """An error of loopml's own endpoints (``/health``, ``/feedback``, ``/version``)."""

    error: ErrorDetail


class MlflowErrorBody(BaseModel):
    """An error of MLflow's scoring protocol, as MLflow's clients read it."""

    error_code: str = Field(examples=["BAD_REQUEST"])
    message: str = Field(examples=["dataframe_split.columns[3]: expected 'mean_radius'."])


class OipErrorBody(BaseModel):
    """An error of the Open Inference Protocol, as the protocol defines it."""

    error: str = Field(examples=["inputs[0].data: 30 values, but shape [2, 30] holds 60"])


class DataframeSplit(BaseModel):
    columns: list[str]
    data: list[list[Any]]
    index: list[Any] | None = None


class DataframeSplitRequest(BaseModel):
    dataframe_split: DataframeSplit


class DataframeRecordsRequest(BaseModel):
    dataframe_records: list[dict[str, Any]]


class InstancesRequest(BaseModel):
    instances: list[Any] | dict[str, list[Any]]


class InputsRequest(BaseModel):
    inputs: list[Any] | dict[str, list[Any]]


class InvocationsResponse(BaseModel):
    predictions: list[Any]
    model_version: str = Field(examples=["cancer@3"])
    prediction_ids: list[str]


class ExplainResponse(BaseModel):
    """Per row, each feature's SHAP value; a row's values add up to the model's output
    minus ``expected_value`` (per class, for a multiclass model: rows × features × classes)."""

    model_version: str = Field(examples=["cancer@3"])
    method: str = Field(examples=["tree"], description="tree, linear or sampled")
    output: str = Field(
        examples=["predict_proba"],
        description="what the values add up to: raw, decision_function, predict_proba, predict",
    )
    output_names: list[str] | None = Field(examples=[["malignant"]])
    feature_names: list[str]
    expected_value: float | list[float]
    contributions: list[Any]
    orders: int | None = Field(default=None, description="feature orders sampled (sampled)")


class Tensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str = Field(examples=["FP64"])
    data: list[Any]
    parameters: dict[str, Any] | None = None


class RequestedOutput(BaseModel):
    name: str = Field(examples=["predictions"])


class InferRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[Tensor]
    outputs: list[RequestedOutput] | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    parameters: dict[str, Any]
    outputs: list[Tensor]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class LogHealthBody(BaseModel):
    status: str = Field(examples=["ok"], description="'ok', or 'stuck': rows wait too long.")
    unsent_rows: int = Field(examples=[0])
    oldest_unsent_seconds: float = Field(examples=[0.8])
    problem: str | None = Field(default=None, description="Why rows are not stored, if known.")


class HealthBody(BaseModel):
    status: str = Field(examples=["ready"])
    model_version: str = Field(examples=["cancer@3"])
    prediction_log: LogHealthBody | None = Field(
        default=None, description="The prediction log's state (absent without a log)."
    )
    refused: dict[str, str] | None = Field(
        default=None,
        description="Versions the alias named that were not swapped in, and why (they "
        "would run code the server does not trust; see --trust-code).",
        examples=[{"cancer@4": "cancer@4: This model version is a pickled model: ..."}],
    )
    drift: dict[str, Any] | None = Field(
        default=None,
        description="Live drift: on (its reference, the window's rows, when last computed), "
        "waiting (no request yet) or off (and why); absent with --no-drift.",
        examples=[{"status": "on", "reference": "models:/cancer/3 → cancer-data@2"}],
    )


class VersionBody(BaseModel):
    loopml: str
    model: str
    version: int
    model_version: str
    source: str
    flavor: str
    variant: str
    digest: str


class Label(BaseModel):
    prediction_id: str = Field(min_length=1, max_length=128, examples=["9f2c…-0"])
    label: bool | int | float | str = Field(examples=[1])


class FeedbackResponse(BaseModel):
    accepted: int = Field(examples=[1], description="Labels kept.")
    unknown: int = Field(examples=[0], description="Labels for ids no server gave out.")
    unknown_ids: list[str] = Field(examples=[[]], description="The first ten of those ids.")


def _inline(*models: type[BaseModel]) -> dict[str, Any]:
    """One JSON schema that accepts any of ``models`` (their definitions inlined)."""
    variants = []
    for model in models:
        schema = model.model_json_schema()
        definitions = schema.pop("$defs", {})
        variants.append(_resolve(schema, definitions))
    return {"oneOf": variants} if len(variants) > 1 else variants[0]


def _resolve(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            return _resolve(definitions[ref.rsplit("/", 1)[-1]], definitions)
        return {key: _resolve(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, definitions) for item in node]
    return node


INVOCATIONS_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": _inline(
                    DataframeSplitRequest, DataframeRecordsRequest, InstancesRequest, InputsRequest
                ),
                "example": {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}},
            },
            "text/csv": {"schema": {"type": "string"}, "example": "a,b\n1.0,2.0\n"},
        },
    }
}
INFER_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inline(InferRequest)}},
    }
}
FEEDBACK_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _inline(Label),
                        {"type": "array", "items": _inline(Label), "minItems": 1},
                    ]
                },
                "example": {"prediction_id": "9f2c…-0", "label": 1},
            }
        },
    }
}
