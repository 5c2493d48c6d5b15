"""Run the model server with uvicorn: ``serve("cancer@champion", port=8080)``.

One worker runs in this process. ``workers=N`` runs N processes (uvicorn's import-string
factory, :func:`app_from_environment`); the target and options reach them as JSON in the
environment, and the stores come from the same configuration (``.loopml/``, ``LOOPML_*``).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.refs import parse_model_ref
from loopml.serving.app import create_app
from loopml.serving.metrics import MULTIPROCESS_ENV
from loopml.serving.options import ServeOptions
from loopml.serving.sources import BundleSource, ModelSource, RegistrySource, is_bundle
from loopml.tracking.client import Client

__all__ = ["app_from_environment", "check_source", "open_source", "serve"]

ENV_TARGET = "LOOPML_SERVE_TARGET"
ENV_OPTIONS = "LOOPML_SERVE_OPTIONS"
ENV_LOG_LEVEL = "LOOPML_SERVE_LOG_LEVEL"
KEEP_ALIVE_SECONDS = 15
GRACEFUL_SHUTDOWN_SECONDS = 10
FACTORY = "loopml.serving.run:app_from_environment"


def open_source(target: str, *, prefer_onnx: bool = True) -> ModelSource:
    """A bundle folder (it has a ``bundle.json``) or a registry reference."""
    if is_bundle(target):
        return BundleSource(target, prefer_onnx=prefer_onnx)
    if os.path.isdir(target):
        raise InvalidInputError(
            f"{target} is a folder without a bundle.json; give a bundle written by 'loopml "
            "package', or a model reference such as 'cancer@champion'."
        )
    ref = parse_model_ref(target)
    return RegistrySource(ref, Client(create=False), prefer_onnx=prefer_onnx)


def check_source(source: ModelSource) -> str | None:
    """Fail early (exit code 2) for a model that does not exist; for an alias that is not set
    yet, return a note: the server starts and serves once the alias is set."""
    try:
        source.current_version()
    except NotFoundError as exc:
        if isinstance(source, RegistrySource) and source.ref.alias is not None:
            try:
                source.client.metadata.get_registered_model(source.ref.model)
            except NotFoundError:
                raise exc from None
            return (
                f"{source.ref} is not set yet: the server answers 503 until it is "
                f"(loopml models alias set {source.ref.model} {source.ref.alias} VERSION)."
            )
        raise
    return None


def app_from_environment() -> FastAPI:
    """The app of one worker process, from what :func:`serve` put in the environment."""
    _log_to_stderr(os.environ.get(ENV_LOG_LEVEL, "warning"))
    options = ServeOptions.from_json(os.environ.get(ENV_OPTIONS, "{}"))
    target = os.environ.get(ENV_TARGET)
    if not target:
        raise InvalidInputError(f"{ENV_TARGET} is not set; start workers with 'loopml serve'.")
    return create_app(open_source(target, prefer_onnx=options.prefer_onnx), options)


def serve(
    target: str,
    options: ServeOptions | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    log_level: str = "warning",
    on_start: Callable[[str | None], None] | None = None,
) -> None:
    """Serve ``target`` (``NAME@ALIAS``, ``NAME@3`` or a bundle folder) until interrupted.
    ``on_start`` is called with :func:`check_source`'s note once the target is checked."""
    import uvicorn

    options = options or ServeOptions()
    _log_to_stderr(log_level)
    source = open_source(target, prefer_onnx=options.prefer_onnx)
    try:
        note = check_source(source)
    except BaseException:
        source.close()
        raise
    if workers > 1:  # each worker opens its own
        source.close()
    if on_start is not None:
        on_start(note)
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "server_header": False,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    if workers <= 1:
        uvicorn.Server(uvicorn.Config(create_app(source, options), **common)).run()
        return
    metrics_dir = tempfile.mkdtemp(prefix="loopml-serve-metrics-")
    os.environ.update(
        {
            ENV_TARGET: target,
            ENV_OPTIONS: options.to_json(),
            ENV_LOG_LEVEL: log_level,
            MULTIPROCESS_ENV: metrics_dir,
        }
    )
    try:
        uvicorn.run(FACTORY, factory=True, workers=workers, **common)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _log_to_stderr(level: str) -> None:
    """Model loads and swaps (info) and problems (warning) on stderr."""
    logger = logging.getLogger("loopml.serving")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s loopml serve: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    quiet = level in ("error", "critical")
    logger.setLevel(level.upper() if quiet else logging.INFO)
