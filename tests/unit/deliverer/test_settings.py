"""One exported variable moves the broker or the API for every command, start.sh's included."""

from __future__ import annotations

import argparse

import pytest

from deliverer_cli.main import build_parser

SETTINGS = (
    "DELIVERER_MQTT_URL", "DELIVERER_MQTT_PORT", "DELIVERER_API_URL", "DELIVERER_API_PORT",
)


def parsed(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.fixture(autouse=True)
def no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def test_the_defaults_are_the_local_setup() -> None:
    assert parsed("publish").mqtt_url == "mqtt://127.0.0.1:1883"
    assert parsed("publish").api_url == "http://127.0.0.1:8000"
    assert parsed("broker").port == 1883
    assert parsed("api").port == 8000


def test_a_port_variable_moves_the_service_and_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELIVERER_MQTT_PORT", "1884")
    monkeypatch.setenv("DELIVERER_API_PORT", "5000")
    assert parsed("broker").port == 1884
    assert parsed("api").port == 5000
    for command in ("publish", "subscribe", "api"):
        assert parsed(command).mqtt_url == "mqtt://127.0.0.1:1884", command
    assert parsed("publish").api_url == "http://127.0.0.1:5000"


def test_a_local_url_variable_moves_the_service_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELIVERER_MQTT_URL", "mqtt://localhost:2883?protocol=3.1.1")
    monkeypatch.setenv("DELIVERER_API_URL", "http://127.0.0.1:5000")
    assert parsed("broker").port == 2883
    assert parsed("api").port == 5000
    for command in ("publish", "subscribe", "api"):
        assert parsed(command).mqtt_url == "mqtt://localhost:2883?protocol=3.1.1", command
    assert parsed("publish").api_url == "http://127.0.0.1:5000"


def test_a_remote_url_leaves_the_local_ports_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELIVERER_MQTT_URL", "mqtts://broker.example.com:8883")
    monkeypatch.setenv("DELIVERER_API_URL", "http://api.example.com:not-a-port")
    assert parsed("broker").port == 1883
    assert parsed("api").port == 8000
    assert parsed("subscribe").mqtt_url == "mqtts://broker.example.com:8883"


def test_a_port_that_is_not_a_number_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELIVERER_API_PORT", "eighty")
    with pytest.raises(SystemExit) as exited:
        parsed("api")
    assert exited.value.code == 2
    assert "--port: expected a whole number, got 'eighty' (from $DELIVERER_API_PORT)" in capsys.readouterr().err
