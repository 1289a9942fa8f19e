"""A client of the dynamic security plugin's control API (``$CONTROL/dynamic-security/v1``).

The plugin reads its config file only at start; a running broker's accounts change through this
API, which saves the file after every change. One request at a time: the plugin answers every
request with one message holding one response per command, in order.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from deliverer.mqtt import MqttEndpoint, new_client
from deliverer_cli.broker_auth.accounts import CONTROL_RESPONSE_TOPIC, CONTROL_TOPIC

ANSWER_TIMEOUT_S = 30
Command = dict[str, Any]


class ControlError(RuntimeError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BrokerNotRunning(ControlError):
    """Nothing listens at the address (or the name does not resolve): the broker is not running."""

    def __init__(self, message: str) -> None:
        super().__init__("broker_not_running", message)


class DynsecControl:
    """Log in as the plugin's administrator and send it commands."""

    def __init__(self, endpoint: MqttEndpoint, client_id: str) -> None:
        self.endpoint = endpoint
        self._client = new_client(endpoint, client_id)
        self._answers: queue.Queue[bytes] = queue.Queue()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._refusal: str | None = None
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = lambda _c, _u, message: self._answers.put(bytes(message.payload))

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            self._refusal = f"login refused: {reason.getName()}"
            client.disconnect()
        else:
            client.subscribe(CONTROL_RESPONSE_TOPIC, qos=1)
        self._connected.set()

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any) -> None:
        if reasons[0].is_failure:
            self._refusal = f"may not read {CONTROL_RESPONSE_TOPIC}: {reasons[0].getName()}"
        self._subscribed.set()

    def __enter__(self) -> DynsecControl:
        try:
            self._client.connect(self.endpoint.host, self.endpoint.port)
        except OSError as exc:
            # Compose's DNS knows no name for a service without a running container. Any other
            # failure may hide a running broker, whose accounts would then drift from its file.
            unknown_name = isinstance(exc, socket.gaierror) and exc.errno == socket.EAI_NONAME
            if unknown_name or isinstance(exc, ConnectionRefusedError):
                raise BrokerNotRunning(f"no broker at {self.endpoint}: {exc}") from exc
            raise ControlError("broker_unreachable", f"cannot reach the broker at {self.endpoint}: {exc}") from exc
        self._client.loop_start()
        if not self._connected.wait(ANSWER_TIMEOUT_S):
            self.close()
            raise ControlError("no_answer", f"the broker at {self.endpoint} did not answer the login")
        if self._refusal is None and not self._subscribed.wait(ANSWER_TIMEOUT_S):
            self._refusal = "no answer to the subscription"
        if self._refusal is not None:
            self.close()
            raise ControlError("login_refused", f"{self.endpoint} as {self.endpoint.username}: {self._refusal}")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def run(self, commands: Sequence[Command]) -> list[dict[str, Any]]:
        """Send the commands in one request; their responses, or ControlError naming the first that failed."""
        if not commands:
            return []
        info = self._client.publish(CONTROL_TOPIC, json.dumps({"commands": list(commands)}), qos=1)
        info.wait_for_publish(ANSWER_TIMEOUT_S)
        try:
            answer = json.loads(self._answers.get(timeout=ANSWER_TIMEOUT_S))
        except queue.Empty:
            raise ControlError("no_answer", f"the broker did not answer {len(commands)} command(s)") from None
        responses: list[dict[str, Any]] = answer.get("responses", [])
        for command, response in zip(commands, responses, strict=False):
            if response.get("error"):
                raise ControlError("command_failed", f"{command['command']} {describe(command)}: {response['error']}")
        if len(responses) != len(commands):
            raise ControlError("no_answer", f"{len(responses)} responses to {len(commands)} commands")
        return responses


def describe(command: Command) -> str:
    """What a command is about, without its password."""
    return ", ".join(f"{key}={value}" for key, value in command.items() if key not in {"command", "password"})
