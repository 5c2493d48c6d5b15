"""Run the model server with uvicorn: ``serve("cancer@champion", port=8080)``.

One worker runs in this process. ``workers=N`` runs N processes (uvicorn's import-string
factory, :func:`app_from_environment`); the target and options reach them as JSON in the
environment, and the stores come from the same configuration (``.loopml/``, ``LOOPML_*``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from loopml.core.config import load_config
from loopml.core.entities import RunStatus
from loopml.core.errors import ConfigError, InvalidInputError, LoopMLError, NotFoundError
from loopml.core.ids import new_id
from loopml.core.loop_records import NewDeployment
from loopml.core.refs import parse_model_ref
from loopml.monitoring.deployments import DeploymentReporter, end_deployment
from loopml.monitoring.log_store import SERVER, TARGET_TAG, RunSink, spool_root, start_log_run
from loopml.monitoring.prediction_log import PredictionLog
from loopml.serving.app import create_app
from loopml.serving.connections import LIMITS_ENV, PROTOCOL, ConnectionLimits
from loopml.serving.holder import ServedModel
from loopml.serving.metrics import MULTIPROCESS_ENV, ServingMetrics
from loopml.serving.options import ServeOptions
from loopml.serving.request_examples import example_requests
from loopml.serving.sources import BundleSource, ModelSource, RegistrySource, is_bundle
from loopml.serving.split import parse_split
from loopml.serving.token_auth import ENV_TOKEN_FILE, check_exposure, read_token
from loopml.stores.loop.base import LoopStore
from loopml.stores.registry import open_loop_store
from loopml.tracking.client import Client
from loopml.tracking.heartbeat import heartbeat_seconds

__all__ = [
    "Started",
    "app_from_environment",
    "build_app",
    "check_source",
    "open_source",
    "serve",
]

ENV_TARGET = "LOOPML_SERVE_TARGET"
ENV_OPTIONS = "LOOPML_SERVE_OPTIONS"
ENV_LOG_LEVEL = "LOOPML_SERVE_LOG_LEVEL"
ENV_RUN_ID = "LOOPML_SERVE_RUN_ID"
ENV_URL = "LOOPML_SERVE_URL"
ANNOUNCED = "announced"  # in a multi-worker server's metrics folder: a worker printed the example
ENV_DEPLOYMENT = "LOOPML_SERVE_DEPLOYMENT"
KEEP_ALIVE_SECONDS = 15
GRACEFUL_SHUTDOWN_SECONDS = 10
FACTORY = "loopml.serving.run:app_from_environment"
log = logging.getLogger("loopml.serving")


def open_source(target: str, *, prefer_onnx: bool = True, trust_code: bool = False) -> ModelSource:
    """A bundle folder (it has a ``bundle.json``) or a registry reference."""
    if is_bundle(target):
        return BundleSource(target, prefer_onnx=prefer_onnx, trust_code=trust_code)
    if os.path.isdir(target):
        raise InvalidInputError(
            f"{target} is a folder without a bundle.json; give a bundle written by 'loopml "
            "package', or a model reference such as 'cancer@champion'."
        )
    ref = parse_model_ref(target)
    return RegistrySource(ref, Client(create=False), prefer_onnx=prefer_onnx, trust_code=trust_code)


def check_source(source: ModelSource, *, second: bool = False) -> str | None:
    """Fail early (exit code 2) for a model that does not exist; for an alias that is not set
    yet, return a note: the server starts and serves once the alias is set (a canary's or
    shadow's alias: the main model takes all traffic until then). A version that would run
    code the source does not trust fails early too (UntrustedCodeError)."""
    try:
        source.check_trusted(source.current_version())
    except NotFoundError as exc:
        if isinstance(source, RegistrySource) and source.ref.alias is not None:
            try:
                source.client.metadata.get_registered_model(source.ref.model)
            except NotFoundError:
                raise exc from None
            meanwhile = (
                "the main model answers every request until it is"
                if second
                else "the server answers 503 until it is"
            )
            return (
                f"{source.ref} is not set yet: {meanwhile} "
                f"(loopml models alias set {source.ref.model} {source.ref.alias} VERSION)."
            )
        raise
    return None


def second_source(source: ModelSource, options: ServeOptions) -> RegistrySource | None:
    """The canary's or shadow's source: another alias (or version) of the served model."""
    split = parse_split(canary=options.canary, shadow=options.shadow)
    if split is None:
        return None
    if not isinstance(source, RegistrySource):
        raise InvalidInputError(
            "--canary and --shadow need a registry reference such as 'cancer@champion' (a "
            "bundle holds one version)."
        )
    ref = parse_model_ref(f"{source.ref.model}@{split.alias}")
    return RegistrySource(
        ref, Client(create=False), prefer_onnx=options.prefer_onnx, trust_code=options.trust_code
    )


def build_app(
    target: str,
    options: ServeOptions,
    run_id: str | None,
    deployment: NewDeployment | None = None,
    *,
    url: str | None = None,
    announce_once_in: str | None = None,
    token: str | None = None,
) -> FastAPI:
    """The app of one server process: its sources, its log into run ``run_id``, and the
    record of ``deployment`` (shared by every worker of one ``loopml serve``). With ``url``,
    it prints requests that fit the model once it is loaded (one worker of several: the first
    to create the marker in the folder ``announce_once_in``). With ``token``, requests but the
    probes and metrics must carry it."""
    source = open_source(target, prefer_onnx=options.prefer_onnx, trust_code=options.trust_code)
    second = second_source(source, options)
    metrics = ServingMetrics()
    prediction_log = None
    if run_id is not None:
        client = Client(create=False)
        prediction_log = PredictionLog(
            RunSink(client, run_id),
            spool_root(client),
            flush_seconds=options.log_flush_seconds,
            roll_seconds=options.log_roll_seconds,
            roll_rows=options.log_roll_rows,
            stuck_seconds=options.log_stuck_seconds,
            metrics=metrics.log,
            redaction=options.input_redaction(),
        )
    on_ready = _announcer(url, announce_once_in) if url else None
    reporter = None
    if deployment is not None:
        try:
            loop = _open_loop_store()
        except LoopMLError as exc:  # serve anyway: the record is not worth an outage
            logging.getLogger("loopml.serving").warning(
                "deployment %s is not recorded: %s", deployment.id, exc.message
            )
        else:
            reporter = DeploymentReporter(
                loop, deployment, interval_s=heartbeat_seconds(), close_store=True
            )
    return create_app(
        source,
        options,
        second=second,
        prediction_log=prediction_log,
        metrics=metrics,
        on_ready=on_ready,
        deployment=reporter,
        token=token,
    )


def _announcer(url: str, once_in: str | None) -> Callable[[ServedModel], None]:
    """Prints, when the model is ready, ``curl`` requests that fit it (see request_examples)."""

    def announce(served: ServedModel) -> None:
        if once_in is not None:
            try:
                os.close(os.open(os.path.join(once_in, ANNOUNCED), os.O_CREAT | os.O_EXCL))
            except OSError:  # another worker did (or the folder is gone): no second copy
                return
        example = served.loaded.input_example
        lines = example_requests(served.spec, example, url=url, name=served.name)
        if lines:
            what = "a row of its input example" if example else "placeholder values"
            log.info(
                "ready. Requests that fit %s (%s):\n  %s", served.label, what, "\n  ".join(lines)
            )

    return announce


def app_from_environment() -> FastAPI:
    """The app of one worker process, from what :func:`serve` put in the environment."""
    _log_to_stderr(os.environ.get(ENV_LOG_LEVEL, "warning"))
    options = ServeOptions.from_json(os.environ.get(ENV_OPTIONS, "{}"))
    target = os.environ.get(ENV_TARGET)
    if not target:
        raise InvalidInputError(f"{ENV_TARGET} is not set; start workers with 'loopml serve'.")
    spec = os.environ.get(ENV_DEPLOYMENT)
    deployment = NewDeployment(**json.loads(spec)) if spec else None
    return build_app(
        target,
        options,
        os.environ.get(ENV_RUN_ID) or None,
        deployment,
        url=os.environ.get(ENV_URL) or None,
        announce_once_in=os.environ.get(MULTIPROCESS_ENV) or None,
        token=read_token(),
    )


@dataclass(frozen=True)
class Started:
    """What :func:`serve` tells its caller once the target is checked: a note on the alias
    (not set yet), the run that logs predictions (None: no log) and why not, if so, and the
    deployment id it registers once the model is loaded (None: no store to register in)."""

    note: str | None
    run_id: str | None
    log_note: str | None
    deployment_id: str | None = None


def serve(
    target: str,
    options: ServeOptions | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    log_level: str = "warning",
    on_start: Callable[[Started], None] | None = None,
    token_file: str | Path | None = None,
    allow_anonymous: bool = False,
) -> None:
    """Serve ``target`` (``NAME@ALIAS``, ``NAME@3`` or a bundle folder) until interrupted
    (SIGINT or SIGTERM: requests in flight are answered and the log is stored first).
    ``on_start`` is told what was found once the target is checked. Requests must carry the
    token in ``token_file`` (default: ``LOOPML_SERVE_TOKEN_FILE``, ``LOOPML_SERVE_TOKEN``)
    when there is one; without one, a ``host`` beyond loopback needs ``allow_anonymous``."""
    options = options or ServeOptions()
    options.input_redaction()  # a column to hash without a key: refuse before starting
    token = read_token(token_file)
    check_exposure(host, token, allow_anonymous=allow_anonymous)
    if token_file is not None:  # for the workers (the token itself stays out of the env)
        os.environ[ENV_TOKEN_FILE] = str(Path(token_file).resolve())
    _log_to_stderr(log_level)
    source = open_source(target, prefer_onnx=options.prefer_onnx, trust_code=options.trust_code)
    try:
        note = check_source(source)
        second = second_source(source, options)
        if second is not None:
            note = "\n".join(filter(None, [note, check_source(second, second=True)]))
            second.close()
        run_client, run_id, log_note = _start_log_run(target, source, options)
        deployment = _plan_deployment(source, run_id, host, port)
    finally:
        source.close()  # each app opens its own
    deployment_id = None if deployment is None else deployment.id
    if on_start is not None:
        on_start(Started(note or None, run_id, log_note, deployment_id))
    status = RunStatus.KILLED
    try:
        with _stopped_by_signals():
            where = (host, port, workers)
            _run_uvicorn(target, options, run_id, deployment, where, log_level, token)
        status = RunStatus.FINISHED
    finally:
        if deployment is not None:
            _say_goodbye(deployment.id, "stopped" if status is RunStatus.FINISHED else "failed")
        if run_client is not None and run_id is not None:
            with contextlib.suppress(Exception):
                run_client.set_terminated(run_id, status)
            run_client.close()


def _open_loop_store() -> LoopStore:
    """The loop store beside the configured metadata store (or server), as Client opens it."""
    config = load_config()
    uri = config.server_url or config.store_uri
    if not uri:
        raise ConfigError("No store to register the deployment in.")
    return open_loop_store(uri, token=config.token)


def _plan_deployment(
    source: ModelSource, run_id: str | None, host: str, port: int
) -> NewDeployment | None:
    """The record this server registers once its model is loaded; None without a store."""
    try:
        config = load_config()
    except ConfigError:
        return None
    if not (config.store_uri or config.server_url):
        return None
    alias = source.ref.alias if isinstance(source, RegistrySource) else None
    where = socket.gethostname() if host in ("", "0.0.0.0", "::") else host
    if ":" in where:  # an IPv6 address
        where = f"[{where}]"
    return NewDeployment(
        id=new_id(),
        model=source.name,
        address=f"http://{where}:{port}",
        heartbeat_ms=max(1, round(heartbeat_seconds() * 1000)),
        alias=alias,
        run_id=run_id,
    )


def _say_goodbye(deployment_id: str, reason: str) -> None:
    try:
        loop = _open_loop_store()
    except Exception:  # the store is away: the deployment will be marked gone instead
        return
    try:
        end_deployment(loop, deployment_id, reason)
    finally:
        loop.close()


class _Stop(Exception):
    """SIGTERM or SIGINT, re-raised by uvicorn after its graceful shutdown."""


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """uvicorn answers what is in flight, shuts the app down (storing the log), then raises
    the signal it caught again: end there, as a normal stop."""

    def stop(signum: int, frame: object) -> None:
        raise _Stop(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except _Stop:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start_log_run(
    target: str, source: ModelSource, options: ServeOptions
) -> tuple[Client | None, str | None, str | None]:
    """The run this server logs its predictions into, or why there is none."""
    if not options.log_predictions:
        return None, None, None
    try:
        client = Client(create=False)
    except ConfigError:
        return (
            None,
            None,
            (
                "Predictions are not logged: no store here (run in a project, or set "
                "LOOPML_STORE_URI or LOOPML_SERVER_URL)."
            ),
        )
    try:
        run = start_log_run(
            client,
            model=source.name,
            kind=SERVER,
            name=f"serve {target if not is_bundle(target) else source.description}",
            tags={TARGET_TAG: source.description},
        )
        settings = {"target": target, **asdict(options)}
        client.log_params(run.id, {k: v for k, v in settings.items() if v is not None})
    except BaseException:
        client.close()
        raise
    return client, run.id, None


def _run_uvicorn(
    target: str,
    options: ServeOptions,
    run_id: str | None,
    deployment: NewDeployment | None,
    where: tuple[str, int, int],
    log_level: str,
    token: str | None,
) -> None:
    import uvicorn

    host, port, workers = where
    limits = ConnectionLimits(
        header_timeout=options.header_timeout_seconds,
        body_timeout=options.body_timeout_seconds,
        max_connections=options.max_connections,
    )
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "server_header": False,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "http": PROTOCOL,
        "ws": "none",  # no WebSocket routes: uvicorn need not import a WebSocket library
    }
    url = f"http://{_reachable(host)}:{port}"
    if workers <= 1:
        app = build_app(target, options, run_id, deployment, url=url, token=token)
        config = uvicorn.Config(app, **common)
        limits.attach(config)
        uvicorn.Server(config).run()
        return
    metrics_dir = tempfile.mkdtemp(prefix="loopml-serve-metrics-")
    os.environ.update(
        {
            ENV_TARGET: target,
            ENV_OPTIONS: options.to_json(),
            ENV_LOG_LEVEL: log_level,
            ENV_RUN_ID: run_id or "",
            ENV_URL: url,
            ENV_DEPLOYMENT: "" if deployment is None else json.dumps(asdict(deployment)),
            MULTIPROCESS_ENV: metrics_dir,
            LIMITS_ENV: limits.to_json(),
        }
    )
    try:
        uvicorn.run(FACTORY, factory=True, workers=workers, **common)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _reachable(host: str) -> str:
    """The host to put in a URL for this machine: a wildcard address is reached on loopback."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


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
