"""``deliverer query``: one SQL statement on Athena or, offline, on DuckDB over the same Parquet files."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from deliverer.settings import LAKE_URL, QUERY_ENGINE
from deliverer.settings.arguments import add_settings
from spark_jobs.cli.athena_options import add_athena_arguments, add_database_argument, athena_client, athena_settings
from spark_jobs.cli.common import quiet_aws_logging
from spark_jobs.sql.result import FORMATS, QueryResult, render
from spark_jobs.storage.location import parse_lake_url


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "query",
        help="run SQL on the lake: Athena, or DuckDB over the same Parquet (--engine local)",
        description="Run one SQL statement over the lake's tables (bronze_locations, silver_locations,"
        " gold_order_trips, gold_deliverer_daily, gold_hotspots; qualified as DATABASE.table or not)."
        " The local engine reads a lake directory or an s3:// lake (endpoint: $AWS_ENDPOINT_URL) with"
        " DuckDB; the athena engine runs it on AWS over the tables `deliverer athena ddl --apply` made.",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("sql", nargs="?", help="the SQL statement")
    what.add_argument("--ready", metavar="NAME", help="run one of the ready queries (see --list)")
    what.add_argument("--file", type=Path, help="read the SQL statement from this file")
    what.add_argument("--list", action="store_true", help="list the ready queries and exit")
    add_settings(parser, QUERY_ENGINE, LAKE_URL)
    add_database_argument(parser)
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: %(default)s)")
    add_athena_arguments(parser)
    parser.set_defaults(func=run)


def statement(args: argparse.Namespace) -> str:
    from spark_jobs.sql.ready_queries import ready_query

    if args.ready:
        return ready_query(args.ready).sql
    if args.file:
        return str(args.file.read_text(encoding="utf-8"))
    return str(args.sql)


def run(args: argparse.Namespace) -> int:
    if args.list:
        return list_ready()
    quiet_aws_logging()
    sql = statement(args)
    if not sql.strip():
        raise ValueError("the SQL statement is empty")
    started = time.monotonic()
    result = run_local(args, sql) if args.engine == "local" else run_athena(args, sql)
    if result is None:
        return 1
    sys.stdout.write(render(result, args.format))
    print(describe(args.engine, result, time.monotonic() - started), file=sys.stderr)
    return 0


def list_ready() -> int:
    from spark_jobs.sql.ready_queries import ready_queries

    queries = ready_queries()
    width = max(len(name) for name in queries)
    for query in queries.values():
        print(f"{query.name:<{width}}  {query.summary}")
    return 0


def run_local(args: argparse.Namespace, sql: str) -> QueryResult | None:
    import duckdb

    from spark_jobs.sql.duckdb_engine import LocalEngine, S3Settings

    # The edge reads the environment: the same variables boto3 and the export use.
    s3 = S3Settings(
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"),
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
    )
    try:
        with LocalEngine(parse_lake_url(args.lake), args.database, s3) as engine:
            return engine.execute(sql)
    except duckdb.Error as exc:
        print(f"deliverer query: {exc}", file=sys.stderr)
        return None


def run_athena(args: argparse.Namespace, sql: str) -> QueryResult | None:
    from botocore.exceptions import BotoCoreError, ClientError

    from spark_jobs.sql.athena_runner import AthenaQueryFailed, run_query

    try:
        return run_query(athena_client(), sql, athena_settings(args))
    except AthenaQueryFailed as exc:
        print(f"deliverer query: {exc}", file=sys.stderr)
        return None
    except (BotoCoreError, ClientError) as exc:
        print(f"deliverer query: Athena: {exc}", file=sys.stderr)
        return None


def describe(engine: str, result: QueryResult, seconds: float) -> str:
    line = f"{engine}: {len(result.rows)} row{'s'[:len(result.rows) != 1]} in {seconds:.2f} s"
    scanned = result.stats.get("data_scanned_bytes")
    if scanned is not None:
        line += f", {scanned / 1e6:.2f} MB scanned"
    if result.stats.get("query_id"):
        line += f", query {result.stats['query_id']}"
    return line
