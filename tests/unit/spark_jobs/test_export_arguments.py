from __future__ import annotations

import argparse

import pytest

from spark_jobs.cli.common import parse_conf, requested_days
from spark_jobs.cli.export import check_rebuild
from spark_jobs.days import days_in_range


def args(
    date: str | None = None, since: str | None = None, until: str | None = None, rebuild: bool = False,
    force: bool = False,
) -> argparse.Namespace:
    return argparse.Namespace(date=date, since=since, until=until, rebuild=rebuild, force=force)


def test_no_dates_means_incremental() -> None:
    assert requested_days(args(), "2026-03-05") is None


def test_one_date() -> None:
    assert requested_days(args(date="2026-03-01"), "2026-03-05") == ["2026-03-01"]


def test_since_until_is_inclusive_and_until_defaults_to_today() -> None:
    assert requested_days(args(since="2026-02-27", until="2026-03-01"), "x") == [
        "2026-02-27", "2026-02-28", "2026-03-01",
    ]
    assert requested_days(args(since="2026-03-04"), "2026-03-05") == ["2026-03-04", "2026-03-05"]


@pytest.mark.parametrize(
    "given",
    [args(date="2026-03-01", since="2026-03-01"), args(until="2026-03-01"), args(date="03/01/2026"),
     args(since="2026-03-02", until="2026-03-01")],
)
def test_contradictory_or_malformed_dates_are_refused(given: argparse.Namespace) -> None:
    with pytest.raises(ValueError):
        requested_days(given, "2026-03-05")


def test_a_rebuild_names_its_days() -> None:
    check_rebuild(args(date="2026-03-01", rebuild=True, force=True), ["2026-03-01"])
    with pytest.raises(ValueError, match="--rebuild needs the days to rebuild"):
        check_rebuild(args(rebuild=True), None)
    with pytest.raises(ValueError, match="--force only goes with --rebuild"):
        check_rebuild(args(since="2026-03-01", force=True), ["2026-03-01"])


def test_days_in_range_crosses_months() -> None:
    assert days_in_range("2024-02-28", "2024-03-01") == ["2024-02-28", "2024-02-29", "2024-03-01"]


def test_conf_pairs() -> None:
    assert parse_conf(["spark.driver.memory=4g", "spark.x=a=b"]) == {"spark.driver.memory": "4g", "spark.x": "a=b"}
    with pytest.raises(ValueError):
        parse_conf(["novalue"])
