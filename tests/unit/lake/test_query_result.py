"""Query results print the same whichever engine produced them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from spark_jobs.sql.result import QueryResult, normalised, render

RESULT = normalised(
    ["courier", "delivered", "km", "last_seen", "states", "note"],
    [
        ("c1", Decimal("12"), 3.5, datetime(2026, 3, 1, 10, 5, 0, 123456), ["start", "arrived"], None),
        ("courier-77", Decimal("3"), Decimal("1.25"), datetime(2026, 3, 2, tzinfo=UTC), [], "late, \"slow\""),
    ],
)


def test_values_are_normalised_like_athena_returns_them() -> None:
    assert RESULT.rows[0] == ("c1", 12, 3.5, "2026-03-01 10:05:00.123", ["start", "arrived"], None)
    assert RESULT.rows[1][1:4] == (3, 1.25, "2026-03-02 00:00:00.000")
    assert normalised(["d"], [(date(2026, 3, 1),)]).rows == [("2026-03-01",)]


def test_table_aligns_numbers_right_and_counts_rows() -> None:
    assert render(RESULT, "table").splitlines() == [
        "courier     delivered    km  last_seen                states                note",
        "----------  ---------  ----  -----------------------  --------------------  ------------",
        'c1                 12   3.5  2026-03-01 10:05:00.123  ["start", "arrived"]  NULL',
        'courier-77          3  1.25  2026-03-02 00:00:00.000  []                    late, "slow"',
        "(2 rows)",
    ]


def test_csv_quotes_what_needs_it_and_leaves_nulls_empty() -> None:
    assert render(RESULT, "csv").splitlines() == [
        "courier,delivered,km,last_seen,states,note",
        'c1,12,3.5,2026-03-01 10:05:00.123,"[""start"", ""arrived""]",',
        'courier-77,3,1.25,2026-03-02 00:00:00.000,[],"late, ""slow"""',
    ]


def test_json_is_one_array_of_objects() -> None:
    assert json.loads(render(RESULT, "json"))[1] == {
        "courier": "courier-77", "delivered": 3, "km": 1.25, "last_seen": "2026-03-02 00:00:00.000",
        "states": [], "note": 'late, "slow"',
    }
    assert render(QueryResult(["n"], []), "json") == "[]\n"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render(RESULT, "xml")
