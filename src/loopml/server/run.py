"""Run the platform server with uvicorn: ``serve(port=5000, store_uri=..., artifact_uri=...)``."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from loopml.core.config import ENV_ARTIFACT_URI, ENV_STORE_URI, load_config
from loopml.core.errors import ConfigError
from loopml.core.roles import DEFAULT_PROJECT
from loopml.server.app import create_app
from loopml.server.auth import (
    ENV_AUTH,
    ENV_PROJECT,
    TokenAuthenticator,
    auth_enabled,
    cache_seconds,
)
from loopml.server.limits import ENV_MAX_BLOB_MB, ENV_MAX_BODY_MB, MiB, RequestLimits
from loopml.server.metrics import MULTIPROCESS_ENV
from loopml.server.promotion_policy import ENV_POLICY, ServerPolicy
from loopml.server.run_reaper import RunReaper
from loopml.stores.identity.base import IdentityStore
from loopml.stores.registry import (
    open_artifact_store,
    open_identity_store,
    open_loop_store,
    open_metadata_store,
)

DEFAULT_HOST = "127.0.0.1"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_PORT = 5000
# longer than the client's pooled-connection expiry, so the client always closes first
KEEP_ALIVE_SECONDS = 15
GRACEFUL_SHUTDOWN_SECONDS = 5
ENV_SPOOL_DIR = "LOOPML_SERVER_SPOOL_DIR"  # how --workers hands the spool folder to workers


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    store_uri: str | None = None,
    artifact_uri: str | None = None,
    log_level: str = "warning",
    spool_dir: Path | None = None,
    max_body_mb: float | None = None,
    max_blob_mb: float | None = None,
    workers: int = 1,
    auth: bool | None = None,
    policy: str | Path | None = None,
) -> None:
    """Serve the API until interrupted (Ctrl-C or SIGTERM). Stores not given are taken from
    the configuration (``LOOPML_STORE_URI[_FILE]``, ``LOOPML_ARTIFACT_URI[_FILE]``,
    ``.loopml/``); uploads are spooled in ``spool_dir`` (default: ``TMPDIR``) on their way to
    the store. Bodies and uploads are bounded (see :class:`RequestLimits`). With ``workers``
    > 1, that many processes share the port (uvicorn's supervisor); the metadata store is
    migrated once, here, before they start, and lapsed runs are closed by this process.
    With ``auth`` (None: ``LOOPML_AUTH``) every request needs an API token; a non-loopback
    ``host`` without it is refused (a ConfigError, before anything is opened). Moves of
    protected aliases are held to the promotion ``policy`` (a gates.yaml; default:
    ``LOOPML_SERVER_POLICY``, else the project's gates.yaml, if any)."""
    auth = auth_enabled(os.environ) if auth is None else auth
    check_exposure(host, auth=auth)
    limits = RequestLimits.resolve(max_body_mb, max_blob_mb)
    promotion = ServerPolicy.resolve(policy)  # a bad policy stops the server here
    if store_uri is None or artifact_uri is None:
        config = load_config()
        store_uri = store_uri or config.store_uri
        artifact_uri = artifact_uri or config.artifact_uri
    if not store_uri or not artifact_uri:
        raise ConfigError(
            "The server needs a metadata store and an artifact store: pass --store-uri and "
            "--artifact-uri, set LOOPML_STORE_URI and LOOPML_ARTIFACT_URI, or run loopml init."
        )
    metadata_store = open_metadata_store(store_uri)  # creates or migrates it
    loop_store = open_loop_store(store_uri)
    identity_store = open_identity_store(store_uri)
    # closes runs whose process died, and the runs of deployments whose heartbeat lapsed
    reaper = RunReaper.from_env(metadata_store, loop_store)
    try:
        if workers > 1:
            open_artifact_store(artifact_uri)  # a bad artifact URI fails here, once
            # the workers read the stores and limits like any loopml process: from the
            # environment
            os.environ[ENV_STORE_URI], os.environ[ENV_ARTIFACT_URI] = store_uri, artifact_uri
            os.environ[ENV_MAX_BODY_MB] = str(limits.max_body_bytes / MiB)
            os.environ[ENV_MAX_BLOB_MB] = str(limits.max_blob_bytes / MiB)
            if spool_dir is not None:
                os.environ[ENV_SPOOL_DIR] = str(spool_dir)
            os.environ[ENV_AUTH] = "1" if auth else "0"
            if promotion.path is not None:
                os.environ[ENV_POLICY] = str(promotion.path.resolve())
            reaper.start()
            metrics_dir = _metrics_folder()
            try:
                uvicorn.run(
                    f"{__name__}:app_from_environment",
                    factory=True,
                    workers=workers,
                    host=host,
                    port=port,
                    log_level=log_level,
                    access_log=False,
                    server_header=False,
                    timeout_keep_alive=KEEP_ALIVE_SECONDS,
                    timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
                )
            finally:
                if metrics_dir is not None:
                    shutil.rmtree(metrics_dir, ignore_errors=True)
            return
        artifact_store = open_artifact_store(artifact_uri)
        app = create_app(
            metadata_store,
            artifact_store,
            spool_dir=spool_dir,
            limits=limits,
            loop_store=loop_store,
            identity_store=identity_store,
            authenticator=authenticator_for(identity_store) if auth else None,
            policy=promotion,
        )
        reaper.start()
        uvicorn.Server(_config(app, host, port, log_level)).run()
    finally:
        reaper.stop()
        identity_store.close()
        loop_store.close()
        metadata_store.close()


def app_from_environment() -> FastAPI:
    """The app of one ``--workers`` process, over the stores :func:`serve` put in the
    environment (already migrated)."""
    config = load_config()
    if not config.store_uri or not config.artifact_uri:
        raise ConfigError(f"A server worker needs {ENV_STORE_URI} and {ENV_ARTIFACT_URI}.")
    spool = os.environ.get(ENV_SPOOL_DIR)
    identity_store = open_identity_store(config.store_uri)
    return create_app(
        open_metadata_store(config.store_uri),
        open_artifact_store(config.artifact_uri),
        spool_dir=Path(spool) if spool else None,
        limits=RequestLimits.resolve(),
        loop_store=open_loop_store(config.store_uri),
        identity_store=identity_store,
        authenticator=authenticator_for(identity_store) if auth_enabled(os.environ) else None,
        policy=ServerPolicy.resolve(),
    )


def check_exposure(host: str, *, auth: bool) -> None:
    """Refuse to listen beyond loopback without auth: anyone who can reach the port could
    otherwise change every run, dataset and model."""
    if not auth and host not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"Refusing to listen on {host} without auth: anyone who can reach it could change "
            "every run, dataset and model. Start it with --auth (or LOOPML_AUTH=1) and give "
            "clients tokens (loopml tokens create), or listen on 127.0.0.1."
        )


def authenticator_for(store: IdentityStore) -> TokenAuthenticator:
    """Tokens resolved in the project ``LOOPML_PROJECT`` names (``default``), cached for
    ``LOOPML_AUTH_CACHE_SECONDS``."""
    project = os.environ.get(ENV_PROJECT) or DEFAULT_PROJECT
    return TokenAuthenticator(store, project=project, cache_seconds=cache_seconds(os.environ))


def _metrics_folder() -> str | None:
    """A new folder where the workers' metrics meet (``/metrics`` sums them), named in the
    environment they inherit; None when the caller named one already (theirs to keep)."""
    if os.environ.get(MULTIPROCESS_ENV):
        return None
    folder = tempfile.mkdtemp(prefix="loopml-server-metrics-")
    os.environ[MULTIPROCESS_ENV] = folder
    return folder


def _config(app: FastAPI, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,  # request lines are not logged, let alone their headers
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
