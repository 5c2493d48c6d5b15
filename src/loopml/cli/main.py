"""The ``loopml`` Typer app and the console-script entry point.

Errors are turned into exit codes here and only here: a :class:`LoopMLError` prints its
message in red on stderr (no traceback) and exits with ``err.exit_code`` (2); usage errors
exit 2 through Typer; 1 is reserved for "a check failed".
"""

from __future__ import annotations

import copy
import sys
from typing import Annotated, Any, NoReturn

import typer

from loopml import __version__
from loopml.cli import (
    alerts,
    audit,
    ci,
    data,
    deployments,
    encryption,
    experiments,
    init,
    loop,
    models,
    monitor,
    pipeline,
    quickstart,
    runs,
    server,
    tokens,
    tune,
    users,
)
from loopml.cli.agent import agent_command
from loopml.cli.card import card_command
from loopml.cli.explain import explain_command
from loopml.cli.fairness import fairness_command
from loopml.cli.feedback import feedback_command
from loopml.cli.gate import gate_command
from loopml.cli.gc import gc_command
from loopml.cli.lineage import lineage_command
from loopml.cli.model_describe import describe_command
from loopml.cli.output import print_error, print_json
from loopml.cli.package import package_command
from loopml.cli.predict import predict_command
from loopml.cli.serve import serve_command
from loopml.cli.ui import ui_command
from loopml.core.errors import LoopMLError, error_body

app = typer.Typer(
    name="loopml",
    help=(
        "loopml: track, compare and serve machine-learning runs, with the loop closed.\n\n"
        "Start with 'loopml quickstart' to train a few real models and compare them, or\n"
        "'loopml init' to make a project (.loopml/) in this folder.\n\n"
        "Settings come from the nearest .loopml/ and the environment: LOOPML_STORE_URI,\n"
        "LOOPML_ARTIFACT_URI, LOOPML_SERVER_URL, LOOPML_TOKEN.\n\n"
        "Exit codes: 0 ok, 1 a check failed, 2 usage or input error."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",  # prose reflows; indented examples stay as written
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals could hold a token
)
app.command("init")(init.init_command)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(data.app, name="data")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(models.app, name="models")
models.app.command("describe")(describe_command)
app.add_typer(ci.app, name="ci")
app.command("tune")(tune.tune_command)
app.command("gate")(gate_command)
app.command("explain")(explain_command)
app.command("fairness")(fairness_command)
app.command("package")(package_command)
app.command("predict")(predict_command)
app.command("server")(server.server_command)
app.command("ui")(ui_command)
app.command("serve")(serve_command)
app.command("feedback")(feedback_command)
app.add_typer(monitor.app, name="monitor")
app.add_typer(deployments.app, name="deployments")
app.add_typer(alerts.app, name="alerts")
app.add_typer(loop.app, name="loop")
app.command("agent")(agent_command)
app.command("quickstart")(quickstart.quickstart_command)
app.command("gc")(gc_command)
app.add_typer(users.app, name="users")
app.add_typer(tokens.app, name="tokens")
app.command("lineage")(lineage_command)
app.command("card")(card_command)
app.add_typer(encryption.app, name="encryption")
app.add_typer(audit.app, name="audit")


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"loopml {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the loopml version and exit.",
            callback=_show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """loopml command line."""


def main() -> None:
    """Console-script entry point: run the app, turning loopml errors into exit codes.

    Under ``--json`` a failure also prints its error object on stdout
    (``{"error": {"code", "message"}}``, the platform API's shape), so a script that parses
    stdout reads why the command failed; people still get the message on stderr.
    """
    as_json = "--json" in sys.argv[1:]
    command = _command_for(sys.argv[1:])
    _hide_flag_types(command)
    try:
        if not as_json:
            command.main(prog_name="loopml")
            return
        code = command.main(prog_name="loopml", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except LoopMLError as err:
        _fail(err.code, err.message, err.exit_code, as_json=as_json)
    except typer.Abort:  # only caught here under --json (standalone mode handles it)
        _fail("aborted", "Aborted.", 1, as_json=True)
    except typer.TyperException as err:  # a usage error, under --json
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        _fail("usage_error", message, getattr(err, "exit_code", 2), as_json=True)


def _command_for(args: list[str]) -> Any:
    """The Click command tree that runs ``args``: only the top-level command they name (and
    its subcommands) when they name one, else every command (``loopml --help``, a typo).

    Typer builds a command by reading its function's signature and type hints; building all
    ~75 of them cost ~0.2 s of CPU in every ``loopml`` process, a quarter of a listing
    command's start-up.
    """
    name = args[0] if args and not args[0].startswith("-") else None
    commands = [info for info in app.registered_commands if info.name == name]
    groups = [info for info in app.registered_groups if info.name == name]
    if name is None or not (commands or groups):
        return typer.main.get_command(app)
    only = copy.copy(app)  # the same root (callback, help), with the one command it runs
    only.registered_commands = commands
    only.registered_groups = groups
    return typer.main.get_command(only)


def _hide_flag_types(command: Any) -> None:
    """Show ``--quiet`` in help as a flag, not as ``--quiet <bool>`` (Typer's default)."""
    bare = typer.Context(command)  # only to build the command's --help option
    for param in [*command.params, command.get_help_option(bare)]:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _hide_flag_types(sub)


def _fail(code: str, message: str, exit_code: int, *, as_json: bool) -> NoReturn:
    if as_json:
        print_json(error_body(code, message))
    print_error(message)
    sys.exit(exit_code)
