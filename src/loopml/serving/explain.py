"""``POST /explain``: SHAP contributions of each feature to the served model's output, for
rows sent in any ``/invocations`` format (JSON or CSV).

The served version is explained as it is served (its ONNX variant by the sampled explainer),
against the background rows stored with it at registration, so the expected value is the one
``loopml explain`` gives. The explainer is built on the first request for a version and kept
with it; explaining runs in a thread of its own, never in the prediction worker nor on the
event loop.
"""

from __future__ import annotations

import asyncio
import threading
import weakref

from fastapi import APIRouter, Request, Response

from loopml.core.errors import LoopMLError
from loopml.models.explainers import Contributions, Explainer
from loopml.models.explanations import contributions_json, version_explainer
from loopml.serving.errors import InputMismatchError, PredictionFailedError
from loopml.serving.holder import ServedModel
from loopml.serving.payloads import parse_invocation
from loopml.serving.routes import (
    REQUEST_ID_HEADER,
    VERSION_HEADER,
    ServingState,
    json_response,
    read_body,
    request_id,
)
from loopml.serving.rows import Rows, model_input
from loopml.serving.schemas import INVOCATIONS_REQUEST_BODY, ErrorBody, ExplainResponse

__all__ = ["MAX_EXPLAIN_ROWS", "router"]

MAX_EXPLAIN_ROWS = 1000  # per request (and --max-rows, if lower): explaining costs more
BUDGET_SECONDS = 2.0  # of the sampled explainer, per request
_MAX_ERROR_TEXT = 300

router = APIRouter()
_explainers: weakref.WeakKeyDictionary[ServedModel, Explainer] = weakref.WeakKeyDictionary()
_building = threading.Lock()


@router.post(
    "/explain",
    summary="Explain predictions (SHAP)",
    openapi_extra=INVOCATIONS_REQUEST_BODY,
    responses={
        200: {"model": ExplainResponse},
        "4XX": {"model": ErrorBody, "description": "The request is wrong; the message says how."},
        503: {"model": ErrorBody, "description": "The model is not loaded yet."},
    },
)
async def explain(request: Request) -> Response:
    """Per row, each feature's contribution to the model's output (SHAP values: they add up
    to the output minus `expected_value`), for a body in any `/invocations` format. Trees and
    linear models are explained exactly; anything else is sampled (`orders` says how many
    feature orders), within a time budget."""
    state: ServingState = request.app.state.serving
    rid = request_id(request)
    model = state.holder.require()
    body = await read_body(request, state.options.max_body_bytes)
    limit = min(state.options.max_rows, MAX_EXPLAIN_ROWS)
    rows = await asyncio.to_thread(
        parse_invocation, body, request.headers.get("content-type"), model.spec, max_rows=limit
    )
    if rows.count == 0:
        raise InputMismatchError("The body holds no rows; send at least one row to explain.")
    found = await asyncio.to_thread(_explain, model, rows)
    content = {"model_version": model.label, **contributions_json(found)}
    return json_response(content, headers={VERSION_HEADER: model.label, REQUEST_ID_HEADER: rid})


def _explain(model: ServedModel, rows: Rows) -> Contributions:
    loaded = model.loaded
    with _building:
        explainer = _explainers.get(model)
        if explainer is None:
            explainer = version_explainer(
                loaded.predictor,
                loaded.signature,
                loaded.background,
                loaded.input_example,
                label=loaded.label,
                budget_seconds=BUDGET_SECONDS,
            )
            _explainers[model] = explainer
    inputs = model_input(rows, loaded.signature)
    try:
        return explainer.explain(inputs)
    except LoopMLError:
        raise
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        if len(text) > _MAX_ERROR_TEXT:
            text = text[: _MAX_ERROR_TEXT - 3] + "..."
        raise PredictionFailedError(
            f"The model could not be explained on this input ({text}); the input matches the "
            "signature, so check its values."
        ) from exc
