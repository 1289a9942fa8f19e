"""Run a real Mosquitto for local bursts and tests, from the repository's ``mqtt/`` config.

The config is rendered with the chosen port and data directory, so several brokers can run
side by side (one per test) with the same limits as production.
"""

from __future__ import annotations

import getpass
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

MQTT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "mqtt"


class BrokerError(RuntimeError):
    pass


PORT_ATTEMPTS = 3
"""Ports a broker's first start tries when another process takes the one it picked."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(config_dir: Path, port: int, data_dir: Path) -> str:
    """The local config with this port and data directory, run as the user who starts it.

    Started as root, Mosquitto otherwise switches to the ``mosquitto`` user, which cannot
    write the persistence file into a directory we created: sessions would not survive a
    restart.
    """
    text = (config_dir / "mosquitto.conf").read_text()
    text += f"user {getpass.getuser()}\n"
    text = re.sub(r"(?m)^listener .*$", f"listener {port} 127.0.0.1", text)
    text = re.sub(r"(?m)^persistence_location .*$", f"persistence_location {data_dir}/", text)
    return re.sub(r"(?m)^include_dir .*$", f"include_dir {config_dir / 'conf.d'}", text)


def render_amqtt_config(config_dir: Path, port: int) -> str:
    text = (config_dir / "amqtt.yaml").read_text()
    return re.sub(r"(?m)^(\s*bind:) .*$", rf"\1 127.0.0.1:{port}", text)


def mosquitto_binary() -> str | None:
    """Mosquitto from PATH, or where Debian and Homebrew put it outside a user's PATH."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto"):
        if Path(candidate).exists():
            return candidate
    return None


def wait_for_port(port: int, deadline_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerError(f"mosquitto exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise BrokerError(f"nothing listens on 127.0.0.1:{port} after {deadline_s} s")


class Mosquitto:
    """A mosquitto process on 127.0.0.1; ``stop()`` and ``start()`` again keep its persistence."""

    def __init__(self, data_dir: Path, port: int | None = None, config_dir: Path = MQTT_CONFIG_DIR) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise BrokerError("mosquitto is not installed (Debian: apt-get install -y mosquitto)")
        self.binary = binary
        self.data_dir = data_dir
        self.port = port or free_port()
        self._port_may_move = port is None
        """A port this object picked may be taken by another process before the broker binds it: the first
        start then picks another. Once the broker has run, clients know its port, and it stays."""
        self.config_dir = config_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, deadline_s: float = 10) -> Mosquitto:
        attempt = 1
        while True:
            try:
                self._start_once(deadline_s)
            except BrokerError as exc:
                if not (self._port_may_move and "Address already in use" in str(exc) and attempt < PORT_ATTEMPTS):
                    raise
                attempt += 1
                self.port = free_port()
                continue
            self._port_may_move = False
            return self

    def _start_once(self, deadline_s: float) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "mosquitto.conf"
        config.write_text(render_config(self.config_dir, self.port, self.data_dir))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([self.binary, "-c", str(config)], stdout=log, stderr=log)
        try:
            wait_for_port(self.port, deadline_s, self.process)
        except BrokerError as exc:
            self.stop()
            raise BrokerError(f"{exc}; log: {self.log_path.read_text()[-2000:]}") from None

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, so the broker writes its persistence file before it exits."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
