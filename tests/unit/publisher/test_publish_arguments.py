"""``deliverer publish`` arguments: flags, their environment variables, and clear refusals."""

from __future__ import annotations

import pytest

from deliverer_cli.main import build_parser, main


def test_defaults() -> None:
    args = build_parser().parse_args(["publish"])
    assert (args.workers, args.interval, args.locations, args.orders_per_worker) == (10, 1.0, 20, 1)
    assert (args.transport, args.qos, args.rate, args.duration, args.seed) == ("mqtt", 1, 0.0, 0.0, None)
    assert (args.window, args.batch, args.json) == (1000, 1, False)


def test_every_flag_has_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "WORKERS": "7", "INTERVAL": "0", "LOCATIONS": "5", "ORDERS_PER_WORKER": "2", "TRANSPORT": "http",
        "QOS": "0", "RATE": "50", "DURATION": "3", "SEED": "11", "WINDOW": "10", "BATCH": "100", "JSON": "1",
    }.items():
        monkeypatch.setenv(f"DELIVERER_PUBLISH_{name}", value)
    monkeypatch.setenv("DELIVERER_MQTT_URL", "mqtt://broker:1884")
    monkeypatch.setenv("DELIVERER_API_URL", "http://api:8080")
    args = build_parser().parse_args(["publish"])
    assert (args.workers, args.interval, args.locations, args.orders_per_worker) == (7, 0.0, 5, 2)
    assert (args.transport, args.qos, args.rate, args.duration, args.seed) == ("http", 0, 50.0, 3.0, 11)
    assert (args.window, args.batch, args.json) == (10, 100, True)
    assert (args.mqtt_url, args.api_url) == ("mqtt://broker:1884", "http://api:8080")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "0"], "--workers: must be at least 1"),
        (["--workers", "many"], "--workers: expected a whole number"),
        (["--locations", "1"], "--locations: must be at least 2"),
        (["--interval", "-1"], "--interval: must be a number from 0 to 31,622,400"),
        (["--rate", "nan"], "--rate: must be a number from 0 to 31,622,400"),
        (["--batch", "1001"], "--batch: must be at least 1 and at most 1,000"),
        (["--window", "70000"], "--window: must be at least 1 and at most 60,000"),
        (["--qos", "2"], "--qos: must be at least 0 and at most 1"),
        (["--transport", "carrier-pigeon"], "--transport: invalid choice"),
        (["--seed", "x"], "--seed: expected a whole number"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["publish", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_bad_environment_variable_is_refused_like_a_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELIVERER_PUBLISH_WORKERS", "-3")
    with pytest.raises(SystemExit) as exited:
        main(["publish"])
    assert exited.value.code == 2
    assert "--workers: must be at least 1" in capsys.readouterr().err


def test_a_bad_broker_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["publish", "--mqtt-url", "http://nope"])
    assert exited.value.code == 2
    assert "--mqtt-url: unsupported MQTT URL" in capsys.readouterr().err
