"""The broker's accounts from .env, and the dynamic security commands that bring a running broker to them."""

from __future__ import annotations

import pytest

from deliverer_cli.broker_auth import dynsec
from deliverer_cli.broker_auth.accounts import (
    DEFAULT_ACCESS,
    AccountsError,
    Acl,
    accounts_from_settings,
    courier_account,
    parse_couriers,
)

SETTINGS = {
    "MQTT_SUBSCRIBER_PASSWORD": "s3cret-sub", "MQTT_API_PASSWORD": "s3cret-api",
    "MQTT_PUBLISHER_PASSWORD": "s3cret-pub", "MQTT_HEALTHCHECK_PASSWORD": "s3cret-hc",
    "MQTT_COURIERS": "d1:one, d2:two",
}


def live_state(accounts: list) -> tuple[list[dict], list[dict]]:
    """The control API's listClients / listRoles answers for a broker holding exactly ``accounts``."""
    clients = [{"username": a.username, **({"clientid": a.client_id} if a.client_id else {}),
                "roles": [{"rolename": a.role.name}]} for a in accounts]
    roles = {a.role.name: {"rolename": a.role.name, "acls": dynsec.acl_entries(a.role.acls)} for a in accounts}
    return clients, list(roles.values())


def test_couriers_are_bound_to_their_own_id_and_topic() -> None:
    accounts = {a.username: a for a in accounts_from_settings(SETTINGS)}
    assert accounts["d1"].client_id == "d1"
    assert accounts["d1"].role.acls == {Acl("publishClientSend", "deliverers/d1/location")}
    assert accounts["svc~subscriber"].client_id is None and accounts["svc~api"].client_id is None
    assert accounts["svc~healthcheck"].client_id == "svc~healthcheck"
    assert all(acl.acltype != "subscribeLiteral" for acl in accounts["svc~api"].role.acls)


@pytest.mark.parametrize(("text", "reason"), [
    ("d1", "missing_password"), ("d1:", "missing_password"), ("d~1:x", "bad_courier_id"),
    ("d1:x,d1:y", "duplicate_courier"), ("a" * 65 + ":x", "bad_courier_id"),
])
def test_unusable_courier_lists_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(AccountsError) as refused:
        parse_couriers(text)
    assert refused.value.reason == reason


def test_an_unchanged_password_keeps_its_hash_and_a_changed_one_gets_a_new_one() -> None:
    first = dynsec.render_config([courier_account("d1", "one")])
    kept = dynsec.render_config([courier_account("d1", "one")], first)
    changed = dynsec.render_config([courier_account("d1", "two")], first)
    assert kept["clients"][0]["password"] == first["clients"][0]["password"]
    assert changed["clients"][0]["salt"] != first["clients"][0]["salt"]
    assert dynsec.password_matches(changed["clients"][0], "two")
    assert not dynsec.password_matches(changed["clients"][0], "one")
    assert first["defaultACLAccess"] == DEFAULT_ACCESS


def test_a_broker_that_already_holds_the_accounts_gets_no_command() -> None:
    accounts = accounts_from_settings(SETTINGS)
    clients, roles = live_state(accounts)
    saved = {c["username"]: c for c in dynsec.render_config(accounts)["clients"]}
    assert dynsec.role_changes({a.role for a in accounts}, roles) == []
    assert dynsec.client_changes(accounts, clients, saved) == []
    assert dynsec.removals(accounts, clients, roles) == []


def test_only_what_changed_is_sent() -> None:
    before = accounts_from_settings(SETTINGS)
    clients, roles = live_state(before)
    saved = {c["username"]: c for c in dynsec.render_config(before)["clients"]}
    after = accounts_from_settings({**SETTINGS, "MQTT_COURIERS": "d1:rotated,d3:three"})

    commands = [
        *dynsec.role_changes({a.role for a in after}, roles),
        *dynsec.client_changes(after, clients, saved),
        *dynsec.removals(after, clients, roles),
    ]

    assert [(c["command"], c.get("username") or c.get("rolename")) for c in commands] == [
        ("createRole", "courier~d3"),
        ("setClientPassword", "d1"),
        ("createClient", "d3"),
        ("deleteClient", "d2"),
        ("deleteRole", "courier~d2"),
    ]
    assert commands[2]["clientid"] == "d3" and commands[2]["roles"] == [{"rolename": "courier~d3"}]


def test_drifted_rights_and_bindings_are_put_back() -> None:
    accounts = accounts_from_settings(SETTINGS)
    clients, roles = live_state(accounts)
    for client in clients:
        if client["username"] == "d1":
            client.pop("clientid")
    for role in roles:
        if role["rolename"] == "svc~api":
            role["acls"].append({"acltype": "subscribeLiteral", "topic": "#", "allow": True})
    saved = {c["username"]: c for c in dynsec.render_config(accounts)["clients"]}

    assert dynsec.role_changes({a.role for a in accounts}, roles) == [
        {"command": "removeRoleACL", "rolename": "svc~api", "acltype": "subscribeLiteral", "topic": "#"},
    ]
    assert dynsec.client_changes(accounts, clients, saved) == [
        {"command": "setClientId", "username": "d1", "clientid": "d1"},
    ]
    assert dynsec.default_access_changes([{"acltype": "subscribe", "allow": True}])[0]["command"] == (
        "setDefaultACLAccess"
    )
