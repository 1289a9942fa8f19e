"""A bad value in any setting, from a flag or a variable (current or former name), is a short usage error
(exit 2) that names what the user set, and no password it holds; never a traceback, never silently ignored."""

from __future__ import annotations

import socket
from argparse import ArgumentTypeError
from collections.abc import Iterator
from datetime import timedelta

import pytest

from deliverer.settings import TABLE, Setting
from deliverer_cli import main as main_module
from deliverer_cli.main import main
from spark_jobs.cli import every


class Ran(Exception):
    """The command's own code was reached: the value got past the command line."""


@pytest.fixture(autouse=True)
def no_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for setting in TABLE:
        for name in (setting.env, *setting.formerly):
            monkeypatch.delenv(name, raising=False)

    def reached(*_args: object) -> int:
        raise Ran

    # The commands' own code must not start (a server, a broker connection) when a value is refused;
    # the checks under test are those of the command line, before it.
    for module in main_module.COMMANDS:
        if hasattr(module, "run") and module.__name__ not in ("deliverer_cli.stats", "deliverer_cli.settings"):
            monkeypatch.setattr(module, "run", reached)
    yield


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one line a refused command line prints (exit 2)."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    return err


# --- switches ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["DELIVERER_SUBSCRIBE_LEAVE_ON_EXIT", "DELIVERER_LEAVE_ON_EXIT"])
def test_a_switch_set_to_something_else_than_on_or_off_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str
) -> None:
    monkeypatch.setenv(variable, "maybe")
    assert variable in refused(capsys, "subscribe")


def test_an_environment_only_switch_set_wrong_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELIVERER_API_KEY_READS", "please")
    assert "DELIVERER_API_KEY_READS" in refused(capsys, "api")


@pytest.mark.parametrize(
    ("text", "on"),
    [("", False), ("0", False), ("1", True), ("true", True), ("False", False), ("YES", True), ("no", False),
     ("on", True), ("off", False)],
)
def test_a_switch_reads_the_usual_words_for_on_and_off(
    monkeypatch: pytest.MonkeyPatch, text: str, on: bool
) -> None:
    from deliverer_cli.main import build_parser

    monkeypatch.setenv("DELIVERER_SUBSCRIBE_LEAVE_ON_EXIT", text)
    monkeypatch.setenv("DELIVERER_API_KEY_READS", text)
    assert build_parser().parse_args(["subscribe"]).leave_on_exit is on
    assert build_parser().parse_args(["api"]).api_key_reads is on


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", [s for s in TABLE if s.type is not None], ids=lambda s: s.env)
def test_no_number_setting_takes_nan_infinity_or_an_absurd_value(setting: Setting) -> None:
    assert setting.type is not None
    try:
        one = setting.type("1")
    except (ValueError, ArgumentTypeError):
        return  # not a number
    if not isinstance(one, (int, float, timedelta)):
        return  # a path, a name: "nan" is one
    for text in ("nan", "inf", "-inf", "1e308", "9" * 30):
        with pytest.raises((ValueError, ArgumentTypeError)):
            setting.type(text)


@pytest.mark.parametrize(
    "argv",
    [
        ["subscribe", "--batch-ms", "nan"], ["subscribe", "--batch-ms", "inf"], ["subscribe", "--batch-ms", "1e308"],
        ["api", "--publish-timeout", "inf"], ["api", "--publish-timeout", "nan"],
        ["subscribe", "--rejected-max-age", "99999999999d"], ["prune", "--older-than", "99999999999d"],
        ["export", "--settle", "99999999999d"], ["export", "--every", "99999999999d"],
        ["subscribe", "--metrics-port", "70000"], ["subscribe", "--metrics-port", "-1"],
        ["subscribe", "--rejected-max-age", "0"], ["subscribe", "--rejected-max-count", "0"],
        ["export", "--every", "0 0 * * * *"], ["export", "--every", "0 0 * * * * 2030"],
    ],
)
def test_a_bad_flag_is_refused_by_the_command_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert argv[1] in refused(capsys, *argv)


def test_a_bad_variable_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELIVERER_BATCH_MS", "inf")
    assert "DELIVERER_BATCH_MS" in refused(capsys, "subscribe")


def test_the_old_name_set_beside_the_new_one_is_said_to_be_ignored(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELIVERER_BATCH_MS", "20")
    monkeypatch.setenv("DELIVERER_SUBSCRIBE_BATCH_MS", "30")
    with pytest.raises(Ran):
        main(["subscribe"])
    assert "DELIVERER_BATCH_MS is ignored: DELIVERER_SUBSCRIBE_BATCH_MS is set too" in capsys.readouterr().err


# --- URLs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["publish", "subscribe", "api"])
@pytest.mark.parametrize(
    "url", ["mqtt://u:SecretPw@127.0.0.1:99999", "mqtt://u:SecretPw@127.0.0.1:abc", "mqtt://u:SecretPw@[::1",
            "mqttx://u:SecretPw@127.0.0.1:1883"],
)
def test_a_bad_mqtt_url_is_refused_at_start_without_its_password(
    capsys: pytest.CaptureFixture[str], command: str, url: str
) -> None:
    line = refused(capsys, command, "--mqtt-url", url)
    assert "--mqtt-url" in line
    assert "SecretPw" not in line


def test_a_bad_broker_port_variable_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELIVERER_MQTT_PORT", "abc")
    assert "DELIVERER_MQTT_PORT" in refused(capsys, "publish")


@pytest.mark.parametrize(
    ("variable", "url", "command"),
    [
        ("DELIVERER_MQTT_URL", "mqtt://127.0.0.1:99999", "broker"),
        ("DELIVERER_API_URL", "http://127.0.0.1:99999", "api"),
    ],
)
def test_a_local_url_with_a_bad_port_does_not_fall_back_to_the_default_port(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, url: str, command: str
) -> None:
    monkeypatch.setenv(variable, url)
    assert variable in refused(capsys, command)


@pytest.mark.parametrize("url", ["mongodb://u:SecretPw@[x/db", "mongodb://u:SecretPw@db:99999/db"])
def test_a_mongodb_url_that_does_not_parse_is_a_usage_error_without_its_password(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    line = refused(capsys, "stats", "--store", url)
    assert "SecretPw" not in line


# --- the subscriber's topic and metrics address -----------------------------------------------


@pytest.mark.parametrize(
    "topic", ["a/#/b", "", "$share/grp", "$share//deliverers/+/location", "orders/+/location", "deliverers/+/status",
              "deliverers/+", "deliverers/+/location/extra", "deliverers/a+/location"],
)
def test_a_topic_filter_that_is_invalid_or_cannot_match_a_courier_topic_is_refused(
    capsys: pytest.CaptureFixture[str], topic: str
) -> None:
    assert "--topic" in refused(capsys, "subscribe", "--topic", topic)


@pytest.mark.parametrize(
    "topic", ["deliverers/+/location", "$share/ingest/deliverers/+/location", "deliverers/#", "#", "+/+/location",
              "deliverers/courier-7/location"],
)
def test_a_topic_filter_that_matches_courier_topics_is_taken(topic: str) -> None:
    from deliverer_cli.main import build_parser

    assert build_parser().parse_args(["subscribe", "--topic", topic]).topic == topic


def test_a_metrics_address_that_cannot_be_served_is_a_usage_error() -> None:
    from deliverer.usage import UsageError
    from subscriber.cli import serve_metrics
    from subscriber.metrics import SubscriberMetrics

    with pytest.raises(UsageError, match="--metrics-host"):
        serve_metrics(SubscriberMetrics(), "no-such-host.invalid", 9100, lambda: {})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(UsageError, match="--metrics-port"):
            serve_metrics(SubscriberMetrics(), "127.0.0.1", taken.getsockname()[1], lambda: {})


def test_every_takes_five_field_cron_only() -> None:
    assert isinstance(every.parse_schedule("*/15 * * * *"), every.Cron)
    with pytest.raises(ValueError, match="five"):
        every.parse_schedule("0 */15 * * * *")
