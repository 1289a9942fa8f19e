"""Who may log in to the container broker, under which client id, and what each account may do.

Every right is granted explicitly; the default for everything but UNSUBSCRIBE is "deny". Mosquitto
2.0's dynamic security plugin checks a SUBSCRIBE against the whole filter as sent, so the ingest
group's shared filter is granted as written (measured on 2.0.11: the plain filter's grant does not
admit ``$share/ingest/...``, nor does the shared one admit another group). Its ACLs take no %u or %c
substitution, so every courier gets a role of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from deliverer.placeholders import refuse_placeholders
from deliverer.settings import SUBSCRIBE_TOPIC
from deliverer.usage import UsageError

REPORT_TOPICS = "deliverers/+/location"
SUBSCRIBER_BROKER_COUNTERS = ("$SYS/broker/clients/disconnected", "$SYS/broker/store/messages/count")
HEALTHCHECK_TOPIC = "$SYS/broker/uptime"
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
CONTROL_RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
ADMIN_USERNAME = "svc~accounts"

SERVICE_PASSWORD_SETTINGS = {
    "svc~subscriber": "MQTT_SUBSCRIBER_PASSWORD",
    "svc~api": "MQTT_API_PASSWORD",
    "svc~publisher": "MQTT_PUBLISHER_PASSWORD",
    "svc~healthcheck": "MQTT_HEALTHCHECK_PASSWORD",
}
COURIERS_SETTING = "MQTT_COURIERS"
# Service passwords go into mqtt://user:password@host URLs, so they must need no escaping.
URL_SAFE_PASSWORD = re.compile(r"[A-Za-z0-9._~-]+")
# "~" is in every service account's name and never in a courier's, so the two cannot collide.
COURIER_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")

DEFAULT_ACCESS = {"publishClientSend": False, "publishClientReceive": False, "subscribe": False, "unsubscribe": True}


class AccountsError(UsageError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, order=True)
class Acl:
    acltype: str
    """publishClientSend, publishClientReceive, subscribeLiteral, ... (the plugin's names)"""
    topic: str
    allow: bool = True


def publish(topic: str) -> Acl:
    return Acl("publishClientSend", topic)


def read(topic: str) -> tuple[Acl, Acl]:
    """Subscribe to exactly this filter, and receive what it matches."""
    return Acl("subscribeLiteral", topic), Acl("publishClientReceive", topic)


@dataclass(frozen=True)
class Role:
    name: str
    acls: frozenset[Acl]


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    role: Role
    client_id: str | None
    """The only client id the account may connect with; None: any (see the README, Security model)."""


SERVICE_ROLES = {
    # The replicas share the ingest group; a single subscriber may read the plain filter instead. Both
    # follow two broker counters that make a stranded session's backlog visible.
    "svc~subscriber": Role("svc~subscriber", frozenset(
        {*read(SUBSCRIBE_TOPIC), *read(REPORT_TOPICS), *(acl for topic in SUBSCRIBER_BROKER_COUNTERS
                                                       for acl in read(topic))}
    )),
    # The API publishes the reports it receives over HTTP, the load generator a simulated fleet's.
    "svc~api": Role("svc~api", frozenset({publish(REPORT_TOPICS)})),
    "svc~publisher": Role("svc~publisher", frozenset({publish(REPORT_TOPICS)})),
    "svc~healthcheck": Role("svc~healthcheck", frozenset(read(HEALTHCHECK_TOPIC))),
}
ADMIN_ROLE = Role(ADMIN_USERNAME, frozenset({publish(CONTROL_TOPIC), *read(CONTROL_RESPONSE_TOPIC)}))
# One connection each, at most one at a time: each is bound to a fixed client id.
FIXED_CLIENT_IDS = {"svc~publisher", "svc~healthcheck", ADMIN_USERNAME}


def courier_role(deliverer_id: str) -> Role:
    return Role(f"courier~{deliverer_id}", frozenset({publish(f"deliverers/{deliverer_id}/location")}))


def courier_account(deliverer_id: str, password: str) -> Account:
    return Account(deliverer_id, password, courier_role(deliverer_id), deliverer_id)


def admin_account(password: str) -> Account:
    """The account ``deliverer broker-accounts`` changes a running broker's accounts with."""
    return Account(ADMIN_USERNAME, password, ADMIN_ROLE, ADMIN_USERNAME)


def parse_couriers(text: str) -> dict[str, str]:
    """``deliverer_id:password`` pairs separated by commas or spaces."""
    couriers: dict[str, str] = {}
    for entry in text.replace(",", " ").split():
        courier, separator, password = entry.partition(":")
        if not COURIER_ID.fullmatch(courier):
            raise AccountsError("bad_courier_id", f"courier id {courier!r} must be 1-64 of letters, digits and _ . -")
        if not separator or not password:
            raise AccountsError("missing_password",
                                f"courier {courier!r} has no password ({COURIERS_SETTING} takes deliverer_id:password)")
        if courier in couriers:
            raise AccountsError("duplicate_courier", f"courier {courier!r} is listed twice in {COURIERS_SETTING}")
        couriers[courier] = password
    return couriers


def accounts_from_settings(settings: Mapping[str, str]) -> list[Account]:
    """Every service account and courier from .env's settings; refuses empty, unusable or placeholder secrets."""
    accounts = []
    for username, setting in SERVICE_PASSWORD_SETTINGS.items():
        password = settings.get(setting, "")
        if not password:
            raise AccountsError("missing_password", f"{setting} is empty: set it in .env (copy .env.example)")
        if not URL_SAFE_PASSWORD.fullmatch(password):
            raise AccountsError("bad_password", f"{setting} may only contain letters, digits and . _ ~ -")
        client_id = username if username in FIXED_CLIENT_IDS else None
        accounts.append(Account(username, password, SERVICE_ROLES[username], client_id))
    couriers = parse_couriers(settings.get(COURIERS_SETTING, ""))
    refuse_placeholders({
        **{setting: settings[setting] for setting in SERVICE_PASSWORD_SETTINGS.values()},
        **{f"{COURIERS_SETTING} (courier {courier})": password for courier, password in couriers.items()},
    })
    accounts.extend(courier_account(courier, password) for courier, password in couriers.items())
    return accounts
