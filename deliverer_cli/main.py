"""The ``deliverer`` console script: the composition root that wires services to the domain."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from app_api import cli as api_cli
from app_api.live import cli as live_cli
from deliverer.logs import configure_logging
from deliverer.settings import LOG_FORMAT, LOG_LEVEL, renamed_in, shadowed_in
from deliverer.settings.arguments import add_settings, refused_setting
from deliverer.store import StoreUnavailable
from deliverer.usage import UsageError
from deliverer_cli import broker, broker_accounts, broker_certs, rejected, settings, stats, store
from publisher import cli as publisher_cli
from spark_jobs import cli as lake_cli
from subscriber import cli as subscriber_cli

COMMANDS = (
    subscriber_cli, stats, rejected, store, broker, broker_accounts, broker_certs, publisher_cli, api_cli, live_cli,
    *lake_cli.COMMANDS, settings,
)

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """argparse, but a refused flag or variable is one line, as a :class:`UsageError` is (the usage
    summary of a command with twenty flags buries the one line that matters)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="deliverer", description="Courier location pipeline: MQTT ingest, store, API and lake."
    )
    add_settings(parser, LOG_LEVEL, LOG_FORMAT)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    for old, new in renamed_in(os.environ):
        log.warning("%s is now called %s: the old name is still read, for now", old, new)
    for old, new in shadowed_in(os.environ):
        log.warning("%s is ignored: %s is set too, and wins (unset the old name)", old, new)
    refused = refused_setting(args)
    if refused is not None:
        print(f"deliverer {args.command}: {refused}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except StoreUnavailable as exc:
        print(f"deliverer {args.command}: store unavailable: {exc}", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"deliverer {args.command}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        # The lake commands still say "bad input" with a plain ValueError; every other command raises
        # UsageError, so a ValueError from them is a bug and keeps its traceback.
        if not args.func.__module__.startswith("spark_jobs."):
            raise
        print(f"deliverer {args.command}: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        # The lake commands import their libraries (the `lake` extra) when they run: only the
        # exporter's image has them, every other image still lists the commands.
        if not args.func.__module__.startswith("spark_jobs."):
            raise
        print(
            f"deliverer {args.command}: {exc.name} is not installed; the lake commands need the lake extra "
            "(pip install 'deliverer[lake]'; in Docker, the exporter's image)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
