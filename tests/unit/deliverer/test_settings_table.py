"""Settings declared once: every command's flags and variables come from the one table."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from deliverer.settings import TABLE, Setting
from deliverer.settings.arguments import flag_help, settings_used
from deliverer_cli.main import build_parser, main


def every_action(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                yield from every_action(subparser)


def parsed(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.fixture(autouse=True)
def no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in TABLE:
        for name in (setting.env, *setting.formerly):
            monkeypatch.delenv(name, raising=False)


def test_every_setting_is_read_by_a_command_and_named_once() -> None:
    used = {use.setting.env for use in settings_used(build_parser())}
    assert used == {setting.env for setting in TABLE}
    names = [name for setting in TABLE for name in (setting.env, *setting.formerly)]
    assert len(names) == len(set(names)), "two settings read one variable"


def test_no_flag_names_a_variable_outside_the_table() -> None:
    """A flag declared by hand (help="... [$DELIVERER_X]") would be a second, unchecked copy."""
    parser = build_parser()
    generated = {flag_help(use.setting) for use in settings_used(parser) if not use.environment_only}
    hand_made = [
        action.option_strings for action in every_action(parser)
        if action.help and "$DELIVERER_" in action.help and action.help not in generated
    ]
    assert not hand_made


def test_commands_that_share_a_setting_share_its_default() -> None:
    defaults: dict[str, set[str]] = {}
    for use in settings_used(build_parser()):
        defaults.setdefault(use.setting.env, set()).add(use.setting.shown_default)
    assert {env: shown for env, shown in defaults.items() if len(shown) > 1} == {}


def test_the_help_ends_with_the_variable_and_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["subscribe", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "most reports per store write [$DELIVERER_SUBSCRIBE_BATCH_SIZE, default 1000]" in help_text
    assert "[$DELIVERER_SUBSCRIBE_LEAVE_ON_EXIT=1]" in help_text


def test_a_variable_sets_the_flags_default_and_the_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELIVERER_SUBSCRIBE_BATCH_SIZE", "7")
    monkeypatch.setenv("DELIVERER_SUBSCRIBE_LEAVE_ON_EXIT", "1")
    assert (parsed("subscribe").batch_size, parsed("subscribe").leave_on_exit) == (7, True)
    assert parsed("subscribe", "--batch-size", "9").batch_size == 9


def test_a_bad_variable_is_a_usage_error_naming_the_flag_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELIVERER_SUBSCRIBE_REJECTED_MAX_COUNT", "lots")
    with pytest.raises(SystemExit) as exited:
        parsed("subscribe")
    assert exited.value.code == 2
    assert (
        "--rejected-max-count: expected a whole number, got 'lots' (from $DELIVERER_SUBSCRIBE_REJECTED_MAX_COUNT)"
        in capsys.readouterr().err
    )


def test_a_former_name_is_still_read_with_a_warning_and_the_new_one_wins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELIVERER_CLIENT_ID", "replica-7")
    monkeypatch.setenv("DELIVERER_METRICS_PORT", "9101")
    args = parsed("subscribe")
    assert (args.client_id, args.metrics_port) == ("replica-7", 9101), "a renamed replica keeps its session"
    assert main(["settings", "--get", "DELIVERER_SUBSCRIBE_CLIENT_ID"]) == 0
    assert "DELIVERER_CLIENT_ID is now called DELIVERER_SUBSCRIBE_CLIENT_ID" in capsys.readouterr().err
    monkeypatch.setenv("DELIVERER_SUBSCRIBE_CLIENT_ID", "replica-8")
    assert parsed("subscribe").client_id == "replica-8"


def test_secrets_come_from_the_environment_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELIVERER_API_KEY", "k1")
    monkeypatch.setenv("DELIVERER_API_KEY_READS", "1")
    for command in ("api", "live"):
        args = parsed(command)
        assert (args.api_key, args.api_key_reads, args.tracking_secret) == ("k1", True, "")
    with pytest.raises(SystemExit):
        parsed("api", "--api-key", "on-the-command-line")
    assert "unrecognized arguments: --api-key" in capsys.readouterr().err


def test_a_default_may_follow_another_setting() -> None:
    follows = Setting("DELIVERER_EXAMPLE", "--example", "an example", default=lambda env: env.get("X", "") + "!",
                      shown="X!")
    assert (follows.text({"X": "a"}), follows.text({"X": "a", "DELIVERER_EXAMPLE": "b"})) == ("a!", "b")
    with pytest.raises(ValueError, match="needs the text that shows it"):
        Setting("DELIVERER_EXAMPLE", "--example", "an example", default=lambda env: "")
    with pytest.raises(ValueError, match="DELIVERER_"):
        Setting("EXAMPLE", "--example", "an example")
