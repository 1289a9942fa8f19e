"""Scale-out: the subscriber with 1, 2 and 3 replicas on the shared subscription, beside bare ones.

    python bench/scale_bench.py [--reports 200000] [--replicas 1,2,3] [--force]

For each replica count N, on a fresh broker: N persistent sessions join ``$share/ingest/…``, the
backlog is published (Mosquitto deals it round-robin into the N sessions), then N real subscribers
(one SQLite store, as replicas on one host share it) drain it, and the same with N bare subscribers
(bench/bare_subscriber.py). Beside each rate: how much of one core the broker used and how busy the
whole machine was, which says what bounds it (the broker near 1.0, the machine near 1.0, or
neither: the subscribers themselves or the store they share). The one-replica bare drain is the
ceiling, measured first and last (within 10 %, bench/conditions.py). Zero loss is checked for every
real run. Writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from conditions import Refusal, RunConditions, ceiling_check, refuse, write_results
from ingest_bench import RESULTS, drain_once, encode_load


def replica_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected replica counts such as 1,2,3, got {text!r}")
    return counts


def limit(run: dict[str, Any]) -> str:
    if run["broker_cpu_share_of_one_core"] >= 0.9:
        return "broker (one core)"
    if run["machine_busy_share"] >= 0.9:
        return "machine (all cores)"
    return "subscribers / store"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=200_000, help="backlog size")
    parser.add_argument("--replicas", type=replica_counts, default=[1, 2, 3], help="replica counts, e.g. 1,2,3")
    parser.add_argument("--force", action="store_true", help="run on a busy machine too; the results say so")
    parser.add_argument("--output", type=Path, default=RESULTS / "scale.json")
    args = parser.parse_args()
    try:
        conditions = RunConditions(force=args.force)
        with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
            work = Path(tmp)
            backlog = encode_load(work, args.reports, "scale")
            first = drain_once(work, "ceiling", "bare-1-first", backlog, args.reports)
            print(f"  ceiling, 1 bare replica: {first['rate']:,} reports/s", file=sys.stderr, flush=True)
            rows = []
            for replicas in args.replicas:
                real = drain_once(work, "figure", f"real-{replicas}", backlog, args.reports, replicas)
                bare = drain_once(work, "ceiling", f"bare-{replicas}", backlog, args.reports, replicas)
                rows.append({"replicas": replicas, "subscriber": real, "bare": bare,
                             "ratio_to_bare": round(real["rate"] / bare["rate"], 3),
                             "limit": limit(real), "bare_limit": limit(bare)})
                print(f"  {replicas} replicas: {real['rate']:,} reports/s (bare {bare['rate']:,}), "
                      f"broker {real['broker_cpu_share_of_one_core']:.0%} of a core, machine "
                      f"{real['machine_busy_share']:.0%} busy, zero loss {real['zero_loss']}",
                      file=sys.stderr, flush=True)
            second = drain_once(work, "ceiling", "bare-1-second", backlog, args.reports)
            print(f"  ceiling again: {second['rate']:,} reports/s", file=sys.stderr, flush=True)
        check = ceiling_check("one bare replica", first["rate"], second["rate"])
        one = next((row["subscriber"]["rate"] for row in rows if row["replicas"] == 1), None)
        for row in rows:
            row["speedup_over_one_replica"] = round(row["subscriber"]["rate"] / one, 3) if one else None
        report = {"reports": args.reports, "ceiling": {"first": first, "second": second, "rate": check["mean"]},
                  "runs": rows, "zero_loss": all(row["subscriber"]["zero_loss"] for row in rows)}
        print(f"\n{'replicas':>8} {'reports/s':>10} {'bare':>10} {'ratio':>6} {'speed-up':>8} {'broker':>7} "
              f"{'machine':>8}  limit")
        for row in rows:
            real = row["subscriber"]
            print(f"{row['replicas']:>8} {real['rate']:>10,} {row['bare']['rate']:>10,} {row['ratio_to_bare']:>6.2f} "
                  f"{row['speedup_over_one_replica'] or 0:>8.2f} {real['broker_cpu_share_of_one_core']:>7.0%} "
                  f"{real['machine_busy_share']:>8.0%}  {row['limit']}")
        write_results(args.output, report, conditions, [check])
    except Refusal as refusal:
        return refuse(refusal)
    return 0


if __name__ == "__main__":
    sys.exit(main())
