"""``loopml NAME ...`` builds only the command tree of NAME, and that tree is the same as the
one ``loopml --help`` shows (loopml.cli.main._command_for)."""

from __future__ import annotations

from typing import Any

from loopml.cli.main import _command_for, app

PARAM_FIELDS = ("name", "opts", "secondary_opts", "required", "default", "help", "metavar")
PARAM_FIELDS += ("is_flag", "multiple", "envvar", "hidden")


def _described(command: Any) -> dict[str, Any]:
    """What a user sees of a command: its name, help, options and subcommands."""
    return {
        "name": command.name,
        "help": command.help,
        "epilog": command.epilog,
        "hidden": command.hidden,
        "params": [
            {
                **{key: repr(getattr(param, key, None)) for key in PARAM_FIELDS},
                "type": repr(param.type_descriptor.annotation),
            }
            for param in command.params
        ],
        "commands": {
            name: _described(sub) for name, sub in getattr(command, "commands", {}).items()
        },
    }


def test_a_named_command_builds_only_its_own_tree_and_the_same_one_as_the_full_tree() -> None:
    full = _command_for([])
    assert len(full.commands) > 20
    for name, whole in full.commands.items():
        pruned = _command_for([name, "--help"])
        assert list(pruned.commands) == [name]
        assert _described(pruned.commands[name]) == _described(whole), name
        assert pruned.help == full.help
        assert [p.name for p in pruned.params] == [p.name for p in full.params]


def test_options_first_no_arguments_or_an_unknown_name_build_every_command() -> None:
    names = {info.name for info in app.registered_commands} | {
        info.name for info in app.registered_groups
    }
    for args in ([], ["--help"], ["--version"], ["runz", "list"]):
        assert set(_command_for(args).commands) == names, args
