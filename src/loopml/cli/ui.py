"""``loopml ui``: the web dashboard over this project's own store, on 127.0.0.1.

A project that talks to a platform server has its dashboard there (``<server>/ui/``); this
command is for the embedded store (SQLite or a database URI in ``.loopml``). Ctrl-C stops it.
"""

from __future__ import annotations

import socket
import sys
from typing import Annotated

import typer

from loopml.cli import output
from loopml.core.config import load_config
from loopml.core.errors import ConfigError, InvalidInputError

HOST = "127.0.0.1"  # the embedded store's dashboard asks for no token: loopback only


def ui_command(
    port: Annotated[
        int,
        typer.Option("--port", "-p", min=0, max=65535, help="TCP port (0: a free one)."),
    ] = 0,
) -> None:
    """Serve the web dashboard over this project's store on 127.0.0.1 and print its URL
    (open it in a browser; Ctrl-C stops the server).

    Examples:

        loopml ui
        loopml ui --port 8765
    """
    config = load_config()
    if config.server_url is not None:
        raise ConfigError(
            f"This project uses the server at {config.server_url}: its dashboard is "
            f"{config.server_url.rstrip('/')}/ui/ ('loopml ui' serves a project's own store)."
        )
    if config.store_uri is None:
        raise ConfigError(
            "No loopml project here: no .loopml folder in this directory or its parents. "
            "Run 'loopml init' or set LOOPML_STORE_URI."
        )
    import uvicorn  # the web stack is imported by this command only, not by every loopml run

    from loopml.dashboard.local_app import local_app
    from loopml.dashboard.local_registry import LocalRegistryActions
    from loopml.dashboard.sources import DashboardSources
    from loopml.tracking.client import Client

    listener = _listen(port)
    client = Client(config.store_uri, config.artifact_uri, config=config, create=False)
    # the buttons promote and approve as 'loopml models promote/approve' do here
    registry = LocalRegistryActions(client)
    sources = DashboardSources(client.metadata, client.artifacts, client.loop, registry=registry)
    try:
        url = f"http://{HOST}:{listener.getsockname()[1]}/ui/"
        output.console().print(f"loopml dashboard: {url}  (Ctrl-C stops it)", markup=False)
        sys.stdout.flush()  # shown now, also when stdout is a pipe
        settings = uvicorn.Config(
            local_app(sources), log_level="warning", access_log=False, server_header=False
        )
        uvicorn.Server(settings).run(sockets=[listener])
    finally:
        listener.close()
        client.close()


def _listen(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((HOST, port))
    except OSError as exc:
        listener.close()
        raise InvalidInputError(
            f"Cannot listen on {HOST}:{port}: {exc.strerror}. "
            "Pick another port with --port, or stop what is using it."
        ) from exc
    listener.listen(128)
    return listener
