"""The checks that decide whether a benchmark run may write its results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conditions import (
    Refusal,
    RunConditions,
    answers_check,
    ceiling_check,
    client_check,
    failed_refusal,
    pace_check,
    spread,
    write_results,
)


def test_spread_is_the_gap_as_a_share_of_the_larger_either_way_round() -> None:
    assert spread(90, 100) == pytest.approx(0.1)
    assert spread(100, 90) == pytest.approx(0.1)
    assert spread(0, 0) == 0


@pytest.mark.parametrize(("first", "second", "ok"), [(100, 91, True), (100, 90, True), (100, 89, False)])
def test_a_ceiling_is_stable_only_within_ten_percent(first: float, second: float, ok: bool) -> None:
    check = ceiling_check("hello", first, second)
    assert check["ok"] is ok
    assert check["mean"] == pytest.approx((first + second) / 2)


@pytest.mark.parametrize(("client_max", "measured", "ok"), [(30_000, 10_000, True), (29_999, 10_000, False)])
def test_the_client_needs_three_times_what_it_measures(client_max: float, measured: float, ok: bool) -> None:
    assert client_check("reads", client_max, measured)["ok"] is ok


def test_nothing_measured_needs_no_headroom_and_stays_valid_json() -> None:
    check = client_check("reads", 30_000, 0)
    assert check["ok"] and check["headroom"] is None
    json.dumps(check, allow_nan=False)


def test_a_figure_with_failed_requests_is_refused() -> None:
    refusal = failed_refusal([answers_check("post_single", 1000, 0), answers_check("post_batch_100", 100, 3)])
    assert refusal is not None and refusal.reason == "failed_requests"
    assert "post_batch_100: 3 of 100" in str(refusal)


def test_an_open_loop_client_must_hold_the_rate_it_was_asked_for() -> None:
    assert pace_check("paced", 3000, 2990)["ok"]
    assert not pace_check("paced", 3000, 2500)["ok"]


def test_failed_checks_name_the_first_reason_and_describe_every_failure() -> None:
    refusal = failed_refusal([
        ceiling_check("ok", 100, 100),
        client_check("post", 2000, 1000),
        ceiling_check("drifting", 100, 50),
    ])
    assert refusal is not None
    assert refusal.reason == "client_bound"
    assert "post" in str(refusal) and "drifting" in str(refusal)
    assert failed_refusal([ceiling_check("ok", 100, 100)]) is None


def test_a_busy_machine_is_refused_unless_forced_and_forced_results_say_so() -> None:
    with pytest.raises(Refusal) as refused:
        RunConditions(force=False, load_before=[1.5, 1.0, 1.0])
    assert refused.value.reason == "busy_machine"
    forced = RunConditions(force=True, load_before=[1.5, 1.0, 1.0])
    assert forced.close()["forced"] is True
    quiet = RunConditions(force=True, load_before=[0.4, 1.0, 1.0])
    closed = quiet.close()
    assert closed["forced"] is False
    assert 0 <= closed["other_cpu_share"] <= 1
    assert closed["load_average_before"] == [0.4, 1.0, 1.0]


def test_nothing_is_written_when_a_check_failed(tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    conditions = RunConditions(force=True, load_before=[0.1, 0.1, 0.1])
    with pytest.raises(Refusal):
        write_results(out, {"figure": 1}, conditions, [ceiling_check("hello", 100, 50)])
    assert not out.exists()
    write_results(out, {"figure": 1}, conditions, [ceiling_check("hello", 100, 95)])
    written = json.loads(out.read_text())
    assert written["figure"] == 1
    assert written["conditions"]["forced"] is False
    assert written["checks"][0]["ok"] is True
