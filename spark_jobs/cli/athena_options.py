"""The command-line options both ``deliverer athena`` and ``deliverer query --engine athena`` take."""

from __future__ import annotations

import argparse
from typing import Any

from deliverer.settings import env
from spark_jobs.sql.athena_runner import AthenaSettings
from spark_jobs.sql.database import DEFAULT_DATABASE, check_database_name

ENV_DATABASE = "DELIVERER_ATHENA_DATABASE"
ENV_WORKGROUP = "DELIVERER_ATHENA_WORKGROUP"
ENV_OUTPUT_LOCATION = "DELIVERER_ATHENA_OUTPUT"


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database", type=check_database_name, default=env(ENV_DATABASE, DEFAULT_DATABASE),
        help=f"the database the tables are in (Athena; a DuckDB schema locally) [${ENV_DATABASE}, %(default)s]",
    )


def add_athena_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Athena (credentials and region: the usual AWS variables)")
    group.add_argument(
        "--workgroup", default=env(ENV_WORKGROUP, ""),
        help=f"Athena workgroup (default: the account's 'primary') [${ENV_WORKGROUP}]",
    )
    group.add_argument(
        "--output-location", default=env(ENV_OUTPUT_LOCATION, ""), metavar="S3_URL",
        help="where Athena writes query results, s3://bucket/prefix/ (default: the workgroup's)"
        f" [${ENV_OUTPUT_LOCATION}]",
    )


def athena_settings(args: argparse.Namespace) -> AthenaSettings:
    return AthenaSettings(
        database=args.database, workgroup=args.workgroup or None, output_location=args.output_location or None
    )


def athena_client() -> Any:
    import boto3

    return boto3.client("athena")
