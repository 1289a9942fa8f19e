"""Run one SQL statement on Athena: start it, poll with backoff, page through the results.

Athena returns every value as a string; they are turned back into numbers and booleans from the
column types it reports, so its rows compare equal to the local engine's. A failed or cancelled
query raises :class:`AthenaQueryFailed` with Athena's own reason. Ctrl-C while the query runs
stops it on Athena before the interrupt goes on (a query left running keeps costing money).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from spark_jobs.sql.result import QueryResult

log = logging.getLogger(__name__)

RUNNING_STATES = ("QUEUED", "RUNNING")
PAGE_ROWS = 1000
"""The most rows ``GetQueryResults`` returns per call."""

_INTEGER_TYPES = {"tinyint", "smallint", "integer", "int", "bigint"}
_FLOAT_TYPES = {"double", "float", "real"}


class AthenaQueryFailed(Exception):
    """The query ended FAILED or CANCELLED; ``reason`` is Athena's StateChangeReason."""

    def __init__(self, query_id: str, state: str, reason: str, error_type: str | None = None) -> None:
        super().__init__(f"Athena query {query_id} {state.lower()}: {reason}")
        self.query_id = query_id
        self.state = state
        self.reason = reason
        self.error_type = error_type


@dataclass(frozen=True)
class AthenaSettings:
    """Where a query runs. ``workgroup`` and ``output_location`` may be left to the account's defaults
    (a workgroup can enforce its own result location)."""

    database: str
    workgroup: str | None = None
    output_location: str | None = None
    catalog: str | None = None


@dataclass(frozen=True)
class Backoff:
    """Poll delays: ``first`` seconds, growing by ``factor`` up to ``most``."""

    first: float = 0.2
    factor: float = 1.5
    most: float = 5.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(self.most, delay * self.factor)


def run_query(
    client: Any,
    sql: str,
    settings: AthenaSettings,
    backoff: Backoff | None = None,
    wait: Callable[[float], None] = time.sleep,
) -> QueryResult:
    """Run ``sql`` and return all its rows. ``client`` is a boto3 Athena client; ``wait`` sleeps."""
    query_id = start(client, sql, settings)
    try:
        execution = wait_until_done(client, query_id, backoff or Backoff(), wait)
    except KeyboardInterrupt:
        log.warning("interrupted: stopping Athena query %s", query_id)
        client.stop_query_execution(QueryExecutionId=query_id)
        raise
    columns, rows = fetch_results(client, query_id, execution.get("StatementType"))
    statistics = execution.get("Statistics", {})
    return QueryResult(columns, rows, {
        "query_id": query_id,
        "data_scanned_bytes": statistics.get("DataScannedInBytes"),
        "engine_ms": statistics.get("EngineExecutionTimeInMillis"),
    })


def start(client: Any, sql: str, settings: AthenaSettings) -> str:
    context = {"Database": settings.database}
    if settings.catalog:
        context["Catalog"] = settings.catalog
    request: dict[str, Any] = {"QueryString": sql, "QueryExecutionContext": context}
    if settings.workgroup:
        request["WorkGroup"] = settings.workgroup
    if settings.output_location:
        request["ResultConfiguration"] = {"OutputLocation": settings.output_location}
    query_id: str = client.start_query_execution(**request)["QueryExecutionId"]
    log.debug("started Athena query %s", query_id)
    return query_id


def wait_until_done(client: Any, query_id: str, backoff: Backoff, wait: Callable[[float], None]) -> dict[str, Any]:
    """Poll until the query leaves QUEUED/RUNNING; its QueryExecution when it SUCCEEDED."""
    for delay in backoff.delays():
        execution: dict[str, Any] = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        status = execution["Status"]
        state = status["State"]
        if state == "SUCCEEDED":
            return execution
        if state not in RUNNING_STATES:
            error = status.get("AthenaError", {})
            reason = status.get("StateChangeReason") or error.get("ErrorMessage") or "no reason given"
            raise AthenaQueryFailed(query_id, state, reason, error.get("ErrorType") and str(error["ErrorType"]))
        wait(delay)
    raise AssertionError("the backoff never ends")


def fetch_results(client: Any, query_id: str, statement_type: str | None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Every page of the results. A SELECT's first row repeats the column names: it is dropped."""
    columns: list[str] = []
    types: list[str] = []
    rows: list[tuple[Any, ...]] = []
    token: str | None = None
    for page_number in itertools.count():
        request: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": PAGE_ROWS}
        if token:
            request["NextToken"] = token
        page = client.get_query_results(**request)
        result_set = page["ResultSet"]
        if page_number == 0:
            info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            columns = [c.get("Label") or c["Name"] for c in info]
            types = [c["Type"].lower() for c in info]
        page_rows = [[datum.get("VarCharValue") for datum in row["Data"]] for row in result_set.get("Rows", [])]
        if page_number == 0 and statement_type == "DML" and page_rows and page_rows[0] == columns:
            page_rows = page_rows[1:]
        rows.extend(tuple(_value(v, t) for v, t in zip(row, types, strict=True)) for row in page_rows)
        token = page.get("NextToken")
        if not token:
            return columns, rows
    raise AssertionError("unreachable")


def _value(text: str | None, kind: str) -> Any:
    if text is None:
        return None
    if kind in _INTEGER_TYPES:
        return int(text)
    if kind in _FLOAT_TYPES:
        return float(text)
    if kind == "boolean":
        return text == "true"
    if kind.startswith("decimal"):
        value = Decimal(text)
        return int(value) if value == value.to_integral_value() else float(value)
    return text
