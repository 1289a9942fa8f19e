"""A MongoDB server for the tests that need one, set up the way the Compose stack's services see theirs.

The server is ``$DELIVERER_TEST_MONGO_URL`` (an account that may create databases and users, such as
root) or, where a Docker engine answers, a container of the image docker-compose.yml pins, started
as a replica set of one so that ``w: "majority"`` and retryable writes take their real paths. Each
user of it gets a fresh database and an application account with readWrite on that database alone
(what mongodb/app-user.js gives the services), logged in with the database as path, and so as its
auth source, exactly as the services' store URL does.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import yaml
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from tests.helpers import REPO, wait_until

MONGO_ENV = "DELIVERER_TEST_MONGO_URL"
REPLICA_SET = "rs0"
ALREADY_INITIALIZED = 23

# mongod refuses a replica set with access control but no key file for its members; the image's
# entrypoint then creates the root account on a first, private start without either.
_KEYFILE_AND_START = (
    'printf %s "$DELIVERER_TEST_KEYFILE" >/tmp/keyfile && chmod 400 /tmp/keyfile && chown mongodb /tmp/keyfile'
    f" && exec docker-entrypoint.sh mongod --replSet {REPLICA_SET} --keyFile /tmp/keyfile --bind_ip_all"
)


def compose_mongo_image() -> str:
    """The MongoDB image docker-compose.yml runs: the tests use the same release."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return str(compose["services"]["mongodb"]["image"])


def docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def unavailable_reason() -> str | None:
    """Why no MongoDB server can be had here, or None."""
    if os.environ.get(MONGO_ENV) or docker_engine_answers():
        return None
    return f"no MongoDB server: {MONGO_ENV} is unset and no Docker engine answers"


@contextmanager
def mongo_server() -> Iterator[str]:
    """The URL of a server's account that may create databases and users."""
    url = os.environ.get(MONGO_ENV)
    if url:
        yield url
        return
    from testcontainers.core.container import DockerContainer

    password = secrets.token_hex(16)
    container = (
        DockerContainer(compose_mongo_image())
        .with_env("MONGO_INITDB_ROOT_USERNAME", "root")
        .with_env("MONGO_INITDB_ROOT_PASSWORD", password)
        .with_env("DELIVERER_TEST_KEYFILE", secrets.token_hex(32))
        .with_exposed_ports(27017)
        .with_kwargs(entrypoint=["bash", "-c", _KEYFILE_AND_START])
    )
    with container:
        host, port = container.get_container_host_ip(), container.get_exposed_port(27017)
        # The member calls itself localhost:27017, which only it can reach: talk to it directly.
        url = f"mongodb://root:{password}@{host}:{port}/?authSource=admin&directConnection=true"
        with MongoClient(url, serverSelectionTimeoutMS=2_000) as client:
            wait_until(lambda: _answers(client), 120, "mongod to accept logins on its published port", 0.5)
            _initiate(client)
            wait_until(lambda: client.admin.command("hello").get("isWritablePrimary"), 60,
                       "the replica set of one to elect its primary", 0.2)
        yield url


def _answers(client: MongoClient[dict[str, Any]]) -> bool:
    try:
        client.admin.command("ping")
    except PyMongoError:
        return False
    return True


def _initiate(client: MongoClient[dict[str, Any]]) -> None:
    config = {"_id": REPLICA_SET, "members": [{"_id": 0, "host": "localhost:27017"}]}
    try:
        client.admin.command("replSetInitiate", config)
    except OperationFailure as exc:
        if exc.code != ALREADY_INITIALIZED:
            raise


@contextmanager
def application_database(server_url: str, prefix: str) -> Iterator[str]:
    """A fresh database and an account that may only read and write it: the store URL a service
    would be given. Both are dropped afterwards."""
    database = f"{prefix}_{uuid.uuid4().hex[:12]}"
    username, password = f"app_{uuid.uuid4().hex[:8]}", secrets.token_hex(16)
    with MongoClient(server_url, serverSelectionTimeoutMS=10_000) as admin:
        admin[database].command(
            "createUser", username, pwd=password, roles=[{"role": "readWrite", "db": database}]
        )
        try:
            yield store_url(server_url, username, password, database)
        finally:
            admin[database].command("dropUser", username)
            admin.drop_database(database)


def store_url(server_url: str, username: str, password: str, database: str) -> str:
    """``server_url``'s hosts and options with another account, its auth source being ``database``."""
    parts = urlsplit(server_url)
    hosts = parts.netloc.rpartition("@")[2]
    options = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "authsource"])
    query = f"?{options}" if options else ""
    return f"{parts.scheme}://{quote(username, safe='')}:{quote(password, safe='')}@{hosts}/{database}{query}"
