"""``loopml server``: run the platform server (HTTP API under /api/v1) over the project stores."""

from __future__ import annotations

from typing import Annotated

import typer

from loopml.cli import output
from loopml.core.config import load_config
from loopml.core.errors import ConfigError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


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
) -> None:
    """Run the loopml platform server: the tracking API that remote clients talk to.

    Clients use it when LOOPML_SERVER_URL points at it. The stores default to the nearest
    project (.loopml/) or LOOPML_STORE_URI / LOOPML_ARTIFACT_URI. Stop it with Ctrl-C.

    Examples:

        loopml server
        loopml server --host 0.0.0.0 --port 8080 \\
            --store-uri postgresql+psycopg://loopml@db/loopml \\
            --artifact-uri s3://ml-bucket/loopml
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
    from loopml.server.run import serve

    err = output.console(stderr=True)
    err.print(
        f"loopml server on http://{_url_host(host)}:{port}  "
        f"(metadata: {output.redact_uri(store)}, artifacts: {output.redact_uri(artifacts)})",
        markup=False,
        soft_wrap=True,
    )
    if host not in LOOPBACK:
        err.print(f"Warning: listening on {host}, reachable from other machines.", style="yellow")
    serve(host=host, port=port, store_uri=store, artifact_uri=artifacts)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
