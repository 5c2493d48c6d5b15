"""``loopml init``: make a project folder (``.loopml/``) and say where the stores live."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from loopml.cli import output
from loopml.core.config import DIR_NAME, ENV_SERVER_URL, init_project
from loopml.core.errors import InvalidInputError
from loopml.tracking.client import Client


def init_command(
    path: Annotated[
        Path,
        typer.Argument(help="Folder to initialise (default: the current folder)."),
    ] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create a loopml project (.loopml/) in PATH.

    The metadata store (SQLite) and the artifact store (a folder) live inside it unless
    LOOPML_STORE_URI / LOOPML_ARTIFACT_URI say otherwise. With a platform server named by
    LOOPML_SERVER_URL (or server_url in .loopml/config.toml), runs and artifacts go to the
    server instead and the local stores are not used. Running it again is harmless.

    Examples:

        loopml init
        loopml init ~/projects/churn --json
    """
    folder = path.expanduser()
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"Cannot initialise {folder}: it is a file, not a folder.")
    existed = (folder / DIR_NAME).is_dir()
    try:
        config = init_project(folder)
    except OSError as exc:
        raise InvalidInputError(f"Cannot create {folder / DIR_NAME}: {exc.strerror}.") from exc
    with Client(config=config, create=True):
        pass  # creates (or upgrades) the metadata store now, not in the first real command
    source = "LOOPML_SERVER_URL" if os.environ.get(ENV_SERVER_URL) else f"{DIR_NAME}/config.toml"
    if as_json:
        output.print_json(
            {
                "root": str(config.root),
                "created": not existed,
                "stores": "server" if config.server_url else "local",
                "store_uri": output.redact_uri(config.store_uri),
                "artifact_uri": output.redact_uri(config.artifact_uri),
                "server_url": output.redact_uri(config.server_url) or None,
            }
        )
        return
    out = output.console()
    verb = "Already initialised" if existed else "Initialised"
    out.print(f"{verb} loopml project in [bold]{output.escape(config.root)}[/]")
    if config.server_url:
        out.print(
            f"  server:    {output.redact_uri(config.server_url)} (from {source}): runs, "
            "models and artifacts are stored there; the local stores below are not used "
            "while it is set.",
            markup=False,
        )
        out.print(f"  (local metadata: {output.redact_uri(config.store_uri)})", markup=False)
        out.print(f"  (local artifacts: {output.redact_uri(config.artifact_uri)})", markup=False)
    else:
        out.print(f"  metadata:  {output.redact_uri(config.store_uri)}", markup=False)
        out.print(f"  artifacts: {output.redact_uri(config.artifact_uri)}", markup=False)
    out.print("Next: log a run with loopml.start_run(...) or try 'loopml quickstart'.")
