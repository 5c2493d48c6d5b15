"""The ``loopml`` Typer app and the console-script entry point.

Errors are turned into exit codes here and only here: a :class:`LoopMLError` prints its
message in red on stderr (no traceback) and exits with ``err.exit_code`` (2); usage errors
exit 2 through Typer; 1 is reserved for "a check failed".
"""

from __future__ import annotations

import functools
import sys
from typing import Annotated, Any, NoReturn

import typer

from loopml import __version__
from loopml.cli.output import print_error, print_json
from loopml.core.errors import LoopMLError, error_body

HELP = (
    "loopml: track, compare and serve machine-learning runs, with the loop closed.\n\n"
    "Start with 'loopml quickstart' to train a few real models and compare them, or\n"
    "'loopml init' to make a project (.loopml/) in this folder.\n\n"
    "Settings come from the nearest .loopml/ and the environment: LOOPML_STORE_URI,\n"
    "LOOPML_ARTIFACT_URI, LOOPML_SERVER_URL, LOOPML_TOKEN.\n\n"
    "Exit codes: 0 ok, 1 a check failed, 2 usage or input error."
)

# name -> "module:attribute", a Typer app (a group of subcommands) or a command's function, in
# the order help lists them; a command's module is imported only when a process runs it (or
# lists every command), so ``loopml runs list`` imports none of the other ~30 command modules
COMMANDS: dict[str, str] = {
    "init": "loopml.cli.init:init_command",
    "experiments": "loopml.cli.experiments:app",
    "runs": "loopml.cli.runs:app",
    "data": "loopml.cli.data:app",
    "pipeline": "loopml.cli.pipeline:app",
    "models": "loopml.cli.models:app",
    "ci": "loopml.cli.ci:app",
    "tune": "loopml.cli.tune:tune_command",
    "gate": "loopml.cli.gate:gate_command",
    "explain": "loopml.cli.explain:explain_command",
    "fairness": "loopml.cli.fairness:fairness_command",
    "package": "loopml.cli.package:package_command",
    "predict": "loopml.cli.predict:predict_command",
    "server": "loopml.cli.server:server_command",
    "ui": "loopml.cli.ui:ui_command",
    "serve": "loopml.cli.serve:serve_command",
    "feedback": "loopml.cli.feedback:feedback_command",
    "monitor": "loopml.cli.monitor:app",
    "deployments": "loopml.cli.deployments:app",
    "alerts": "loopml.cli.alerts:app",
    "loop": "loopml.cli.loop:app",
    "agent": "loopml.cli.agent:agent_command",
    "quickstart": "loopml.cli.quickstart:quickstart_command",
    "gc": "loopml.cli.gc:gc_command",
    "users": "loopml.cli.users:app",
    "tokens": "loopml.cli.tokens:app",
    "lineage": "loopml.cli.lineage:lineage_command",
    "card": "loopml.cli.card:card_command",
    "encryption": "loopml.cli.encryption:app",
    "audit": "loopml.cli.audit:app",
}


def _app_with(names: list[str]) -> typer.Typer:
    """The root app (its help, ``--version``) with the commands ``names``, their modules
    imported now."""
    root = typer.Typer(
        name="loopml",
        help=HELP,
        no_args_is_help=True,
        rich_markup_mode="markdown",  # prose reflows; indented examples stay as written
        add_completion=False,
        pretty_exceptions_show_locals=False,  # locals could hold a token
    )
    root.callback()(_root)
    for name in names:
        module_name, _, attribute = COMMANDS[name].partition(":")
        # the import statement's machinery (not importlib.import_module): -X importtime and
        # PYTHONPROFILEIMPORTTIME report only the modules it imports
        target = getattr(__import__(module_name, fromlist=[attribute]), attribute)
        if isinstance(target, typer.Typer):
            root.add_typer(target, name=name)
        else:
            root.command(name)(target)
    return root


@functools.cache
def _every_command() -> typer.Typer:
    return _app_with(list(COMMANDS))


def __getattr__(name: str) -> typer.Typer:
    """``app``: the Typer app with every command (built on first use; ``main`` builds only the
    command a process runs)."""
    if name == "app":
        return _every_command()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"loopml {__version__}\n")
        raise typer.Exit(0)


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
    command's start-up; importing the other command modules another ~0.03–0.05 s.
    """
    name = args[0] if args and not args[0].startswith("-") else None
    if name is None or name not in COMMANDS:
        return typer.main.get_command(_every_command())
    return typer.main.get_command(_app_with([name]))


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
