"""``deliverer transform``: rebuild the lake's silver and gold days from bronze with Spark."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from deliverer.settings import EXPORT_WORK_DIR, HOTSPOT_CELL_M, LAKE_URL
from deliverer.settings.arguments import add_settings
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
from spark_jobs.day_actions import TransformAction

if TYPE_CHECKING:
    from spark_jobs.transforms.run import DayTransform, TransformSummary

log = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "transform",
        help="build the lake's silver and gold tables from bronze, by day, with Spark",
        description="Rebuild silver/locations, gold/order_trips, gold/deliverer_daily and gold/hotspots for"
        " UTC days from the lake's bronze/locations, replacing each day whole. Without --date/--since it"
        " does the days whose bronze changed since they were last transformed (<lake>/_state/transform.json).",
    )
    add_settings(parser, LAKE_URL)
    add_day_arguments(parser, "days (default: those whose bronze changed)", "transform")
    add_settings(parser, dataclasses.replace(HOTSPOT_CELL_M, default=str(defaults.HOTSPOT_CELL_M)))
    parser.add_argument("--dry-run", action="store_true", help="show the days that would be rebuilt; start no Spark")
    parser.add_argument("--json", action="store_true", help="a JSON summary on stdout")
    add_settings(parser, EXPORT_WORK_DIR)
    add_spark_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spark_jobs.storage import open_lake
    from spark_jobs.transforms.run import TransformOptions, changed_days, plan_transform_day, transform_days

    failures = lake_failures()
    asked = requested_days(args, datetime.now(UTC).date().isoformat())
    quiet_aws_logging()
    spark = LazySpark(spark_settings(args))
    try:
        lake = open_lake(args.lake, work_dir=args.work_dir)
        with lake.exclusive():
            if not args.dry_run:
                for restored in lake.recover():
                    log.warning("restored %s, left aside by an interrupted run", restored)
            days = asked if asked is not None else changed_days(lake)
            plans = [plan_transform_day(lake, day) for day in days]
            if args.dry_run or not any(p.action == TransformAction.WRITE for p in plans):
                return show_plan(plans, args.json, args.dry_run)
            summary = transform_days(spark(), lake, days, TransformOptions(cell_m=args.cell_m), on_day=show_day)
    except failures as exc:
        print(f"deliverer transform: {exc}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    show_summary(summary, args.json)
    return 0


def show_plan(plans: list[DayTransform], as_json: bool, dry_run: bool) -> int:
    if as_json:
        print(json.dumps({"dry_run": dry_run, "days": [p.to_dict() for p in plans]}))
        return 0
    if not plans:
        print("nothing to transform: every bronze day is up to date")
    for plan in plans:
        if plan.action == TransformAction.SKIP:
            print(f"{plan.day}  skipped: {plan.reason}")
        else:
            print(f"{plan.day}  would transform {plan.bronze_rows:,} bronze rows")
    return 0


def show_day(day: DayTransform) -> None:
    """One line per day on stderr, as each pass is published."""
    if day.action == TransformAction.SKIP:
        line = f"{day.day}  skipped: {day.reason}"
    else:
        counts = "  ".join(f"{name} {rows:,}" for name, rows in day.rows.items())
        line = f"{day.day}  {day.bronze_rows:>10,} bronze rows -> {counts}  ({day.bytes / 1e6:.2f} MB)"
    print(line, file=sys.stderr, flush=True)


def show_summary(summary: TransformSummary, as_json: bool) -> None:
    totals = summary.to_dict()
    if as_json:
        print(json.dumps(totals), flush=True)
        return
    days = totals["days_written"]
    print(
        f"transformed {days} day{'s'[:days != 1]} in {summary.lake}: {totals['files']} files,"
        f" {totals['bytes'] / 1e6:.2f} MB in {summary.seconds:.1f} s",
        flush=True,
    )
