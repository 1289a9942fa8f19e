"""The dynamic security plugin's config file, and the commands that bring a running broker to it.

Passwords are stored as the plugin stores them (PBKDF2-HMAC-SHA512, 64 bytes, 12-byte salt). An
account whose password did not change keeps its salt and hash, so rewriting the file for an
unchanged .env changes nothing; and a running broker is sent only what changed, because the plugin
disconnects every client whose account or role a command touches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from deliverer_cli.broker_auth.accounts import DEFAULT_ACCESS, Account, Acl, Role
from deliverer_cli.broker_auth.control import Command

# The plugin's own default (mosquitto_ctrl and mosquitto_passwd use it too). Every connection costs
# one hash of this many rounds in the broker's single thread; the secrets are random (start.sh).
ITERATIONS = 101
SALT_BYTES = 12


def hash_password(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)


def password_matches(client: Mapping[str, Any], password: str) -> bool:
    """Whether a client entry of the config file holds this password."""
    try:
        salt = base64.b64decode(client["salt"], validate=True)
        stored = base64.b64decode(client["password"], validate=True)
        iterations = int(client["iterations"])
    except (KeyError, ValueError, TypeError):
        return False
    return hmac.compare_digest(hash_password(password, salt, iterations), stored)


def client_entry(account: Account, current: Mapping[str, Any] | None) -> dict[str, Any]:
    if current is not None and password_matches(current, account.password):
        secret = {key: current[key] for key in ("password", "salt", "iterations")}
    else:
        salt = secrets.token_bytes(SALT_BYTES)
        secret = {
            "password": base64.b64encode(hash_password(account.password, salt, ITERATIONS)).decode(),
            "salt": base64.b64encode(salt).decode(),
            "iterations": ITERATIONS,
        }
    entry: dict[str, Any] = {"username": account.username, **secret, "roles": [{"rolename": account.role.name}]}
    if account.client_id is not None:
        entry["clientid"] = account.client_id
    return entry


def acl_entries(acls: Iterable[Acl]) -> list[dict[str, Any]]:
    return [{"acltype": acl.acltype, "topic": acl.topic, "allow": acl.allow} for acl in sorted(acls)]


def render_config(accounts: Iterable[Account], current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole config file for these accounts; ``current`` is the file as it was, whose hashes are kept."""
    accounts = list(accounts)
    current_clients = {client.get("username"): client for client in (current or {}).get("clients", [])}
    roles = {account.role.name: account.role for account in accounts}
    return {
        "clients": [client_entry(account, current_clients.get(account.username)) for account in accounts],
        "groups": [],
        "roles": [{"rolename": role.name, "acls": acl_entries(role.acls)} for role in roles.values()],
        "defaultACLAccess": dict(DEFAULT_ACCESS),
    }


def live_acls(role: Mapping[str, Any]) -> set[Acl]:
    return {Acl(acl["acltype"], acl["topic"], bool(acl.get("allow", True))) for acl in role.get("acls", [])}


def role_changes(desired: Iterable[Role], live_roles: Iterable[Mapping[str, Any]]) -> list[Command]:
    """Create missing roles and make existing ones hold exactly their ACLs (before any client needs them)."""
    live = {role["rolename"]: live_acls(role) for role in live_roles}
    commands: list[Command] = []
    for role in desired:
        if role.name not in live:
            commands.append({"command": "createRole", "rolename": role.name, "acls": acl_entries(role.acls)})
            continue
        for acl in sorted(live[role.name] - role.acls):
            commands.append({"command": "removeRoleACL", "rolename": role.name, "acltype": acl.acltype,
                             "topic": acl.topic})
        for acl in sorted(role.acls - live[role.name]):
            commands.append({"command": "addRoleACL", "rolename": role.name, "acltype": acl.acltype,
                             "topic": acl.topic, "allow": acl.allow})
    return commands


def client_changes(
    desired: Iterable[Account], live_clients: Iterable[Mapping[str, Any]], saved: Mapping[str, Mapping[str, Any]]
) -> list[Command]:
    """Create, re-password, re-bind and re-role accounts; ``saved``: the config file's clients by username,
    the only place their password hashes can be compared (the control API never returns them)."""
    live = {client["username"]: client for client in live_clients}
    commands: list[Command] = []
    for account in desired:
        roles = [{"rolename": account.role.name}]
        current = live.get(account.username)
        if current is None:
            command: Command = {"command": "createClient", "username": account.username,
                                "password": account.password, "roles": roles}
            if account.client_id is not None:
                command["clientid"] = account.client_id
            commands.append(command)
            continue
        saved_client = saved.get(account.username)
        if saved_client is None or not password_matches(saved_client, account.password):
            commands.append({"command": "setClientPassword", "username": account.username,
                             "password": account.password})
        if current.get("clientid") != account.client_id:
            commands.append({"command": "setClientId", "username": account.username,
                             **({"clientid": account.client_id} if account.client_id is not None else {})})
        live_roles = {role["rolename"] for role in current.get("roles", [])}
        for extra in sorted(live_roles - {account.role.name}):
            commands.append({"command": "removeClientRole", "username": account.username, "rolename": extra})
        if account.role.name not in live_roles:
            commands.append({"command": "addClientRole", "username": account.username, "rolename": account.role.name})
    return commands


def removals(
    desired: Iterable[Account], live_clients: Iterable[Mapping[str, Any]], live_roles: Iterable[Mapping[str, Any]]
) -> list[Command]:
    """Delete the accounts and roles .env no longer names (their clients are disconnected)."""
    desired = list(desired)
    usernames = {account.username for account in desired}
    role_names = {account.role.name for account in desired}
    return [
        *({"command": "deleteClient", "username": client["username"]}
          for client in live_clients if client["username"] not in usernames),
        *({"command": "deleteRole", "rolename": role["rolename"]}
          for role in live_roles if role["rolename"] not in role_names),
    ]


def default_access_changes(live: Iterable[Mapping[str, Any]]) -> list[Command]:
    current = {acl["acltype"]: bool(acl["allow"]) for acl in live}
    if current == DEFAULT_ACCESS:
        return []
    return [{"command": "setDefaultACLAccess",
             "acls": [{"acltype": acltype, "allow": allow} for acltype, allow in DEFAULT_ACCESS.items()]}]
