"""The model server's endpoints: MLflow's scoring protocol, the Open Inference Protocol REST
surface, health, version and metrics.

Every prediction answers with the version that produced it (``model_version`` and the
``x-loopml-model-version`` header) and one prediction id per row; every response carries an
``x-request-id`` (the client's, when it sent a usable one).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response

from loopml.core.errors import ConflictError, NotFoundError
from loopml.core.ids import new_id
from loopml.core.version import __version__
from loopml.monitoring.log_records import prediction_ids
from loopml.serving.content_encoding import decode_body
from loopml.serving.errors import ModelNotReadyError, PayloadTooLargeError
from loopml.serving.feedback import parse_feedback, split_issued
from loopml.serving.holder import ModelHolder, ServedModel
from loopml.serving.metrics import ServingMetrics
from loopml.serving.oip import InferRequest, infer_response, model_metadata, parse_infer
from loopml.serving.oip_binary import (
    HEADER_LENGTH,
    decode_binary_request,
    encode_binary_response,
    wants_binary_output,
)
from loopml.serving.options import ServeOptions
from loopml.serving.payloads import parse_invocation
from loopml.serving.schemas import (
    FEEDBACK_REQUEST_BODY,
    INFER_REQUEST_BODY,
    INVOCATIONS_REQUEST_BODY,
    ErrorBody,
    FeedbackResponse,
    HealthBody,
    InferResponse,
    InvocationsResponse,
    MlflowErrorBody,
    ModelMetadata,
    OipErrorBody,
    ServerMetadata,
    VersionBody,
)
from loopml.serving.traffic import Traffic

__all__ = [
    "ServingState",
    "infer_answer",
    "infer_body",
    "invocation_answer",
    "json_body",
    "json_response",
    "read_chunks",
    "router",
    "usable_request_id",
]

VERSION_HEADER = "x-loopml-model-version"
REQUEST_ID_HEADER = "x-request-id"
INLINE_PARSE_BYTES = 256 * 1024  # larger bodies are parsed in a thread, off the event loop
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024  # read (and drop) this much of a too-large body, so the
# client gets the 413 instead of a reset connection
_USABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "The request is wrong; the message says how."},
    503: {"model": ErrorBody, "description": "The model is not loaded yet."},
}
_MLFLOW_ERRORS: dict[int | str, dict[str, Any]] = {
    key: {**value, "model": MlflowErrorBody} for key, value in _ERRORS.items()
}
_OIP_ERRORS: dict[int | str, dict[str, Any]] = {
    key: {**value, "model": OipErrorBody} for key, value in _ERRORS.items()
}
T = TypeVar("T")

router = APIRouter()


@dataclass(frozen=True)
class ServingState:
    """What the endpoints share, kept on ``app.state.serving``."""

    traffic: Traffic
    metrics: ServingMetrics
    options: ServeOptions

    @property
    def holder(self) -> ModelHolder:
        """The holder of the main traffic's model."""
        return self.traffic.main


def _state(request: Request) -> ServingState:
    state: ServingState = request.app.state.serving
    return state


def json_body(content: Any) -> bytes:
    """``content`` as JSON, numpy arrays included."""
    import orjson

    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY, default=_plain)


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = json_body(content)
    return Response(body, status_code=status_code, headers=headers, media_type="application/json")


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def request_id(request: Request) -> str:
    """The client's ``x-request-id`` when it is a short token, else a new id."""
    rid = usable_request_id(request.headers.get(REQUEST_ID_HEADER))
    request.state.request_id = rid
    return rid


def usable_request_id(given: str | None) -> str:
    """``given`` (the client's ``x-request-id``) when it is a short token, else a new id."""
    return given if given and _USABLE_REQUEST_ID.match(given) else new_id()


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 once it is larger than ``limit`` (before any parsing), and
    decompressed (``Content-Encoding``) to at most ``limit`` bytes."""
    headers = request.headers
    return await read_chunks(
        request.stream(),
        headers.get("content-length", ""),
        limit,
        content_encoding=headers.get("content-encoding"),
    )


async def read_chunks(
    stream: AsyncIterator[bytes],
    declared: str,
    limit: int,
    *,
    content_encoding: str | None = None,
) -> bytes:
    """The body from ``stream`` (``declared``: its Content-Length, or ""), refused with 413
    once it is larger than ``limit``; decompressed as ``content_encoding`` says."""
    body = await _read_raw(stream, declared, limit)
    if not content_encoding or content_encoding.strip().lower() == "identity":
        return body
    return await _parse(body, lambda: decode_body(body, content_encoding, limit))


async def _read_raw(stream: AsyncIterator[bytes], declared: str, limit: int) -> bytes:
    too_large = declared.isdigit() and int(declared) > limit
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            too_large = True
        if too_large:
            if size > limit + DRAIN_LIMIT_BYTES:
                break
            continue
        chunks.append(chunk)
    if too_large:
        raise PayloadTooLargeError(
            f"The body is {declared if declared.isdigit() else 'more than ' + str(limit)} "
            f"bytes; this server takes at most {limit} bytes per request (--max-body-bytes). "
            "Send fewer rows per request."
        )
    return b"".join(chunks)


async def _parse(body: bytes, parse: Callable[[], T]) -> T:
    if len(body) > INLINE_PARSE_BYTES:
        return await asyncio.to_thread(parse)
    return parse()


def _answer_headers(model: ServedModel, rid: str) -> dict[str, str]:
    return {VERSION_HEADER: model.label, REQUEST_ID_HEADER: rid}


def _numbers(predictions: Any) -> Any:
    """Predictions as orjson writes them fastest: numeric arrays as they are."""
    if predictions.dtype.kind in "biuf" and predictions.flags.c_contiguous:
        return predictions
    return predictions.tolist()


# -- MLflow scoring ---------------------------------------------------------------------------


@router.post(
    "/invocations",
    summary="Predict (MLflow scoring protocol)",
    openapi_extra=INVOCATIONS_REQUEST_BODY,
    responses={200: {"model": InvocationsResponse}, **_MLFLOW_ERRORS},
)
async def invocations(request: Request) -> Response:
    """Predictions for a `dataframe_split`, `dataframe_records`, `instances` or `inputs`
    JSON body, or a CSV body (`Content-Type: text/csv`, a header line first)."""
    started = time.perf_counter()
    state = _state(request)
    rid = request_id(request)
    model, content = await invocation_answer(
        state,
        lambda: read_body(request, state.options.max_body_bytes),
        request.headers.get("content-type"),
        rid,
        started,
    )
    return json_response(content, headers=_answer_headers(model, rid))


async def invocation_answer(
    state: ServingState,
    read: Callable[[], Awaitable[bytes]],
    content_type: str | None,
    rid: str,
    started: float,
) -> tuple[ServedModel, dict[str, Any]]:
    """The model that answers an ``/invocations`` request and its answer: the body (from
    ``read``) parsed, checked against that model's signature, predicted and logged."""
    model, traffic = state.traffic.choose()
    try:
        body = await read()
        rows = await _parse(
            body,
            lambda: parse_invocation(
                body, content_type, model.spec, max_rows=state.options.max_rows
            ),
        )
        predictions, prefix = await state.traffic.predict(model, traffic, rows, rid, started)
    except Exception as exc:
        state.traffic.failed(model, traffic, rid, started, exc)
        raise
    content = {
        "predictions": _numbers(predictions),
        "model_version": model.label,
        "prediction_ids": prediction_ids(prefix, rows.count),
    }
    return model, content


@router.get(
    "/ping",
    summary="Health (SageMaker / MLflow)",
    responses={200: {"model": HealthBody}, **_MLFLOW_ERRORS},
)
async def ping(request: Request) -> Response:
    """200 once the model is loaded, 503 before."""
    return _health(request)


@router.head("/ping", summary="Health, without a body (load balancers)", responses=_MLFLOW_ERRORS)
async def ping_head(request: Request) -> Response:
    """200 once the model is loaded, 503 before; no body."""
    return _health(request)


@router.get("/health", summary="Health", responses={200: {"model": HealthBody}, **_ERRORS})
async def health(request: Request) -> Response:
    """200 once the model is loaded, 503 before."""
    return _health(request)


def _health(request: Request) -> Response:
    """Ready with the model loaded; the prediction log's state beside it (a stuck log does
    not make the server unready: it still answers, and rows wait on disk), and the versions
    the alias named that were refused (code the server does not trust)."""
    state = _state(request)
    model = state.holder.require()
    content: dict[str, Any] = {"status": "ready", "model_version": model.label}
    if state.traffic.log is not None:
        content["prediction_log"] = state.traffic.log.health().as_json()
    if state.holder.refused:
        content["refused"] = dict(state.holder.refused)
    if state.traffic.drift is not None:
        content["drift"] = state.traffic.drift.health()
    return json_response(content, headers={VERSION_HEADER: model.label})


@router.get(
    "/version", summary="What is served", responses={200: {"model": VersionBody}, **_ERRORS}
)
async def version(request: Request) -> Response:
    """The loopml version and the model version being served (flavor, variant, digest)."""
    state = _state(request)
    model = state.holder.require()
    loaded = model.loaded
    return json_response(
        {
            "loopml": __version__,
            "model": loaded.name,
            "version": loaded.version,
            "model_version": loaded.label,
            "source": state.holder.source.description,
            "flavor": loaded.flavor,
            "variant": loaded.variant,
            "digest": loaded.digest,
        },
        headers={VERSION_HEADER: loaded.label},
    )


@router.post(
    "/feedback",
    summary="Send ground truth for predictions",
    openapi_extra=FEEDBACK_REQUEST_BODY,
    responses={200: {"model": FeedbackResponse}, 409: {"model": ErrorBody}, **_ERRORS},
)
async def feedback(request: Request) -> Response:
    """The true outcome of earlier predictions, by the `prediction_id` a response gave:
    `{"prediction_id": "…-0", "label": 1}` or a list of them. Logged like the predictions and
    joined with them by id (`loopml monitor predictions NAME`). Labels for ids no server of
    this model gave out are not kept: the answer counts them (`unknown`, with the first few
    `unknown_ids`), and is 422 when no id is known."""
    state = _state(request)
    request_id(request)
    if state.traffic.log is None:
        raise ConflictError(
            "This server does not log (it was started with --no-log, or without a store), "
            "so it cannot keep labels; send them with 'loopml feedback FILE' instead."
        )
    body = await read_body(request, state.options.max_body_bytes)
    entry = await _parse(body, lambda: parse_feedback(body, max_rows=state.options.max_rows))
    known, unknown = split_issued(entry, state.traffic.main.source.name)
    if known.count:
        state.traffic.log.add(known)
    return json_response(
        {"accepted": known.count, "unknown": len(unknown), "unknown_ids": unknown[:10]}
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Requests by endpoint, status and model version; latency; micro-batch sizes."""
    body, content_type = _state(request).metrics.exposition()
    return Response(body, media_type=content_type)


# -- Open Inference Protocol ------------------------------------------------------------------


@router.get("/v2", summary="Server metadata (OIP)", responses={200: {"model": ServerMetadata}})
async def server_metadata() -> Response:
    return json_response(
        {"name": "loopml", "version": __version__, "extensions": ["binary_tensor_data"]}
    )


@router.get("/v2/health/live", summary="Liveness (OIP)")
async def live() -> Response:
    """200 while the server runs."""
    return json_response({"live": True})


@router.get("/v2/health/ready", summary="Readiness (OIP)")
async def ready(request: Request) -> Response:
    """200 once the model is loaded, 503 before."""
    is_ready = _state(request).holder.current is not None
    return json_response({"ready": is_ready}, status_code=200 if is_ready else 503)


def named_model(state: ServingState, name: str, version: str | None) -> tuple[ServedModel, str]:
    """The model (and its traffic) for a request naming ``name`` and maybe a version."""
    traffic = state.traffic
    served = traffic.main.source.name
    if name != served:
        raise NotFoundError(f"No model {name!r} here; this server serves {served!r}.")
    if version is None:
        return traffic.choose()
    found = traffic.version(int(version)) if version.isdigit() else None
    if found is None:
        labels = " and ".join(
            each.current.label for each in traffic.holders if each.current is not None
        )
        raise NotFoundError(
            f"Version {version!r} of {name!r} is not served here; this server serves {labels}."
        )
    return found


@router.get(
    "/v2/models/{name}",
    summary="Model metadata (OIP)",
    responses={200: {"model": ModelMetadata}, **_OIP_ERRORS},
)
async def metadata(name: str, request: Request) -> Response:
    """The inputs and outputs the model takes and gives, with datatype and shape."""
    return _metadata(named_model(_state(request), name, None)[0])


@router.get(
    "/v2/models/{name}/versions/{version}",
    summary="Model version metadata (OIP)",
    responses={200: {"model": ModelMetadata}, **_OIP_ERRORS},
)
async def version_metadata(name: str, version: str, request: Request) -> Response:
    return _metadata(named_model(_state(request), name, version)[0])


def _metadata(model: ServedModel) -> Response:
    loaded = model.loaded
    platform = "onnxruntime" if loaded.variant == "onnx" else f"loopml-{loaded.flavor}"
    content = model_metadata(
        name=loaded.name,
        version=loaded.version,
        platform=platform,
        spec=model.spec,
        signature=loaded.signature,
    )
    return json_response(content, headers={VERSION_HEADER: loaded.label})


@router.get("/v2/models/{name}/ready", summary="Model readiness (OIP)", responses=_OIP_ERRORS)
async def model_ready(name: str, request: Request) -> Response:
    return _model_ready(request, name, None)


@router.get(
    "/v2/models/{name}/versions/{version}/ready",
    summary="Model version readiness (OIP)",
    responses=_OIP_ERRORS,
)
async def model_version_ready(name: str, version: str, request: Request) -> Response:
    return _model_ready(request, name, version)


def _model_ready(request: Request, name: str, version: str | None) -> Response:
    try:
        model, _traffic = named_model(_state(request), name, version)
    except ModelNotReadyError:
        return json_response({"name": name, "ready": False}, status_code=503)
    return json_response({"name": name, "ready": True}, headers={VERSION_HEADER: model.label})


@router.post(
    "/v2/models/{name}/infer",
    summary="Predict (OIP)",
    openapi_extra=INFER_REQUEST_BODY,
    responses={200: {"model": InferResponse}, **_OIP_ERRORS},
)
async def infer(name: str, request: Request) -> Response:
    """Predictions for input tensors: one `inputs` tensor for an array model, one 1-D tensor
    per column for a table model."""
    return await _infer(request, name, None)


@router.post(
    "/v2/models/{name}/versions/{version}/infer",
    summary="Predict with a model version (OIP)",
    openapi_extra=INFER_REQUEST_BODY,
    responses={200: {"model": InferResponse}, **_OIP_ERRORS},
)
async def version_infer(name: str, version: str, request: Request) -> Response:
    return await _infer(request, name, version)


async def _infer(request: Request, name: str, version: str | None) -> Response:
    started = time.perf_counter()
    state = _state(request)
    rid = request_id(request)
    model, content, binary = await infer_answer(
        state,
        name,
        version,
        lambda: read_body(request, state.options.max_body_bytes),
        request.headers.get("content-type"),
        rid,
        started,
        binary_header=request.headers.get(HEADER_LENGTH),
    )
    body, headers = infer_body(content, binary=binary)
    return Response(body, headers={**_answer_headers(model, rid), **headers})


async def infer_answer(
    state: ServingState,
    name: str,
    version: str | None,
    read: Callable[[], Awaitable[bytes]],
    content_type: str | None,
    rid: str,
    started: float,
    *,
    binary_header: str | None = None,
) -> tuple[ServedModel, dict[str, Any], bool]:
    """The model an infer request names, its answer, as :func:`invocation_answer`, and
    whether the answer is asked for in binary (``binary_header``: the request's
    Inference-Header-Content-Length, for the binary tensor data extension)."""
    model, traffic = named_model(state, name, version)
    try:
        body, parsed, binary = await _infer_input(state, model, read, content_type, binary_header)
        rows = parsed.rows
        predictions, prefix = await state.traffic.predict(model, traffic, rows, rid, started)
    except Exception as exc:
        state.traffic.failed(model, traffic, rid, started, exc)
        raise
    content = infer_response(
        model_name=model.name,
        model_version=model.version,
        request_id=parsed.id or rid,
        predictions=predictions,
        prediction_ids=prediction_ids(prefix, parsed.rows.count),
    )
    if not binary and binary_header is None:
        binary = wants_binary_output(_plain_document(body))
    return model, content, binary


async def _infer_input(
    state: ServingState,
    model: ServedModel,
    read: Callable[[], Awaitable[bytes]],
    content_type: str | None,
    binary_header: str | None,
) -> tuple[bytes, InferRequest, bool]:
    """An infer request's body (as JSON), its parsed rows and whether the binary extension
    asked for a binary answer."""
    body = await read()
    binary = False
    if binary_header is not None:
        document = await _parse(body, lambda: decode_binary_request(body, binary_header))
        binary = wants_binary_output(document)
        body, content_type = json_body(document), "application/json"
    parsed = await _parse(
        body,
        lambda: parse_infer(body, content_type, model.spec, max_rows=state.options.max_rows),
    )
    return body, parsed, binary


def _plain_document(body: bytes) -> dict[str, Any]:
    """The parsed JSON infer request again (only when it may ask for a binary answer)."""
    if b"binary_data" not in body:
        return {}
    import orjson

    document = orjson.loads(body)
    return document if isinstance(document, dict) else {}


def infer_body(content: dict[str, Any], *, binary: bool) -> tuple[bytes, dict[str, str]]:
    """The infer answer's body and headers: JSON, or the binary extension's form."""
    if not binary:
        return json_body(content), {"content-type": "application/json"}
    body, header_length = encode_binary_response(content)
    return body, {
        "content-type": "application/octet-stream",
        HEADER_LENGTH: str(header_length),
    }
