"""Every benchmark in one command, each figure beside its ceiling or baseline measured in the same run.

    .venv/bin/python bench/run.py            # the sizes of issue 7 (200,000-report drain, 1,000,000-row export)
    .venv/bin/python bench/run.py --quick    # small sizes, a couple of minutes: checks that everything runs

Runs, one after the other and each in its own process: bench/ingest_bench.py (ingest_drain and
ingest_live), bench/freshness_bench.py, bench/api_bench.py (API reads and ingest) and
bench/export_bench.py, which write their own JSON under bench/results/. Then prints one table
and writes bench/results/summary.json and bench/results/summary.png. A benchmark whose script is
missing or fails is reported as missing and the others still run. Run it on a quiet machine:
every figure and its ceiling share the same CPUs, but anything else running skews both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plot import plot_summary

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"


@dataclass(frozen=True)
class Step:
    script: str
    result: str
    full_args: tuple[str, ...]
    quick_args: tuple[str, ...]


STEPS = (
    Step("ingest_bench.py", "ingest.json", ("--reports", "200000", "--live-reports", "100000"),
         ("--reports", "5000", "--live-reports", "5000")),
    Step("freshness_bench.py", "freshness.json", ("--rate", "1000", "--seconds", "20"),
         ("--rate", "1000", "--seconds", "3")),
    Step("api_bench.py", "api.json", ("--duration", "10", "--fixed-rate", "1000", "--fixed-seconds", "20"),
         ("--duration", "2", "--fixed-rate", "1000", "--fixed-seconds", "3")),
    Step("export_bench.py", "export.json", ("--reports", "1000000"), ("--reports", "20000", "--no-cli")),
)


@dataclass(frozen=True)
class Outcome:
    """A step's JSON, or why there is none."""

    data: dict[str, Any] | None
    problem: str | None = None


def run_step(step: Step, quick: bool) -> Outcome:
    script = BENCH / step.script
    if not script.exists():
        return Outcome(None, f"bench/{step.script} is missing")
    args = step.quick_args if quick else step.full_args
    print(f"\n=== {step.script} {' '.join(args)}", flush=True)
    started = time.time()
    tail: deque[str] = deque(maxlen=3)
    with subprocess.Popen(
        [sys.executable, str(script), *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"  {line}", end="", flush=True)
            if line.strip():
                tail.append(line.strip())
    if proc.returncode != 0:
        return Outcome(None, f"bench/{step.script} exited with {proc.returncode}: {' | '.join(tail)}")
    result = RESULTS / step.result
    if not result.exists() or result.stat().st_mtime < started:
        return Outcome(None, f"bench/{step.script} wrote no new {result.name}")
    return Outcome(json.loads(result.read_text()))


# ------------------------------------------------------------------ from each step's JSON to summary entries


def ingest_entries(data: dict[str, Any]) -> dict[str, Any]:
    goals = {"ingest_drain": 0.6, "ingest_live": 0.9}
    entries = {}
    for name, goal in goals.items():
        row = data[name]
        entries[name] = {
            "reports": row["figure"]["reports"],
            "reports_per_s": row["figure"]["rate"],
            "ceiling": "a bare paho subscriber (auto-ack, parses and counts), same backlog, same broker",
            "ceiling_reports_per_s": row["ceiling"]["rate"],
            "ratio_to_ceiling": row["ratio_to_ceiling"],
            "zero_loss": row["figure"]["zero_loss"],
            "goal": f">= {goal} of the ceiling, zero loss",
            "goal_met": row["ratio_to_ceiling"] >= goal and row["figure"]["zero_loss"],
        }
    return entries


def freshness_entries(data: dict[str, Any]) -> dict[str, Any]:
    row = data["freshness"]
    reached = row["rate_achieved"] >= 0.99 * row["rate_target"]
    return {"freshness": {
        **row,
        "goal": f"p99 <= 250 ms at {row['rate_target']:,} reports/s",
        "goal_met": row["p99_ms"] <= 250 and row["missed"] == 0 and reached,
    }}


def api_entries(data: dict[str, Any]) -> dict[str, Any]:
    reads, single, batch = data["api_reads"], data["api_ingest_single"], data["api_ingest_batch"]
    at_rate = reads["achieved_req_per_s_at_1000"] >= 0.99 * reads["fixed_rate_target_req_per_s"]
    ratio_met, p99_met = reads["ratio_to_ceiling"] >= 0.7, reads["p99_ms_at_1000"] <= 10 and at_rate
    server = data["server"]
    on = f"gunicorn {server['workers']} workers x {server['threads']} threads"
    return {
        "api_reads": {
            **reads,
            "ceiling": f"GET /bench/hello (tiny JSON) on the same app and server ({on})",
            "goal": ">= 0.7 of the ceiling; p99 <= 10 ms at 1,000 req/s",
            "ratio_goal_met": ratio_met,
            "p99_goal_met": p99_met,
            "goal_met": ratio_met and p99_met,
        },
        "api_ingest_single": {
            **single,
            "baseline": "POST /bench/naive/locations: new broker connection per request, QoS 0, one report",
            "goal": ">= 3x the baseline",
            "goal_met": single["ratio_to_baseline"] >= 3,
        },
        "api_ingest_batch": {
            **batch,
            "baseline": "POST /bench/naive/locations: new broker connection per request, QoS 0, one report",
            "goal": ">= 20x the baseline (reports/s)",
            "goal_met": batch["ratio_to_baseline"] >= 20,
        },
    }


def export_entries(data: dict[str, Any]) -> dict[str, Any]:
    """The figure is the export in a running Spark session (the ``--every`` exporter); the first
    export in a session and the whole ``deliverer export`` command (JVM start included) are beside it."""
    baseline = data["pyarrow_baseline"]["rows_per_s"]
    warm, cold = data["local_warm"]["rows_per_s"], data["local_cold"]["rows_per_s"]
    entry = {
        "rows": data["local_warm"]["rows"],
        "rows_per_s": warm,
        "baseline": "pyarrow writing the same rows from the same Store.scan, one process, no Spark",
        "baseline_rows_per_s": baseline,
        "ratio_to_baseline": round(warm / baseline, 3),
        "first_export_in_session_rows_per_s": cold,
        "first_export_ratio_to_baseline": round(cold / baseline, 3),
        "spark_session_start_s": data["spark_startup"]["session_seconds"],
        "goal": "report the ratio",
        "goal_met": None,
    }
    if "cli_local" in data:
        entry["cli_rows_per_s"] = data["cli_local"]["rows_per_s"]
        entry["cli_ratio_to_baseline"] = round(data["cli_local"]["rows_per_s"] / baseline, 3)
    return {"export": entry}


ENTRIES: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "ingest_bench.py": (("ingest_drain", "ingest_live"), ingest_entries),
    "freshness_bench.py": (("freshness",), freshness_entries),
    "api_bench.py": (("api_reads", "api_ingest_single", "api_ingest_batch"), api_entries),
    "export_bench.py": (("export",), export_entries),
}
"""Per script: the summary keys it provides, and how they are made from its JSON."""


def summary_entries(step: Step, outcome: Outcome) -> dict[str, Any]:
    keys, make = ENTRIES[step.script]
    problem = outcome.problem
    if outcome.data is not None:
        try:
            return make(outcome.data)
        except (KeyError, TypeError, ZeroDivisionError) as exc:
            problem = f"bench/{step.result} lacks what the summary needs: {exc!r}"
    return {key: {"missing": problem} for key in keys}


# ------------------------------------------------------------------ the table


Line = tuple[str, str, str, str, str, bool | None]
"""One line of the table: benchmark, figure, ceiling or baseline, ratio, goal, goal met."""


def n(value: float) -> str:
    return f"{value:,.0f}"


def table_lines(key: str, e: dict[str, Any]) -> list[Line]:
    if "missing" in e:
        return [(key, "missing (see below)", "", "", "", None)]
    if key in ("ingest_drain", "ingest_live"):
        return [(key, f"{n(e['reports_per_s'])} reports/s", f"{n(e['ceiling_reports_per_s'])} reports/s bare paho",
                 f"{e['ratio_to_ceiling']:.2f}", e["goal"], e["goal_met"])]
    if key == "freshness":
        return [(key, f"p50 {n(e['p50_ms'])} ms, p99 {n(e['p99_ms'])} ms", f"at {n(e['rate_achieved'])} reports/s",
                 "", e["goal"], e["goal_met"])]
    if key == "api_reads":
        return [
            (key, f"{n(e['last_location_req_per_s'])} req/s last-location", f"{n(e['hello_req_per_s'])} req/s hello",
             f"{e['ratio_to_ceiling']:.2f}", ">= 0.7 of the ceiling", e["ratio_goal_met"]),
            (f"{key}_at_1000", f"p50 {e['p50_ms_at_1000']:.1f} ms, p99 {e['p99_ms_at_1000']:.1f} ms",
             f"at {n(e['achieved_req_per_s_at_1000'])} req/s, open loop", "", "p99 <= 10 ms at 1,000 req/s",
             e["p99_goal_met"]),
        ]
    if key == "api_ingest_single":
        return [(key, f"{n(e['req_per_s'])} req/s", f"{n(e['naive_req_per_s'])} req/s naive",
                 f"{e['ratio_to_baseline']:.2f}", e["goal"], e["goal_met"])]
    if key == "api_ingest_batch":
        return [(key, f"{n(e['reports_per_s'])} reports/s", f"{n(e['naive_reports_per_s'])} reports/s naive",
                 f"{e['ratio_to_baseline']:.2f}", e["goal"], e["goal_met"])]
    pyarrow = f"{n(e['baseline_rows_per_s'])} rows/s pyarrow"
    return [
        (key, f"{n(e['rows_per_s'])} rows/s Spark, warm", pyarrow, f"{e['ratio_to_baseline']:.2f}", e["goal"], None),
        (f"{key}_first_in_session", f"{n(e['first_export_in_session_rows_per_s'])} rows/s Spark, cold", pyarrow,
         f"{e['first_export_ratio_to_baseline']:.2f}", e["goal"], None),
    ]


def print_table(summary: dict[str, Any]) -> None:
    header = ("benchmark", "figure", "ceiling / baseline (same run)", "ratio", "goal", "met")
    keys = [key for keys, _ in ENTRIES.values() for key in keys]
    lines = [line for key in keys for line in table_lines(key, summary[key])]
    rows = [(*line[:5], {True: "yes", False: "NO", None: "-"}[line[5]]) for line in lines]
    widths = [max(len(str(line[i])) for line in [header, *rows]) for i in range(len(header))]
    machine = summary["machine"]
    print(f"\n{summary['mode']} run, {summary['measured_at']}, {machine['cpus']} CPUs, "
          f"load average {machine['load_average_before']} -> {machine['load_average_after']}, "
          f"{summary['duration_s']:,.0f} s")
    for i, line in enumerate([header, *rows]):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * width for width in widths))
    for key in keys:
        if "missing" in summary[key]:
            print(f"missing {key}: {summary[key]['missing']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check that everything runs")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    began, load_before = time.monotonic(), os.getloadavg()[0]
    summary: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": {step.script: " ".join(step.quick_args if args.quick else step.full_args) for step in STEPS},
    }
    for step in STEPS:
        summary.update(summary_entries(step, run_step(step, args.quick)))
    summary["duration_s"] = round(time.monotonic() - began, 1)
    summary["machine"] = {
        "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
        "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
    }
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot_summary(summary, RESULTS / "summary.png")
    print_table(summary)
    print(f"\nwritten: {RESULTS / 'summary.json'}, {RESULTS / 'summary.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
