"""The ``deliverer`` console script: the composition root that wires services to the domain."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from app_api import cli as api_cli
from deliverer.logs import configure_logging
from deliverer.settings import ENV_LOG_FORMAT, ENV_LOG_LEVEL, env
from deliverer.store import StoreUnavailable
from deliverer_cli import broker, broker_accounts, broker_certs, rejected, stats, store
from publisher import cli as publisher_cli
from spark_jobs import cli as lake_cli
from subscriber import cli as subscriber_cli

COMMANDS = (
    subscriber_cli, stats, rejected, store, broker, broker_accounts, broker_certs, publisher_cli, api_cli,
    *lake_cli.COMMANDS,
)

log = logging.getLogger("deliverer")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deliverer", description="Courier location pipeline: MQTT ingest, store, API and lake."
    )
    parser.add_argument("--log-level", default=env(ENV_LOG_LEVEL, "INFO"), help="[$DELIVERER_LOG_LEVEL]")
    parser.add_argument(
        "--log-format", choices=("text", "json"), default=env(ENV_LOG_FORMAT, "text"), help="[$DELIVERER_LOG_FORMAT]"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        return int(args.func(args))
    except StoreUnavailable as exc:
        print(f"deliverer {args.command}: store unavailable: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
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
