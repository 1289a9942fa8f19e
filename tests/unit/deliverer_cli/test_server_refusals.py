"""What the long-running commands refuse to start with: one line and exit 2, before they bind a port or
take a message, instead of running in a way that loses reports or leaves the API open."""

from __future__ import annotations

import pytest

from deliverer_cli.main import main

UNREACHABLE_BROKER = "mqtt://127.0.0.1:1"


@pytest.mark.parametrize("command", [
    ["subscribe", "--metrics-port", "0"], ["api", "--port", "0"], ["live", "--live-port", "0"],
])
def test_a_server_refuses_the_in_memory_store(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--store", "memory://shared", "--mqtt-url", UNREACHABLE_BROKER]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"deliverer {command[0]}: --store memory://shared is this process's memory")
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", [["api", "--port", "0"], ["live", "--live-port", "0"]])
def test_reads_that_need_a_key_without_a_key_are_refused(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DELIVERER_API_KEY", raising=False)
    monkeypatch.setenv("DELIVERER_API_KEY_READS", "1")
    assert main([*command, "--mqtt-url", UNREACHABLE_BROKER]) == 2
    assert capsys.readouterr().err == (
        f"deliverer {command[0]}: DELIVERER_API_KEY_READS asks reads to need the API key, but DELIVERER_API_KEY"
        " is not set\n"
    )


@pytest.mark.parametrize("key", ["clé-secrète", "tab\tinside", " padded", "line\n"])
def test_an_api_key_no_client_can_send_is_refused(
    key: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELIVERER_API_KEY", key)
    assert main(["api", "--port", "0", "--mqtt-url", UNREACHABLE_BROKER]) == 2
    err = capsys.readouterr().err
    assert err == (
        "deliverer api: DELIVERER_API_KEY must be printable ASCII with no space at either end: clients send it"
        " in the X-API-Key header, which carries nothing else intact\n"
    )
    assert key.strip() not in err
