"""``deliverer settings``: the values every command would use here, and one value for a script."""

from __future__ import annotations

import pytest

from deliverer.settings import TABLE
from deliverer_cli.main import main


@pytest.fixture(autouse=True)
def no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in TABLE:
        for name in (setting.env, *setting.formerly):
            monkeypatch.delenv(name, raising=False)


def test_get_prints_what_the_commands_would_use(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELIVERER_MQTT_PORT", "1884")
    monkeypatch.setenv("DELIVERER_API_KEY", "k1")
    assert main(["settings", "--get", "DELIVERER_MQTT_URL", "DELIVERER_PUBLISH_WORKERS", "DELIVERER_API_KEY"]) == 0
    assert capsys.readouterr().out.splitlines() == ["mqtt://127.0.0.1:1884", "10", "k1"]


def test_get_refuses_a_name_it_does_not_know(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings", "--get", "DELIVERER_NOPE"]) == 2
    assert "no setting named DELIVERER_NOPE" in capsys.readouterr().err


def test_the_listing_says_where_each_value_comes_from_and_hides_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELIVERER_STORE_URL", "mongodb://app:hunter2@db:27017/deliverer")
    monkeypatch.setenv("DELIVERER_TRACKING_SECRET", "s3cret")
    monkeypatch.setenv("DELIVERER_BATCH_MS", "20")
    assert main(["settings"]) == 0
    lines = {line.split()[0]: line.split(None, 1)[1] for line in capsys.readouterr().out.splitlines()}
    assert lines["DELIVERER_STORE_URL"] == "mongodb://app:***@db:27017/deliverer  (set)"
    assert lines["DELIVERER_TRACKING_SECRET"] == "***  (set)"
    assert lines["DELIVERER_SUBSCRIBE_BATCH_MS"] == "20  (set as DELIVERER_BATCH_MS, its former name)"
    assert lines["DELIVERER_LIVE_PORT"] == "8001  (default)"
    assert set(lines) == {setting.env for setting in TABLE}
