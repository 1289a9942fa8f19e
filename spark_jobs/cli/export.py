"""``deliverer export``: the store's history to the lake's bronze Parquet, once or on a schedule.

Also the entry point of ``spark-submit spark_jobs/export_job.py``, which passes ``submitted=True``
so that the master and the Python of the workers are the ones spark-submit was given.
Spark, pyarrow and boto3 are imported only when the command runs: every other ``deliverer``
command starts without them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

from deliverer.logs import configure_logging
from deliverer.settings import (
    EXPORT_EVERY,
    EXPORT_NO_TRANSFORM,
    EXPORT_SETTLE,
    EXPORT_SLICES,
    EXPORT_WORK_DIR,
    LAKE_URL,
    LOG_FORMAT,
    LOG_LEVEL,
    STORE_URL,
)
from deliverer.settings.arguments import add_settings
from deliverer.store import StoreUnavailable, open_store
from spark_jobs import defaults
from spark_jobs.cli.common import (
    LazySpark,
    add_day_arguments,
    add_spark_arguments,
    lake_failures,
    quiet_aws_logging,
    requested_days,
    spark_settings,
)
from spark_jobs.cli.every import parse_schedule, run_on_schedule
from spark_jobs.cli.transform import show_day as show_transformed_day
from spark_jobs.day_actions import ExportAction

if TYPE_CHECKING:
    from spark_jobs.export.plan import DayResult
    from spark_jobs.export.run import ExportRequest, ExportSummary

log = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "export",
        help="export the store's history to the lake (Parquet, by day) with Spark",
        description="Export the location history from the store to <lake>/bronze/locations/dt=YYYY-MM-DD/"
        " as snappy Parquet. Without --date/--since it exports the days touched by reports stored"
        " since the last run (watermark in <lake>/_state/export.json). A day the lake already holds is"
        " rewritten as the union of its rows and the store's, one row per report (deliverer_id, msg_id):"
        " rows pruned from the store stay in the lake.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser, submitted: bool = False) -> None:
    add_settings(parser, STORE_URL, LAKE_URL)
    days = add_day_arguments(parser, "backfill (the watermark is neither used nor moved)", "export")
    days.add_argument(
        "--rebuild", action="store_true",
        help="replace each day named with the store's rows alone instead of merging them into the lake's copy;"
        " refused when the lake holds reports of the day that the store does not",
    )
    days.add_argument(
        "--force", action="store_true", help="with --rebuild: rebuild even so, dropping the reports only the lake holds"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be written; write nothing, start no Spark"
    )
    parser.add_argument("--json", action="store_true", help="a JSON summary on stdout (one object per run)")
    settle = dataclasses.replace(EXPORT_SETTLE, default=f"{defaults.EXPORT_SETTLE.total_seconds():g}s")
    add_settings(parser, EXPORT_NO_TRANSFORM, EXPORT_EVERY, settle, EXPORT_WORK_DIR)
    spark = add_spark_arguments(parser, submitted)
    add_settings(spark, EXPORT_SLICES)


def check_rebuild(args: argparse.Namespace, days: list[str] | None) -> None:
    """--rebuild names its days; --force only loosens a rebuild."""
    if args.force and not args.rebuild:
        raise ValueError("--force only goes with --rebuild")
    if args.rebuild and days is None:
        raise ValueError("--rebuild needs the days to rebuild: --date or --since/--until")


def run(args: argparse.Namespace, submitted: bool = False) -> int:
    from spark_jobs.export.merge import DayCheckFailed
    from spark_jobs.export.run import ExportRequest
    from spark_jobs.export.spark_writer import DayWriteOptions

    failures: tuple[type[Exception], ...] = (*lake_failures(), DayCheckFailed)
    quiet_aws_logging()
    days = requested_days(args, datetime.now(UTC).date().isoformat())
    check_rebuild(args, days)
    if args.every and (days is not None or args.dry_run):
        raise ValueError("--every runs incremental exports: it does not take --date/--since or --dry-run")
    request = ExportRequest(
        store_url=args.store, days=days, dry_run=args.dry_run, settle=args.settle,
        write=DayWriteOptions(max_slices=args.slices or None), transform=not args.no_transform,
        rebuild=args.rebuild, force=args.force,
    )
    spark = LazySpark(spark_settings(args, submitted))
    try:
        if args.every:
            return run_scheduled(args, request, spark)
        try:
            summary = export_once(args, request, spark)
        except failures as exc:
            print(f"deliverer export: {exc}", file=sys.stderr)
            return 2
        print_summary(summary, args.json)
        return 0
    finally:
        spark.stop()


def export_once(args: argparse.Namespace, request: ExportRequest, spark: LazySpark) -> ExportSummary:
    from spark_jobs.export.run import run_export
    from spark_jobs.storage import open_lake

    store = open_store(request.store_url)
    try:
        lake = open_lake(args.lake, work_dir=args.work_dir)
        return run_export(
            request, store, lake, spark, on_day=print_progress(request.dry_run), on_transform=show_transformed_day
        )
    finally:
        store.close()


def run_scheduled(args: argparse.Namespace, request: ExportRequest, spark: LazySpark) -> int:
    schedule = parse_schedule(args.every)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping after the current run (signal %d)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("exporting to %s every %s", args.lake, args.every)

    def one_run() -> None:
        try:
            print_summary(export_once(args, request, spark), args.json)
        except Exception:
            # The failure may have left the JVM broken: the next run that writes starts a fresh one.
            with contextlib.suppress(Exception):
                spark.stop()
            raise

    run_on_schedule(schedule, one_run, stop)
    return 0


def print_progress(dry_run: bool) -> Callable[[DayResult], None]:
    """One line per day on stderr, as each day is done."""

    def show(day: DayResult) -> None:
        had = "has" if dry_run else "had"
        lake = "not in the lake" if day.lake_rows_before is None else f"the lake {had} {day.lake_rows_before:,}"
        why = f": {day.reason}" if day.action in (ExportAction.MERGE, ExportAction.REBUILD) else ""
        if day.action == ExportAction.SKIP:
            line = f"{day.day}  skipped: {day.reason}"
        elif dry_run:
            line = f"{day.day}  would {day.action} {day.store_rows:,} rows from the store ({lake}){why}"
        else:
            line = (
                f"{day.day}  {day.action:<7} {day.rows:>10,} rows  {day.files} file{'s'[:day.files != 1]:<1}"
                f"  {day.bytes / 1e6:8.2f} MB  {day.seconds:6.1f} s  {lake}{why}"
            )
        print(line, file=sys.stderr, flush=True)

    return show


def print_summary(summary: ExportSummary, as_json: bool) -> None:
    totals = summary.to_dict()
    if as_json:
        print(json.dumps(totals), flush=True)
        return
    if not summary.days:
        print(f"nothing to export: no reports stored since {summary.watermark_previous}", flush=True)
        return
    days = len(summary.written)
    what = f"{days} day{'s'[:days != 1]}, {totals['rows']:,} rows to {summary.lake}/{totals['table']}"
    if summary.dry_run:
        print(f"would export {what}", flush=True)
    else:
        files = totals["files"]
        print(f"exported {what}: {files} file{'s'[:files != 1]}, {totals['bytes'] / 1e6:.2f} MB"
              f" in {summary.seconds:.1f} s", flush=True)


def main(argv: Sequence[str] | None = None, submitted: bool = False) -> int:
    """Standalone entry point (spark-submit): the same flags as ``deliverer export``."""
    parser = argparse.ArgumentParser(prog="export_job.py", description="Export the store's history to the lake.")
    add_settings(parser, LOG_LEVEL, LOG_FORMAT)
    add_arguments(parser, submitted=submitted)
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        return run(args, submitted=submitted)
    except (ValueError, StoreUnavailable) as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 2
