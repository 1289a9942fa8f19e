"""``deliverer athena ddl``: print the lake's Athena DDL, or run it with ``--apply``."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from deliverer.settings import ATHENA_FIRST_DAY, LAKE_URL
from deliverer.settings.arguments import add_settings
from spark_jobs.cli.athena_options import add_athena_arguments, add_database_argument, athena_client, athena_settings
from spark_jobs.cli.common import quiet_aws_logging
from spark_jobs.sql.athena_ddl import DEFAULT_FIRST_DAY
from spark_jobs.storage.location import parse_lake_url


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("athena", help="Athena tables over the lake (DDL with partition projection)")
    actions = parser.add_subparsers(dest="athena_command", required=True, metavar="ACTION")
    ddl = actions.add_parser(
        "ddl",
        help="print (or --apply) CREATE EXTERNAL TABLE statements for every lake table",
        description="Print the Athena DDL of every lake table (bronze, silver, gold): Parquet, partitioned by"
        " dt with partition projection, so new days are visible without a crawler or MSCK REPAIR."
        " With --apply, run it on Athena.",
    )
    add_settings(ddl, LAKE_URL)
    add_database_argument(ddl)
    add_settings(ddl, dataclasses.replace(ATHENA_FIRST_DAY, default=DEFAULT_FIRST_DAY))
    ddl.add_argument(
        "--replace", action="store_true",
        help="drop each table before creating it (definitions only: the files stay), to pick up a new schema",
    )
    ddl.add_argument("--apply", action="store_true", help="run the statements on Athena instead of printing them")
    add_athena_arguments(ddl)
    ddl.set_defaults(func=run_ddl)


def run_ddl(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from spark_jobs.sql.athena_ddl import lake_ddl
    from spark_jobs.sql.athena_runner import AthenaQueryFailed, run_query

    statements = lake_ddl(args.database, parse_lake_url(args.lake), first_day=args.first_day, replace=args.replace)
    if not args.apply:
        print(";\n\n".join(statements) + ";")
        return 0
    quiet_aws_logging()
    client = athena_client()
    settings = athena_settings(args)
    try:
        for statement in statements:
            print(statement.split("(", 1)[0].strip(), "...", file=sys.stderr, flush=True)
            run_query(client, statement, settings)
    except AthenaQueryFailed as exc:
        print(f"deliverer athena: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:
        print(f"deliverer athena: {exc}", file=sys.stderr)
        return 2
    print(f"applied {len(statements)} statements to Athena database {args.database}", file=sys.stderr)
    return 0
