"""The ready queries ship with the package and stay in the SQL both engines speak."""

from __future__ import annotations

import re

import pytest

from deliverer_cli.main import main
from spark_jobs.sql.ready_queries import ready_queries, ready_query
from spark_jobs.tables import ALL_TABLES, sql_name

TABLE_NAMES = {sql_name(t) for t in ALL_TABLES}
# DuckDB-only or Trino-only spellings that would break the other engine.
NOT_PORTABLE = [r"::", r"\bILIKE\b", r"\bQUALIFY\b", r"\bdate_diff\(", r"\bdatediff\(", r"\bstrftime\(",
                r"\bdate_format\(", r"\bLIMIT\s+\d+\s*,", r'"[^"]*\s[^"]*"']


def test_the_four_ready_queries_are_there() -> None:
    assert list(ready_queries()) == [
        "courier_leaderboard", "deliveries_per_day_and_state", "hotspots_last_hour", "slowest_orders",
    ]


@pytest.mark.parametrize("name", list(ready_queries()))
def test_each_is_one_portable_statement_over_lake_tables(name: str) -> None:
    query = ready_query(name)
    assert query.summary, "starts with a -- comment saying what it answers"
    assert ";" not in query.sql
    assert "ORDER BY" in query.sql, "both engines must return the rows in the same order"
    tables = set(re.findall(r"\bFROM\s+(\w+)", query.sql))
    assert tables and tables <= TABLE_NAMES
    for pattern in NOT_PORTABLE:
        assert not re.search(pattern, query.sql, re.I), pattern


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="courier_leaderboard"):
        ready_query("fastest")


def test_the_list_shows_each_query_with_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(ready_queries())
    assert "busiest grid cells" in lines[2]
