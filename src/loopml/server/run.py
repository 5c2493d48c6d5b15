"""Run the platform server with uvicorn: ``serve(port=5000, store_uri=..., artifact_uri=...)``."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from loopml.core.config import load_config
from loopml.core.errors import ConfigError
from loopml.server.app import create_app
from loopml.server.limits import RequestLimits
from loopml.server.run_reaper import RunReaper
from loopml.stores.registry import open_artifact_store, open_metadata_store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
# longer than the client's pooled-connection expiry, so the client always closes first
KEEP_ALIVE_SECONDS = 15
GRACEFUL_SHUTDOWN_SECONDS = 5


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
) -> None:
    """Serve the API until interrupted (Ctrl-C or SIGTERM). Stores not given are taken from
    the configuration (``LOOPML_STORE_URI[_FILE]``, ``LOOPML_ARTIFACT_URI[_FILE]``,
    ``.loopml/``); uploads are spooled in ``spool_dir`` (default: ``TMPDIR``) on their way to
    the store. Bodies and uploads are bounded (see :class:`RequestLimits`)."""
    limits = RequestLimits.resolve(max_body_mb, max_blob_mb)
    if store_uri is None or artifact_uri is None:
        config = load_config()
        store_uri = store_uri or config.store_uri
        artifact_uri = artifact_uri or config.artifact_uri
    if not store_uri or not artifact_uri:
        raise ConfigError(
            "The server needs a metadata store and an artifact store: pass --store-uri and "
            "--artifact-uri, set LOOPML_STORE_URI and LOOPML_ARTIFACT_URI, or run loopml init."
        )
    metadata_store = open_metadata_store(store_uri)
    try:
        artifact_store = open_artifact_store(artifact_uri)
        server_config = uvicorn.Config(
            create_app(metadata_store, artifact_store, spool_dir=spool_dir, limits=limits),
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,  # request lines are not logged, let alone their headers
            server_header=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
        reaper = RunReaper.from_env(metadata_store)  # closes runs whose process died
        reaper.start()
        try:
            uvicorn.Server(server_config).run()
        finally:
            reaper.stop()
    finally:
        metadata_store.close()
