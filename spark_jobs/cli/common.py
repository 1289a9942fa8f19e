"""What the lake commands share: their flags for the store, the lake, the days and Spark, and the helpers
that turn those flags into a run.

Importable without the lake's libraries (pyspark, pyarrow, DuckDB, boto3), as every module of this package
is: the ``deliverer`` command line is built in every image, and only the exporter's has them. A command
imports what it runs inside its handler.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from deliverer.settings import SPARK_CONF, SPARK_MASTER
from deliverer.settings.arguments import add_settings
from spark_jobs import defaults
from spark_jobs.days import days_in_range

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from spark_jobs.spark.session import SparkSettings

def add_day_arguments(parser: argparse.ArgumentParser, title: str, verb: str) -> argparse._ArgumentGroup:
    """``--date``, or ``--since`` and ``--until``: the UTC days to run on (see :func:`requested_days`)."""
    days = parser.add_argument_group(title)
    days.add_argument("--date", help=f"{verb} this one UTC day, YYYY-MM-DD")
    days.add_argument("--since", help=f"{verb} every UTC day from this one (YYYY-MM-DD) ...")
    days.add_argument("--until", help="... through this one, inclusive (default: today)")
    return days


def add_spark_arguments(parser: argparse.ArgumentParser, submitted: bool = False) -> argparse._ArgumentGroup:
    """``--master`` and ``--conf``. ``submitted``: run by spark-submit, whose master stays unless one is given."""
    spark = parser.add_argument_group("Spark")
    if submitted:
        master = dataclasses.replace(SPARK_MASTER, default="", shown="spark-submit's")
    else:
        master = dataclasses.replace(SPARK_MASTER, default=defaults.SPARK_MASTER)
    add_settings(spark, master, SPARK_CONF)
    return spark


def requested_days(args: argparse.Namespace, today: str) -> list[str] | None:
    """The days ``--date`` or ``--since``/``--until`` name, or None when neither is given."""
    if args.date and (args.since or args.until):
        raise ValueError("use --date or --since/--until, not both")
    if args.date:
        return days_in_range(args.date, args.date)
    if args.until and not args.since:
        raise ValueError("--until needs --since")
    if args.since:
        return days_in_range(args.since, args.until or today)
    return None


def parse_conf(pairs: Iterable[str]) -> dict[str, str]:
    """``["k=v", …]`` from repeated ``--conf`` flags as a dict."""
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--conf expects key=value, got {pair!r}")
        conf[key.strip()] = value
    return conf


def spark_settings(args: argparse.Namespace, submitted: bool = False) -> SparkSettings:
    """How to start Spark, from ``--master`` and ``--conf``. Run by spark-submit, the workers' Python is the
    one it was given; otherwise this interpreter."""
    from spark_jobs.spark.session import SparkSettings

    python = None if submitted else sys.executable
    return SparkSettings(master=args.master or None, conf=parse_conf(args.conf), python=python)


class LazySpark:
    """Starts Spark the first time a day has to be written, then keeps it for later runs."""

    def __init__(self, settings: SparkSettings) -> None:
        self.settings = settings
        self.session: SparkSession | None = None

    def __call__(self) -> SparkSession:
        if self.session is None:
            from spark_jobs.spark.session import start_spark

            self.session = start_spark(self.settings)
        return self.session

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.session = None


def lake_failures() -> tuple[type[Exception], ...]:
    """What ends a lake command with a one-line message and exit status 2: the lake held by another run, or
    S3 refusing or unreachable."""
    from botocore.exceptions import BotoCoreError, ClientError

    from spark_jobs.storage import LakeBusy

    return (LakeBusy, BotoCoreError, ClientError)


def quiet_aws_logging() -> None:
    """boto3 announces where it found credentials and endpoints at INFO: keep that for --log-level DEBUG."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in ("boto3", "botocore", "s3transfer", "urllib3"):
            logging.getLogger(name).setLevel(logging.WARNING)
