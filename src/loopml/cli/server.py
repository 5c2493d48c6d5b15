"""``loopml server``: run the platform server (HTTP API under /api/v1) over the project stores.

The CLI and the server are sibling entry points that never import each other (see the layers
in pyproject.toml), so this command hands over to ``python -m loopml.server`` — on POSIX the
process is replaced, so Ctrl-C, SIGTERM and the exit code behave exactly as the server's.
Store URIs travel in the environment, not on the command line, so a password in a database
URI never shows up in ``ps``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Literal

import typer

from loopml.cli import output
from loopml.core.config import load_config
from loopml.core.errors import ConfigError, InvalidInputError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
LogLevel = Literal["critical", "error", "warning", "info", "debug"]


def server_command(
    host: Annotated[
        str, typer.Option("--host", help="Interface to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="TCP port.")] = 5000,
    store_uri: Annotated[
        str | None,
        typer.Option(
            "--store-uri",
            help="Metadata store (sqlite:///…, postgresql+psycopg://…); default: the project's.",
        ),
    ] = None,
    artifact_uri: Annotated[
        str | None,
        typer.Option(
            "--artifact-uri",
            help="Artifact store (a folder, s3://bucket/prefix); default: the project's.",
        ),
    ] = None,
    log_level: Annotated[
        LogLevel, typer.Option("--log-level", help="Server log level.")
    ] = "warning",
    max_body_mb: Annotated[
        float | None,
        typer.Option(
            "--max-body-mb",
            min=0.001,
            envvar="LOOPML_SERVER_MAX_BODY_MB",
            help="Largest JSON request body in MiB; larger ones get 413. [default: 32]",
        ),
    ] = None,
    max_blob_mb: Annotated[
        float | None,
        typer.Option(
            "--max-blob-mb",
            min=0.001,
            envvar="LOOPML_SERVER_MAX_BLOB_MB",
            help="Largest artifact upload in MiB; larger ones get 413. [default: 10240]",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Server processes sharing the port (migrations run once, before they start).",
        ),
    ] = 1,
    auth: Annotated[
        bool,
        typer.Option(
            "--auth",
            envvar="LOOPML_AUTH",
            help="Every request needs an API token (loopml tokens create); required to listen "
            "beyond loopback.",
        ),
    ] = False,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            envvar="LOOPML_SERVER_POLICY",
            help="Gate policy (gates.yaml) that a move of champion through the API must "
            "satisfy (passed gate, approval); default: the project's gates.yaml, if any.",
        ),
    ] = None,
) -> None:
    """Run the loopml platform server: the tracking API that remote clients talk to.

    Clients use it when LOOPML_SERVER_URL points at it. The stores default to the nearest
    project (.loopml/) or LOOPML_STORE_URI / LOOPML_ARTIFACT_URI, or a file named by
    LOOPML_STORE_URI_FILE / LOOPML_ARTIFACT_URI_FILE (keeps a password out of ps). Passwords
    are never printed. Stop it with Ctrl-C.

    Examples:

        loopml server
        loopml server --auth --host 0.0.0.0 --port 8080 \\
            --store-uri postgresql+psycopg://loopml@db/loopml \\
            --artifact-uri s3://ml-bucket/loopml
        loopml server --auth --host 0.0.0.0 --workers 4   # PostgreSQL: more processes
        LOOPML_SERVER_URL=http://127.0.0.1:5000 loopml runs list
    """
    config = load_config()
    store = store_uri or config.store_uri
    artifacts = artifact_uri or config.artifact_uri
    if store is None or artifacts is None:
        raise ConfigError(
            "No stores to serve: no .loopml folder here or in a parent folder. Run 'loopml init', "
            "or pass --store-uri and --artifact-uri (or set LOOPML_STORE_URI and "
            "LOOPML_ARTIFACT_URI)."
        )
    from loopml.server.run import check_exposure, serve  # what `loopml server` pays for

    check_exposure(host, auth=auth)
    check_port_free(host, port)
    err = output.console(stderr=True)
    err.print(
        f"loopml server on http://{url_host(host)}:{port}  "
        f"(metadata: {output.redact_uri(store)}, artifacts: {output.redact_uri(artifacts)})",
        markup=False,
        soft_wrap=True,
    )
    if host not in LOOPBACK:
        err.print(f"Listening on {host}, reachable from other machines (auth on).", style="yellow")

    serve(
        host,
        port,
        store_uri=store,
        artifact_uri=artifacts,
        log_level=log_level,
        max_body_mb=max_body_mb,
        max_blob_mb=max_blob_mb,
        workers=workers,
        auth=auth,
        policy=policy,
    )


def check_port_free(host: str, port: int) -> None:
    """Fail with exit code 2 and a clear message when the address is taken, before the
    server starts (uvicorn would log the bind error and exit with its own code)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidInputError(f"Cannot listen on {host!r}: {exc.strerror}.") from exc
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise InvalidInputError(
                f"Cannot listen on {host}:{port}: {exc.strerror}. "
                "Pick another port with --port, or stop what is using it."
            ) from exc


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
