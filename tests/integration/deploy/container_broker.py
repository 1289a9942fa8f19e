"""The container broker run here: a real mosquitto with mqtt/mosquitto-docker.conf, its accounts
written by ``deliverer broker-accounts`` and its TLS certificate by ``deliverer broker-certs``, as the
one-shots mqtt-auth and mqtt-certs do in Docker Compose.

Only what ties the config to the container changes: the two listeners move to free ports on
127.0.0.1, and the plugin, accounts, certificate, persistence and conf.d paths point to this machine's
Mosquitto, a temporary directory and the repository. The secrets are .env.example's with every
placeholder replaced by a random one, as start.sh does.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from deliverer.local_broker import BrokerError, free_port, mosquitto_binary, wait_for_port
from tests.helpers import REPO
from tests.integration.deploy.compose_project import ENV_EXAMPLE, read_env_file

DOCKER_CONFIG = REPO / "mqtt" / "mosquitto-docker.conf"
RUN_BROKER = REPO / "mqtt" / "run-broker.sh"
SERVICE_PASSWORDS = {
    "svc~subscriber": "MQTT_SUBSCRIBER_PASSWORD",
    "svc~api": "MQTT_API_PASSWORD",
    "svc~publisher": "MQTT_PUBLISHER_PASSWORD",
    "svc~healthcheck": "MQTT_HEALTHCHECK_PASSWORD",
}
UNBOUND_ACCOUNTS = {"svc~subscriber", "svc~api"}
"""Accounts with many connections at once (replicas, API workers): not bound to one client id."""
PLUGIN_PLACES = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
    "/opt/homebrew/lib/mosquitto_dynamic_security.so",
)


def dynsec_plugin() -> str:
    for place in PLUGIN_PLACES:
        if Path(place).exists():
            return place
    raise AssertionError("Mosquitto's dynamic security plugin is not installed (Debian: apt-get install mosquitto)")


def deployable_settings() -> dict[str, str]:
    """.env.example with fresh secrets in place of its placeholders, as start.sh writes a new .env."""
    text = ENV_EXAMPLE.read_text()
    fresh = re.sub(r"change-me[A-Za-z0-9-]*", lambda _m: secrets.token_hex(16), text)
    path = Path(tempfile.mkdtemp(prefix="deliverer-env-")) / ".env"
    try:
        path.write_text(fresh)
        return read_env_file(path)
    finally:
        shutil.rmtree(path.parent)


def account_passwords(settings: dict[str, str]) -> dict[str, str]:
    """Every MQTT username of the stack and its password, as .env sets them."""
    passwords = {user: settings[variable] for user, variable in SERVICE_PASSWORDS.items()}
    for pair in settings["MQTT_COURIERS"].split(","):
        courier, _, password = pair.partition(":")
        passwords[courier] = password
    return passwords


def broker_user() -> str | None:
    """Mosquitto started as root continues as "mosquitto": the files must be its own, as in the container."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        return None
    return "mosquitto:mosquitto"


def deliverer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The ``deliverer`` command as a one-shot runs it: only PATH and the given variables."""
    return subprocess.run(
        [sys.executable, "-m", "deliverer_cli.main", *args],
        env={"PATH": os.environ["PATH"], **(env or {})}, cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def broker_accounts(auth_dir: Path, settings: dict[str, str], broker_url: str = "") -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in settings.items() if key.startswith("MQTT_")}
    owner = broker_user()
    return deliverer(
        "broker-accounts", str(auth_dir), *(["--broker", broker_url] if broker_url else []),
        *(["--owner", owner] if owner else []), env=env,
    )


def broker_certs(cert_dir: Path, names: str = "localhost,127.0.0.1") -> subprocess.CompletedProcess[str]:
    owner = broker_user()
    return deliverer("broker-certs", str(cert_dir), "--names", names, *(["--owner", owner] if owner else []))


def render_container_config(port: int, tls_port: int, auth_dir: Path, cert_dir: Path, data_dir: Path) -> str:
    """mosquitto-docker.conf with its container paths and listeners moved to the test's."""
    text = DOCKER_CONFIG.read_text()
    for line, replacement in {
        "plugin /usr/lib/mosquitto_dynamic_security.so": f"plugin {dynsec_plugin()}",
        "plugin_opt_config_file /mosquitto/auth/dynamic-security.json":
            f"plugin_opt_config_file {auth_dir}/dynamic-security.json",
        "persistence_location /mosquitto/data/": f"persistence_location {data_dir}/",
        "include_dir /mosquitto/config/conf.d": f"include_dir {REPO / 'mqtt' / 'conf.d'}",
        "listener 1883": f"listener {port} 127.0.0.1",
        "listener 8883": f"listener {tls_port} 127.0.0.1",
        "certfile /mosquitto/certs/server.crt": f"certfile {cert_dir}/server.crt",
        "keyfile /mosquitto/certs/server.key": f"keyfile {cert_dir}/server.key",
    }.items():
        text, count = re.subn(rf"(?m)^{re.escape(line)}$", replacement, text)
        assert count == 1, f"mosquitto-docker.conf should have the line {line!r} once"
    return text


@dataclass
class ContainerBroker:
    root: Path
    port: int
    tls_port: int
    settings: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.root / "broker.log"

    @property
    def auth_dir(self) -> Path:
        return self.root / "auth"

    @property
    def cert_dir(self) -> Path:
        return self.root / "certs"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def passwords(self) -> dict[str, str]:
        return account_passwords(self.settings)

    def url(self, username: str | None, password: str | None = None, protocol: str = "5") -> str:
        if username is not None:
            password = self.passwords[username] if password is None else password
        credentials = f"{username}:{password}@" if username is not None else ""
        query = "?protocol=3.1.1" if protocol == "3.1.1" else ""
        return f"mqtt://{credentials}127.0.0.1:{self.port}{query}"

    def accounts(self, **changes: str) -> subprocess.CompletedProcess[str]:
        """Change .env's settings and run mqtt-auth's command against this broker, as ``docker compose up`` does."""
        self.settings = {**self.settings, **changes}
        return broker_accounts(self.auth_dir, self.settings, self.url(None) if self.running else "")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def start(self, command: list[str] | None = None, env: dict[str, str] | None = None) -> ContainerBroker:
        """Run ``command`` (default: mosquitto -c CONFIG) until the plain listener answers."""
        config = self.root / "mosquitto.conf"
        config.write_text(render_container_config(self.port, self.tls_port, self.auth_dir, self.cert_dir,
                                                  self.data_dir))
        binary = mosquitto_binary()
        assert binary is not None, "mosquitto is not installed (Debian: apt-get install -y mosquitto)"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command or [binary, "-c", str(config)], stdout=log, stderr=log,
                env={**os.environ, "PATH": f"{Path(binary).parent}:{os.environ['PATH']}", **(env or {})},
            )
        try:
            wait_for_port(self.port, 10, self.process)
            wait_for_port(self.tls_port, 10, self.process)
        except BrokerError as exc:
            raise AssertionError(f"{exc}:\n{self.log()}") from None
        return self

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(15)


@contextmanager
def container_broker_files(settings: dict[str, str] | None = None) -> Iterator[ContainerBroker]:
    """Accounts and certificate written as the one-shots write them; the broker not started yet."""
    # Not under pytest's base temp dir: that is private to its owner, and mosquitto started as root
    # continues as the "mosquitto" user, which must reach the files as in the container.
    root = Path(tempfile.mkdtemp(prefix="deliverer-container-broker-"))
    root.chmod(0o755)
    broker = ContainerBroker(root, free_port(), free_port(), settings or deployable_settings())
    try:
        done = broker_accounts(broker.auth_dir, broker.settings)
        assert done.returncode == 0, done.stderr
        done = broker_certs(broker.cert_dir)
        assert done.returncode == 0, done.stderr
        broker.data_dir.mkdir()
        broker.data_dir.chmod(0o777)
        yield broker
    finally:
        if broker.running:
            broker.stop()
        shutil.rmtree(root)


@contextmanager
def running_container_broker(settings: dict[str, str] | None = None) -> Iterator[ContainerBroker]:
    with container_broker_files(settings) as broker:
        broker.start()
        yield broker
        assert broker.stop() == 0, broker.log()
        # A device refusing the certificate is logged as an OpenSSL error; nothing else may be.
        errors = [line for line in broker.log().splitlines() if "Error" in line and "SSL routines" not in line]
        assert errors == [], broker.log()
