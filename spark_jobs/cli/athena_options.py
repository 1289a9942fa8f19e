"""The command-line options both ``deliverer athena`` and ``deliverer query --engine athena`` take."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from deliverer.settings import ATHENA_DATABASE, ATHENA_OUTPUT, ATHENA_WORKGROUP
from deliverer.settings.arguments import add_settings
from spark_jobs.sql.athena_runner import AthenaSettings
from spark_jobs.sql.database import DEFAULT_DATABASE, check_database_name


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, dataclasses.replace(ATHENA_DATABASE, default=DEFAULT_DATABASE, type=check_database_name))


def add_athena_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Athena (credentials and region: the usual AWS variables)")
    add_settings(group, ATHENA_WORKGROUP, ATHENA_OUTPUT)


def athena_settings(args: argparse.Namespace) -> AthenaSettings:
    return AthenaSettings(
        database=args.database, workgroup=args.workgroup or None, output_location=args.output_location or None
    )


def athena_client() -> Any:
    import boto3

    return boto3.client("athena")
