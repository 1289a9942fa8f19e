"""Command-line parsers built from the settings table: the flag, its variable and its help in one step.

Every command adds its settings with :func:`add_settings`; the help of each flag ends with its
variable and default, and settings read from the environment only are listed after the flags.
:func:`settings_used` reads a built parser back, for ``deliverer settings`` and the README's table.
"""

from __future__ import annotations

import argparse
import os
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from deliverer.settings.setting import Setting

Container = argparse.ArgumentParser | argparse._ArgumentGroup

_SETTING_OF_ACTION: weakref.WeakKeyDictionary[argparse.Action, Setting] = weakref.WeakKeyDictionary()
_ENVIRONMENT_ONLY: weakref.WeakKeyDictionary[argparse.ArgumentParser, list[Setting]] = weakref.WeakKeyDictionary()


def add_settings(container: Container, *settings: Setting) -> None:
    """A flag for each setting, its default read from the environment."""
    environ = os.environ
    for setting in settings:
        if setting.flag is None:
            raise ValueError(f"{setting.env} has no flag: add it with add_environment_settings")
        options: dict[str, Any]
        if setting.switch:
            options = {"action": "store_true", "default": setting.value(environ)}
        elif setting.many:
            options = {"action": "append", "default": setting.value(environ), "metavar": setting.metavar}
        else:
            # The default stays text: argparse parses it with `type` like a flag's value, so a bad
            # variable is a usage error that names the flag.
            options = {
                "default": setting.text(environ), "type": setting.type, "choices": setting.choices,
                "metavar": setting.metavar,
            }
        action = container.add_argument(setting.flag, help=flag_help(setting), **options)
        _SETTING_OF_ACTION[action] = setting


def add_environment_settings(parser: argparse.ArgumentParser, *settings: Setting) -> None:
    """Settings a command reads from the environment only (secrets stay off command lines, which
    other users of the machine can read): their values go into the parsed arguments, their
    variables into the help after the flags."""
    parser.set_defaults(**{setting.dest: setting.value(os.environ) for setting in settings})
    listed = _ENVIRONMENT_ONLY.setdefault(parser, [])
    listed.extend(settings)
    parser.epilog = "Read from the environment only: " + "; ".join(
        f"${s.env}{'=1' if s.switch else ''}: {s.help}" for s in listed
    ) + "."


def flag_help(setting: Setting) -> str:
    """The setting's help, then its variable and default: ``store URL [$DELIVERER_STORE_URL, default …]``."""
    if setting.switch:
        tail = f"${setting.env}=1"
    elif setting.shown_default:
        tail = f"${setting.env}, default {setting.shown_default}"
    else:
        tail = f"${setting.env}"
    return f"{setting.help} [{tail}]".replace("%", "%%")


@dataclass(frozen=True)
class Use:
    """A command that reads a setting, with the setting as that command declares it."""

    command: str
    setting: Setting
    environment_only: bool


def settings_used(parser: argparse.ArgumentParser, command: str = "") -> Iterator[Use]:
    """Every setting ``parser`` and its subcommands read, command by command."""
    for setting in _ENVIRONMENT_ONLY.get(parser, []):
        yield Use(command, setting, environment_only=True)
    for action in parser._actions:
        if action in _SETTING_OF_ACTION:
            yield Use(command, _SETTING_OF_ACTION[action], environment_only=False)
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from settings_used(subparser, f"{command} {name}".strip())
