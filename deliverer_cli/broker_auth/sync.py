"""Bring the broker's accounts to what .env says: the running broker through the control API, and
the config file the plugin loads at its next start.

The running broker goes first: the plugin saves its file after every change, and that file is the
only record of the passwords it holds (as hashes), so it is read before and rewritten after.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deliverer.mqtt import MqttEndpoint
from deliverer_cli.broker_auth import dynsec
from deliverer_cli.broker_auth.accounts import ADMIN_USERNAME, Account, admin_account
from deliverer_cli.broker_auth.control import BrokerNotRunning, Command, ControlError, DynsecControl

CONFIG_NAME = "dynamic-security.json"
ADMIN_PASSWORD_NAME = "accounts-admin.password"
COMMANDS_PER_REQUEST = 500

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncResult:
    live_commands: int | None
    """Commands sent to the running broker; None when no broker was running."""
    accounts: int


def write_private(path: Path, text: str, owner: str | None) -> None:
    """Replace ``path`` atomically with a file only its owner (the broker's user) may read."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    if owner:
        user, _, group = owner.partition(":")
        shutil.chown(temporary, user, group or None)
    os.replace(temporary, path)


def admin_password(auth_dir: Path, owner: str | None) -> str:
    """The plugin administrator's password: made once, kept beside the config, never in .env."""
    path = auth_dir / ADMIN_PASSWORD_NAME
    if not path.exists():
        write_private(path, secrets.token_hex(16) + "\n", owner)
    return path.read_text().strip()


def read_config(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    config: dict[str, Any] = json.loads(path.read_text())
    return config


def live_commands(control: DynsecControl, accounts: Sequence[Account], saved: dict[str, Any] | None) -> list[Command]:
    """What the running broker needs to hold ``accounts``; the administrator itself is left alone,
    since changing its account would disconnect this very session."""
    clients_answer, roles_answer, access_answer = control.run([
        {"command": "listClients", "verbose": True},
        {"command": "listRoles", "verbose": True},
        {"command": "getDefaultACLAccess"},
    ])
    live_clients = [c for c in clients_answer["data"]["clients"] if c["username"] != ADMIN_USERNAME]
    live_roles = [r for r in roles_answer["data"]["roles"] if r["rolename"] != ADMIN_USERNAME]
    saved_clients = {client["username"]: client for client in (saved or {}).get("clients", [])}
    return [
        *dynsec.default_access_changes(access_answer["data"]["acls"]),
        *dynsec.role_changes({account.role for account in accounts}, live_roles),
        *dynsec.client_changes(accounts, live_clients, saved_clients),
        *dynsec.removals(accounts, live_clients, live_roles),
    ]


def sync_accounts(
    accounts: Sequence[Account], auth_dir: Path, broker: MqttEndpoint | None, owner: str | None = None
) -> SyncResult:
    """Apply ``accounts`` to the broker at ``broker`` when one runs there, then write the config file."""
    auth_dir.mkdir(parents=True, exist_ok=True)
    if owner:
        user, _, group = owner.partition(":")
        shutil.chown(auth_dir, user, group or None)
    config_path = auth_dir / CONFIG_NAME
    saved = read_config(config_path)
    admin = admin_account(admin_password(auth_dir, owner))
    sent: int | None = None
    if broker is not None:
        endpoint = MqttEndpoint(broker.host, broker.port, admin.username, admin.password, broker.tls)
        try:
            with DynsecControl(endpoint, ADMIN_USERNAME) as control:
                commands = live_commands(control, accounts, saved)
                for start in range(0, len(commands), COMMANDS_PER_REQUEST):
                    control.run(commands[start:start + COMMANDS_PER_REQUEST])
                sent = len(commands)
        except BrokerNotRunning as exc:
            log.info("%s: the broker loads the accounts when it starts", exc)
        except ControlError as exc:
            # A broker from before these accounts (password file and ACL) knows no administrator;
            # the new config takes over when Compose recreates it with the new configuration.
            if exc.reason != "login_refused" or saved is not None:
                raise
            log.warning("%s: the running broker has no accounts administrator yet; it loads the accounts"
                        " when it restarts", exc)
    config = dynsec.render_config([admin, *accounts], saved)
    write_private(config_path, json.dumps(config, indent=1) + "\n", owner)
    return SyncResult(sent, len(accounts))
