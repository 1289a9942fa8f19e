"""Command-line parsers built from the settings table: the flag, its variable and its help in one step.

Every command adds its settings with :func:`add_settings`; the help of each flag ends with its
variable and default, and settings read from the environment only are listed after the flags.
:func:`settings_used` reads a built parser back, for ``deliverer settings`` and the README's table.
"""

from __future__ import annotations

import argparse
import os
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from deliverer.settings.setting import FromVariable, Setting, switch
from deliverer.usage import UsageError

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
            # The default stays text, like any other (below): a switch variable set to a word that
            # is neither on nor off is refused when the command line is parsed, not read as off.
            options = {"action": _Switch, "default": setting.text(environ), "type": _checked(switch, None)}
        elif setting.many:
            options = {"action": "append", "default": setting.value(environ), "metavar": setting.metavar}
        else:
            # The default stays text: argparse parses it with `type` like a flag's value, so a bad
            # variable is a usage error that names the flag and the variable.
            options = {
                "default": setting.text(environ), "choices": setting.choices, "metavar": setting.metavar,
                "type": _checked(setting.type, setting.choices),
            }
        action = container.add_argument(setting.flag, help=flag_help(setting), **options)
        _SETTING_OF_ACTION[action] = setting


class _Switch(argparse.Action):
    """``store_true`` whose default is text, parsed by ``type`` like any other default."""

    def __init__(self, option_strings: Sequence[str], dest: str, **options: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **options)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, *_args: Any) -> None:
        setattr(namespace, self.dest, True)


def _checked(parse: Callable[[str], Any] | None, choices: Sequence[Any] | None) -> Callable[[str], Any]:
    """``parse`` as argparse's ``type``: its error is argparse's message as it is, and names the
    variable a default came from. argparse checks ``choices`` of a flag's value only: a variable's
    is checked here."""

    def checked(text: str) -> Any:
        try:
            value = parse(text) if parse is not None else text
        except (ValueError, argparse.ArgumentTypeError) as exc:  # UsageError is a ValueError
            raise argparse.ArgumentTypeError(_from_variable(str(exc), text)) from None
        if isinstance(text, FromVariable) and choices is not None and value not in choices:
            listed = ", ".join(map(repr, choices))
            raise argparse.ArgumentTypeError(_from_variable(f"invalid choice {text!r} (choose from {listed})", text))
        return str(value) if isinstance(value, FromVariable) else value  # the mark stays on this side

    return checked


def _from_variable(message: str, text: str) -> str:
    return f"{message} (from ${text.variable})" if isinstance(text, FromVariable) else message


@dataclass(frozen=True)
class RefusedSetting:
    """An environment-only setting whose variable holds a value it cannot take: the command refuses
    to run (:func:`refused_setting`) when it is the one that reads it."""

    error: UsageError


def refused_setting(args: argparse.Namespace) -> UsageError | None:
    """The error of the first environment-only setting the parsed command cannot take, if any."""
    return next((value.error for value in vars(args).values() if isinstance(value, RefusedSetting)), None)


def add_environment_settings(parser: argparse.ArgumentParser, *settings: Setting) -> None:
    """Settings a command reads from the environment only (secrets stay off command lines, which
    other users of the machine can read): their values go into the parsed arguments, their
    variables into the help after the flags."""
    parser.set_defaults(**{setting.dest: _environment_value(setting) for setting in settings})
    listed = _ENVIRONMENT_ONLY.setdefault(parser, [])
    listed.extend(settings)
    parser.epilog = "Read from the environment only: " + "; ".join(
        f"${s.env}{'=1' if s.switch else ''}: {s.help}" for s in listed
    ) + "."


def _environment_value(setting: Setting) -> Any:
    try:
        return setting.value(os.environ)
    except UsageError as exc:
        return RefusedSetting(exc)


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
