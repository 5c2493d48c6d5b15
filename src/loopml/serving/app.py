"""The model server as a FastAPI app: ``create_app(source, options)``.

The app starts loading the model when it starts (``/health`` answers 503 until it is loaded)
and follows the source while it runs; predictions run in one worker thread, never on the
event loop. Errors take each protocol's shape (see ``errors.py``): 4xx for anything wrong
with a request, naming the field; 5xx only for the server's own faults.

>>> source = RegistrySource("cancer@champion", Client(create=False))  # doctest: +SKIP
>>> uvicorn.run(create_app(source, ServeOptions(max_batch_size=32)))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from loopml.core.errors import LoopMLError
from loopml.core.version import __version__
from loopml.dashboard.assets import install_offline_docs
from loopml.monitoring.deployments import DeploymentReporter
from loopml.monitoring.prediction_log import PredictionLog
from loopml.serving.direct import DirectPredictions
from loopml.serving.errors import ERROR_CODE_HEADER, error_answer, error_body
from loopml.serving.explain import router as explain_router
from loopml.serving.holder import ModelHolder, ServedModel
from loopml.serving.live_drift import DriftSettings, LiveDrift
from loopml.serving.metrics import METRICS_STATE, RequestMetrics, ServingMetrics
from loopml.serving.options import ServeOptions
from loopml.serving.routes import REQUEST_ID_HEADER, ServingState, json_response, router
from loopml.serving.sources import ModelSource
from loopml.serving.split import parse_split
from loopml.serving.token_auth import BearerCheck
from loopml.serving.traffic import Traffic

__all__ = ["create_app"]

_STATUS_CODES = {404: "not_found", 405: "method_not_allowed"}


def create_app(
    source: ModelSource,
    options: ServeOptions | None = None,
    *,
    second: ModelSource | None = None,
    prediction_log: PredictionLog | None = None,
    metrics: ServingMetrics | None = None,
    on_ready: Callable[[ServedModel], None] | None = None,
    deployment: DeploymentReporter | None = None,
    token: str | None = None,
) -> FastAPI:
    """The model server for ``source`` (a registry reference or a bundle), with ``second``
    (another alias of the same model) as the canary or shadow that ``options`` names, and
    every prediction logged to ``prediction_log``; ``on_ready`` is told when the source's
    first version is loaded, and the record of this server is kept current by
    ``deployment`` (registered once the main model is loaded, its version updated at every
    swap, beating meanwhile). The app owns the sources, the log and the reporter from now on:
    at shutdown, after the last request, it stores the whole log and closes them (the goodbye
    is the caller's, who knows why the server stopped). With ``token``, every request but
    the probes and metrics must carry it as a bearer token (see ``token_auth.py``)."""
    options = options or ServeOptions()
    metrics = metrics or ServingMetrics()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loopml-predict")
    split = parse_split(canary=options.canary, shadow=options.shadow)

    def holder(of: ModelSource) -> ModelHolder:
        return ModelHolder(of, options=options, executor=executor, metrics=metrics)

    main = ModelHolder(
        source,
        options=options,
        executor=executor,
        metrics=metrics,
        on_ready=on_ready,
        on_serve=_reporting(deployment) if deployment is not None else None,
    )
    traffic = Traffic(
        main,
        metrics=metrics,
        split=split if second is not None else None,
        second=holder(second) if second is not None else None,
        prediction_log=prediction_log,
        deployment_id=None if deployment is None else deployment.deployment_id,
        drift=_live_drift(source, options, metrics) if options.drift else None,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        await traffic.start()
        follow = [
            asyncio.create_task(each.run(), name=f"loopml-model-holder-{each.source.name}")
            for each in traffic.holders
        ]
        try:
            yield {METRICS_STATE: metrics}  # for the HTTP protocol's 408s (connections.py)
        finally:
            for task in follow:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            try:
                await traffic.close()
            finally:
                for each in traffic.holders:
                    await each.close()
                executor.shutdown(wait=True)
                if deployment is not None:
                    await asyncio.to_thread(deployment.stop)

    state = ServingState(traffic=traffic, metrics=metrics, options=options)
    app = _ModelServer(
        DirectPredictions(state),
        BearerCheck(token) if token is not None else None,
        title=f"loopml model server: {source.name}",
        version=__version__,
        summary=(
            f"Serves {source.description}: MLflow's /invocations and the Open Inference "
            "Protocol (/v2), with health, version and Prometheus metrics."
        ),
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # served below from the package's own files, not a CDN
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.serving = state
    # behind the token like /openapi.json when one is configured (token_auth.OPEN_PATHS)
    install_offline_docs(app, static_path="/static")
    app.include_router(router)
    app.include_router(explain_router)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_exception_handler(LoopMLError, _loopml_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    return app


def _live_drift(source: ModelSource, options: ServeOptions, metrics: ServingMetrics) -> LiveDrift:
    def client() -> Any:  # the store the reference is found in, opened when needed
        from loopml.tracking.client import Client

        return Client(create=False)

    settings = DriftSettings(
        window_rows=options.drift_window_rows,
        interval_seconds=options.drift_interval_seconds,
        reference=options.drift_reference,
    )
    return LiveDrift(source, metrics.drift, settings, client=client)


def _reporting(deployment: DeploymentReporter) -> Callable[[ServedModel], Awaitable[None]]:
    async def served(model: ServedModel) -> None:
        await asyncio.to_thread(deployment.served, model.version)

    return served


class _ModelServer(FastAPI):
    """The FastAPI app, with the prediction endpoints answered by ``direct`` before any
    routing or middleware (see ``direct.py``), and every request but the open ones refused
    first without the token, when ``bearer`` holds one."""

    def __init__(
        self, direct: DirectPredictions, bearer: BearerCheck | None, **settings: Any
    ) -> None:
        super().__init__(**settings)
        self.direct = direct
        self.bearer = bearer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.bearer is not None and not self.bearer.allows(scope):
            await self.bearer.refuse(scope, send)
            return
        route = self.direct.route(scope)
        if route is None:
            await super().__call__(scope, receive, send)
        else:
            await self.direct.answer(scope, receive, send, route)


def _headers(request: Request) -> dict[str, str]:
    rid = getattr(request.state, "request_id", None)
    return {REQUEST_ID_HEADER: rid} if rid else {}


def _error(request: Request, status: int, code: str, message: str) -> Response:
    content = error_body(request.url.path, status, code, message)
    headers = {**_headers(request), ERROR_CODE_HEADER: code}
    return json_response(content, status_code=status, headers=headers)


async def _loopml_error(request: Request, exc: Exception) -> Response:
    status, content, headers = error_answer(request.method, request.url.path, exc)
    return json_response(content, status_code=status, headers={**_headers(request), **headers})


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    where = f"{request.method} {request.url.path}"
    if status == 404:
        message = f"No such endpoint: {where}. The endpoints are listed at /docs."
    elif status == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    else:
        message = str(getattr(exc, "detail", "")) or where
    return _error(request, status, _STATUS_CODES.get(status, "http_error"), message)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return await _loopml_error(request, exc)
