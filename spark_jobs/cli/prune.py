"""``deliverer prune``: delete from the store the old days whose rows the lake holds in full."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from deliverer.settings import LAKE_URL, PRUNE_OLDER_THAN, STORE_URL
from deliverer.settings.arguments import add_settings
from deliverer.store import open_store
from spark_jobs.cli.common import lake_failures, quiet_aws_logging
from spark_jobs.day_actions import PruneAction

if TYPE_CHECKING:
    from spark_jobs.retention import PruneDay


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "prune",
        help="delete old days from the store once the lake holds them",
        description="Delete from the store the UTC days that ended more than --older-than ago and whose"
        " every report (by its key, deliverer_id and msg_id) is in the lake's bronze/locations; exactly the"
        " reports checked are deleted, so one stored meanwhile stays. Every other day is kept, with the"
        " reason: newer than the cutoff, not exported, or reports missing from the lake (export it again).",
    )
    add_settings(parser, STORE_URL, LAKE_URL, PRUNE_OLDER_THAN)
    parser.add_argument("--dry-run", action="store_true", help="say what would be deleted; delete nothing")
    parser.add_argument("--json", action="store_true", help="a JSON summary on stdout")
    parser.set_defaults(func=run)


def show_day(day: PruneDay) -> None:
    """One line per day on stderr: what was done and why."""
    counts = ""
    if day.action in (PruneAction.DELETED, PruneAction.WOULD_DELETE):
        counts = f"  {day.rows:,} rows"
    elif day.store_rows is not None:
        lake = "-" if day.lake_rows is None else f"{day.lake_rows:,}"
        counts = f"  (store {day.store_rows:,}, lake {lake})"
    print(f"{day.day}  {day.action:<12} {day.reason}{counts}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from spark_jobs.retention import run_prune
    from spark_jobs.storage import open_lake

    failures = lake_failures()
    quiet_aws_logging()
    store = open_store(args.store)
    try:
        summary = run_prune(store, open_lake(args.lake), args.older_than, args.dry_run, on_day=show_day)
    except failures as exc:
        print(f"deliverer prune: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    totals = summary.to_dict()
    if args.json:
        print(json.dumps(totals))
    else:
        verb = "would delete" if args.dry_run else "deleted"
        count = sum(d.action in (PruneAction.DELETED, PruneAction.WOULD_DELETE) for d in summary.days)
        print(f"{verb} {count} day(s), {totals['rows']:,} rows; kept {totals['days_kept']} day(s);"
              f" cutoff {summary.cutoff}")
    return 0
