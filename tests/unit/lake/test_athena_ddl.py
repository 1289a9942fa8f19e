"""The Athena DDL: one statement per lake table, from the table definitions, with partition projection."""

from __future__ import annotations

import re
from datetime import date

import pytest

from deliverer.contract import MIN_TIMESTAMP_MS, Rejection, validate_report
from deliverer_cli.main import main
from spark_jobs.sql.athena_ddl import MAX_COMMENT_CHARS, athena_type, create_table, lake_ddl
from spark_jobs.storage.location import parse_lake_url
from spark_jobs.tables import ALL_TABLES, BRONZE_LOCATIONS, LakeTable, sql_name
from tests.unit.lake.ddl_text import parse_create_table

LAKE = parse_lake_url("s3://analytics-bucket/tracking/v1")
RELATIVE_BOUND = re.compile(r"NOW([+-]\d+(YEARS|MONTHS|WEEKS|DAYS|HOURS|MINUTES|SECONDS))?")


def check_range_bound(bound: str) -> None:
    if not RELATIVE_BOUND.fullmatch(bound):
        date.fromisoformat(bound)  # yyyy-MM-dd, the projection's format


def test_every_lake_table_gets_one_statement_after_the_database() -> None:
    statements = lake_ddl("tracking", LAKE)
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS `tracking`"
    tables = [parse_create_table(s) for s in statements[1:]]
    assert [t.table for t in tables] == [sql_name(t) for t in ALL_TABLES]
    assert [t.table for t in tables] == [
        "bronze_locations", "silver_locations", "gold_order_trips", "gold_deliverer_daily", "gold_hotspots",
    ]
    assert {t.database for t in tables} == {"tracking"}


@pytest.mark.parametrize("table", ALL_TABLES, ids=sql_name)
def test_columns_come_from_the_table_definition(table: LakeTable) -> None:
    parsed = parse_create_table(create_table("tracking", LAKE, table))
    assert parsed.columns == [(c.name, athena_type(c.type)) for c in table.columns]
    assert parsed.partition == ("dt", "string")
    assert "dt" not in dict(parsed.columns)


@pytest.mark.parametrize("table", ALL_TABLES, ids=sql_name)
def test_partition_projection_is_complete_and_valid(table: LakeTable) -> None:
    parsed = parse_create_table(create_table("tracking", LAKE, table, first_day="2025-06-01"))
    location = f"s3://analytics-bucket/tracking/v1/{table.layer}/{table.name}/"
    assert parsed.location == location
    props = parsed.properties
    assert props["projection.enabled"] == "true"
    assert props["projection.dt.type"] == "date"
    assert props["projection.dt.format"] == "yyyy-MM-dd"
    first, last = props["projection.dt.range"].split(",")
    assert first == "2025-06-01"
    check_range_bound(first)
    check_range_bound(last)
    assert props["projection.dt.interval"] == "1" and props["projection.dt.interval.unit"] == "DAYS"
    assert props["storage.location.template"] == location + "dt=${dt}/"
    # The template is what the export writes: <table>/dt=YYYY-MM-DD/.
    assert props["storage.location.template"].replace("${dt}", "2025-06-01").endswith(
        table.partition_path("2025-06-01") + "/"
    )


def test_comments_are_escaped_and_fit_the_catalog() -> None:
    statement = create_table("tracking", LAKE, BRONZE_LOCATIONS)
    assert "COMMENT 'the device\\'s sequence number for the order'" in statement
    for table in ALL_TABLES:
        for text in [table.description, *(c.description for c in table.columns)]:
            assert len(text) <= MAX_COMMENT_CHARS, text


def test_replace_drops_each_table_before_creating_it() -> None:
    statements = lake_ddl("tracking", LAKE, replace=True)
    assert statements[1] == "DROP TABLE IF EXISTS `tracking`.`bronze_locations`"
    assert statements[2].startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `tracking`.`bronze_locations`")
    assert len(statements) == 1 + 2 * len(ALL_TABLES)


@pytest.mark.parametrize(
    ("database", "lake", "first_day", "message"),
    [
        ("tracking", "/srv/lake", "2020-01-01", "not an s3://bucket/prefix lake"),
        ("Tracking-1", "s3://b/p", "2020-01-01", "lower-case letters"),
        ("tracking", "s3://b/p", "2020-1-1", "YYYY-MM-DD"),
        ("tracking", "s3://b/p", "2020-02-30", "day is out of range"),
    ],
)
def test_bad_inputs_are_refused(database: str, lake: str, first_day: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lake_ddl(database, parse_lake_url(lake), first_day=first_day)


def test_the_command_prints_the_statements(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["athena", "ddl", "--lake", "s3://analytics-bucket/tracking", "--database", "ops"]) == 0
    out = capsys.readouterr().out
    statements = out.rstrip().removesuffix(";").split(";\n\n")
    assert statements == lake_ddl("ops", parse_lake_url("s3://analytics-bucket/tracking"))


def test_the_command_refuses_a_local_lake(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["athena", "ddl", "--lake", "var/lake"]) == 2
    assert "not an s3://bucket/prefix lake" in capsys.readouterr().err


def test_the_default_projection_starts_on_the_day_of_the_oldest_accepted_timestamp() -> None:
    """Every day the contract lets into the store is a day Athena projects: nothing exported is unseen."""
    report = {
        "msg_id": "m1", "order_id": "o1", "deliverer_id": "d1", "delivery_state": "start",
        "latitude": 45.0, "longitude": 9.0,
    }
    oldest = validate_report({**report, "timestamp": MIN_TIMESTAMP_MS}).timestamp
    with pytest.raises(Rejection):
        validate_report({**report, "timestamp": MIN_TIMESTAMP_MS - 1})
    for table in ALL_TABLES:
        properties = parse_create_table(create_table("tracking", LAKE, table)).properties
        assert properties["projection.dt.range"].split(",")[0] == oldest.date().isoformat()
