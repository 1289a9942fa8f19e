"""``deliverer settings``: every setting's value here and now, one for a script, or README's table.

Scripts (start.sh) ask this command for the values the other commands would use, instead of
repeating Python's defaults; README's Configuration table is its ``--markdown`` output.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable

from deliverer.redact import conf_without_secrets, without_secrets
from deliverer.settings import SPARK_CONF, TABLE, Setting
from deliverer.settings.arguments import Use, settings_used
from deliverer.usage import UsageError

MARKDOWN_HEADER = "| variable | flag (commands) | default | meaning |\n| --- | --- | --- | --- |"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "settings",
        help="show every setting's value (flag, variable, default), or print one for a script",
        description="Every environment variable the commands read, with the value they would use here: set in"
        " the environment, or the default. Flags given to a command still win over both.",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--get", nargs="+", metavar="VARIABLE",
        help="print the values of these variables, one per line, secrets included (for scripts)",
    )
    what.add_argument("--markdown", action="store_true", help="the table of every setting, as README shows it")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    uses = all_uses()
    declared = {use.setting.env: use.setting for use in reversed(uses)}  # as the first command declares it
    settings = [declared[setting.env] for setting in TABLE if setting.env in declared]
    if args.markdown:
        print(markdown_table(uses))
        return 0
    if args.get:
        unknown = [name for name in args.get if name not in declared]
        if unknown:
            raise UsageError(f"no setting named {', '.join(unknown)} (deliverer settings lists them)")
        for name in args.get:
            print(declared[name].text(os.environ))
        return 0
    width = max(len(setting.env) for setting in settings)
    for setting in settings:
        value, source = shown_value(setting)
        print(f"{setting.env:<{width}}  {value or '-'}  ({source})")
    return 0


def shown_value(setting: Setting) -> tuple[str, str]:
    """The value a command would use here, secrets and passwords hidden, and where it comes from."""
    source = next((name for name in (setting.env, *setting.formerly) if os.environ.get(name)), None)
    if source is None:
        text, where = setting.default_text(os.environ), "default"
    else:
        text = os.environ[source]
        where = "set" if source == setting.env else f"set as {source}, its former name"
    if setting.secret:
        return ("***" if text else ""), where
    if setting.env == SPARK_CONF.env:
        return conf_without_secrets(text), where
    return without_secrets(text), where


def all_uses() -> list[Use]:
    from deliverer_cli.main import build_parser  # the whole command line, this command included

    return list(settings_used(build_parser()))


def markdown_table(uses: Iterable[Use]) -> str:
    """One row per variable, in the table's order: the flag and the commands that read it, its
    default (as the commands declare it) and its help."""
    by_env: dict[str, list[Use]] = {}
    for use in uses:
        by_env.setdefault(use.setting.env, []).append(use)
    rows = [MARKDOWN_HEADER]
    for setting in TABLE:
        found = by_env.get(setting.env, [])
        if not found:
            continue
        rows.append(
            f"| `{setting.env}` | {_flags(found)} | {_default(found)} | {_cell(found[0].setting.help)} |"
        )
    return "\n".join(rows)


def _flags(uses: list[Use]) -> str:
    parts = []
    flagged = [use.command for use in uses if not use.environment_only]
    if flagged:
        parts.append(f"`{uses[0].setting.flag}` ({', '.join(_commands(flagged))})")
    environment_only = [use.command for use in uses if use.environment_only]
    if environment_only:
        parts.append(f"environment only ({', '.join(_commands(environment_only))})")
    return "; ".join(parts)


def _commands(commands: list[str]) -> list[str]:
    """Command names, once each; ``deliverer`` itself for the options every command takes."""
    return list(dict.fromkeys(command or "every command" for command in commands))


def _default(uses: list[Use]) -> str:
    setting = uses[0].setting
    if setting.switch:
        return "off (`1`: on)"
    shown = {use.setting.shown_default for use in uses}
    return " or ".join(f"`{text}`" for text in sorted(shown) if text) or "unset"


def _cell(text: str) -> str:
    """Help text as a table cell: nothing in it read as Markdown or HTML."""
    for special in ("\\", "|", "*", "<", "`"):
        text = text.replace(special, "\\" + special)
    return text
