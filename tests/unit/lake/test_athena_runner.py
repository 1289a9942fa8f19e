"""The Athena engine's calls, against botocore's Stubber (Athena cannot run here): start, poll with
backoff, page through results, fail with Athena's reason, stop the query on Ctrl-C."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from deliverer_cli.main import main
from spark_jobs.cli import athena as athena_cli
from spark_jobs.cli import query as query_cli
from spark_jobs.sql.athena_ddl import lake_ddl
from spark_jobs.sql.athena_runner import AthenaQueryFailed, AthenaSettings, Backoff, run_query
from spark_jobs.storage.location import parse_lake_url

QUERY_ID = "3f1c2a9e-0000-4000-8000-000000000001"
SQL = "SELECT deliverer_id, orders, km, busy, last_seen FROM gold_deliverer_daily"
SETTINGS = AthenaSettings(database="tracking", workgroup="analysts", output_location="s3://results-bucket/athena/")
COLUMNS = [("deliverer_id", "varchar"), ("orders", "bigint"), ("km", "double"), ("busy", "boolean"),
           ("last_seen", "timestamp")]


@pytest.fixture
def athena() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "athena", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_start(stubber: Stubber, sql: str = SQL, settings: AthenaSettings = SETTINGS) -> None:
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": QUERY_ID},
        {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": settings.database},
            "WorkGroup": settings.workgroup,
            "ResultConfiguration": {"OutputLocation": settings.output_location},
        },
    )


def expect_state(stubber: Stubber, state: str, statement_type: str = "DML", **status: Any) -> None:
    stubber.add_response(
        "get_query_execution",
        {"QueryExecution": {
            "QueryExecutionId": QUERY_ID,
            "StatementType": statement_type,
            "Status": {"State": state, **status},
            "Statistics": {"DataScannedInBytes": 123_456, "EngineExecutionTimeInMillis": 850},
        }},
        {"QueryExecutionId": QUERY_ID},
    )


def row(*values: str | None) -> dict[str, Any]:
    return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}


def expect_page(stubber: Stubber, rows: list[dict[str, Any]], token: str | None = None, then: str | None = None,
                columns: list[tuple[str, str]] = COLUMNS) -> None:
    response: dict[str, Any] = {"ResultSet": {
        "Rows": rows,
        "ResultSetMetadata": {"ColumnInfo": [{"Name": n, "Label": n, "Type": t} for n, t in columns]},
    }}
    if then:
        response["NextToken"] = then
    params: dict[str, Any] = {"QueryExecutionId": QUERY_ID, "MaxResults": 1000}
    if token:
        params["NextToken"] = token
    stubber.add_response("get_query_results", response, params)


def test_a_query_is_started_polled_with_backoff_and_read_page_by_page(athena: tuple[Any, Stubber]) -> None:
    client, stubber = athena
    expect_start(stubber)
    for state in ("QUEUED", "RUNNING", "RUNNING", "SUCCEEDED"):
        expect_state(stubber, state)
    header = row(*(name for name, _ in COLUMNS))
    expect_page(stubber, [header, row("c1", "3", "12.5", "true", "2026-03-01 10:05:00.000"),
                          row("c2", "0", None, "false", None)], then="page-2")
    expect_page(stubber, [row("c3", "7", "1.25", "true", "2026-03-02 00:02:00.000")], token="page-2")
    waited: list[float] = []

    result = run_query(client, SQL, SETTINGS, Backoff(first=0.2, factor=1.5, most=5), waited.append)

    assert waited == pytest.approx([0.2, 0.3, 0.45])
    assert result.columns == [name for name, _ in COLUMNS]
    assert result.rows == [
        ("c1", 3, 12.5, True, "2026-03-01 10:05:00.000"),
        ("c2", 0, None, False, None),
        ("c3", 7, 1.25, True, "2026-03-02 00:02:00.000"),
    ]
    assert result.stats == {"query_id": QUERY_ID, "data_scanned_bytes": 123_456, "engine_ms": 850}


def test_polling_backs_off_up_to_a_ceiling() -> None:
    assert list(itertools.islice(Backoff(first=1, factor=2, most=5).delays(), 5)) == [1, 2, 4, 5, 5]


def test_a_failed_query_raises_with_athenas_reason_and_reads_no_results(athena: tuple[Any, Stubber]) -> None:
    client, stubber = athena
    reason = "COLUMN_NOT_FOUND: line 1:8: Column 'kms' cannot be resolved or requester is not authorized"
    expect_start(stubber)
    expect_state(stubber, "RUNNING")
    expect_state(stubber, "FAILED", StateChangeReason=reason,
                 AthenaError={"ErrorCategory": 2, "ErrorType": 1006, "ErrorMessage": reason})

    with pytest.raises(AthenaQueryFailed) as failure:
        run_query(client, SQL, SETTINGS, wait=lambda _: None)

    assert failure.value.reason == reason
    assert failure.value.state == "FAILED" and failure.value.error_type == "1006"
    assert str(failure.value) == f"Athena query {QUERY_ID} failed: {reason}"


def test_a_query_cancelled_elsewhere_is_an_error_too(athena: tuple[Any, Stubber]) -> None:
    client, stubber = athena
    expect_start(stubber)
    expect_state(stubber, "CANCELLED", StateChangeReason="Query was cancelled by user")

    with pytest.raises(AthenaQueryFailed, match="cancelled: Query was cancelled by user"):
        run_query(client, SQL, SETTINGS, wait=lambda _: None)


def test_ctrl_c_while_waiting_stops_the_query_on_athena(athena: tuple[Any, Stubber]) -> None:
    client, stubber = athena
    expect_start(stubber)
    expect_state(stubber, "RUNNING")
    expect_state(stubber, "RUNNING")
    stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": QUERY_ID})
    polls = itertools.count()

    def interrupted_on_second_wait(_delay: float) -> None:
        if next(polls) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_query(client, SQL, SETTINGS, wait=interrupted_on_second_wait)


def test_ddl_results_have_no_header_row_to_drop(athena: tuple[Any, Stubber]) -> None:
    client, stubber = athena
    settings = AthenaSettings(database="tracking")
    stubber.add_response(
        "start_query_execution", {"QueryExecutionId": QUERY_ID},
        {"QueryString": "SHOW TABLES", "QueryExecutionContext": {"Database": "tracking"}},
    )
    expect_state(stubber, "SUCCEEDED", statement_type="UTILITY")
    expect_page(stubber, [row("bronze_locations"), row("gold_hotspots")], columns=[("tab_name", "string")])

    result = run_query(client, "SHOW TABLES", settings, wait=lambda _: None)

    assert result.rows == [("bronze_locations",), ("gold_hotspots",)]


def test_the_query_command_prints_athenas_rows_and_its_failures(
    athena: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = athena
    monkeypatch.setattr(query_cli, "athena_client", lambda: client)
    args = ["query", SQL, "--engine", "athena", "--database", "tracking", "--workgroup", "analysts",
            "--output-location", "s3://results-bucket/athena/", "--format", "csv"]
    expect_start(stubber)
    expect_state(stubber, "SUCCEEDED")
    expect_page(stubber, [row(*(n for n, _ in COLUMNS)), row("c1", "3", "12.5", "true", "2026-03-01 10:05:00.000")])
    assert main(args) == 0
    output = capsys.readouterr()
    assert output.out == "deliverer_id,orders,km,busy,last_seen\nc1,3,12.5,true,2026-03-01 10:05:00.000\n"
    assert "athena: 1 row in" in output.err and "0.12 MB scanned" in output.err

    expect_start(stubber)
    missing = "TABLE_NOT_FOUND: line 1:15: Table 'gold_deliverer_daily' does not exist"
    expect_state(stubber, "FAILED", StateChangeReason=missing)
    assert main(args) == 1
    assert "Table 'gold_deliverer_daily' does not exist" in capsys.readouterr().err


def test_ddl_apply_runs_every_statement_on_athena(
    athena: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = athena
    monkeypatch.setattr(athena_cli, "athena_client", lambda: client)
    statements = lake_ddl("tracking", parse_lake_url("s3://analytics-bucket/tracking"))
    for statement in statements:
        stubber.add_response(
            "start_query_execution", {"QueryExecutionId": QUERY_ID},
            {"QueryString": statement, "QueryExecutionContext": {"Database": "tracking"}, "WorkGroup": "analysts"},
        )
        expect_state(stubber, "SUCCEEDED", statement_type="DDL")
        expect_page(stubber, [], columns=[])

    code = main(["athena", "ddl", "--lake", "s3://analytics-bucket/tracking", "--database", "tracking",
                 "--workgroup", "analysts", "--apply"])

    assert code == 0
    err = capsys.readouterr().err
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS `tracking`.`gold_hotspots` ..." in err
    assert f"applied {len(statements)} statements to Athena database tracking" in err
