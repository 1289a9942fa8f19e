"""What ``deliverer`` does with an error: a usage error is one line and exit 2, a bug keeps its traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliverer_cli import stats
from deliverer_cli.main import main


def test_a_value_the_user_gave_wrong_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--store", "ftp://example.com/store"]) == 2
    err = capsys.readouterr().err
    assert err == "deliverer stats: unsupported store URL 'ftp://example.com/store': use sqlite:///path or mongodb://host/db\n"


def test_a_value_error_from_library_code_is_a_bug_not_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(url: str, create: bool = True) -> None:
        raise ValueError("a bug deep inside")

    monkeypatch.setattr(stats, "open_store", broken)
    with pytest.raises(ValueError, match="a bug deep inside"):
        main(["stats", "--store", f"sqlite:///{tmp_path}/store.db"])
