"""``deliverer broker-accounts``: the container broker's accounts from .env, applied without a restart.

Docker Compose runs it in the one-shot service ``mqtt-auth`` on every ``up``. The secrets come from
the environment only (see .env.example); a placeholder left from .env.example is refused.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from deliverer.mqtt import parse_mqtt_url
from deliverer.settings import BROKER_ACCOUNTS_URL, BROKER_FILE_OWNER
from deliverer.settings.arguments import add_settings
from deliverer_cli.broker_auth.accounts import COURIERS_SETTING, SERVICE_PASSWORD_SETTINGS, accounts_from_settings
from deliverer_cli.broker_auth.control import ControlError
from deliverer_cli.broker_auth.sync import CONFIG_NAME, sync_accounts

log = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "broker-accounts",
        help="write the container broker's accounts from the environment and apply them to the running broker",
        description=(
            f"Write AUTH_DIR/{CONFIG_NAME}, the config of Mosquitto's dynamic security plugin, from"
            f" {', '.join(SERVICE_PASSWORD_SETTINGS.values())} and {COURIERS_SETTING} (deliverer_id:password"
            " pairs). When a broker answers at --broker, its accounts are changed in place first: only what"
            " changed, so other clients stay connected."
        ),
    )
    parser.add_argument("auth_dir", type=Path, metavar="AUTH_DIR", help="where the broker reads its accounts")
    add_settings(parser, BROKER_ACCOUNTS_URL, BROKER_FILE_OWNER)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    accounts = accounts_from_settings(os.environ)
    broker = parse_mqtt_url(args.broker) if args.broker else None
    try:
        result = sync_accounts(accounts, args.auth_dir, broker, args.owner or None)
    except ControlError as exc:
        print(f"deliverer broker-accounts: {exc} ({exc.reason}); the running broker keeps its accounts and"
              f" {args.auth_dir / CONFIG_NAME} is unchanged", file=sys.stderr)
        return 1
    couriers = sum(1 for account in accounts if "~" not in account.username)
    changes = result.live_commands
    applied = ("no broker running: it loads them when it starts" if changes is None
               else f"applied to the running broker ({changes} change{'' if changes == 1 else 's'})")
    print(f"broker-accounts: {len(accounts) - couriers} service accounts and {couriers} couriers in"
          f" {args.auth_dir / CONFIG_NAME}; {applied}")
    return 0
