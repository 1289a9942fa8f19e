"""Every benchmark in one command, each figure beside its ceiling or baseline measured in the same run.

    .venv/bin/python bench/run.py                 # the design's sizes, into bench/results/
    .venv/bin/python bench/run.py --quick         # small sizes, a few minutes, into a temporary directory
    .venv/bin/python bench/run.py --only api      # one benchmark again; the summary keeps the others' files

Runs, one after the other and each in its own process: bench/ingest_bench.py (ingest_drain and
ingest_live), bench/scale_bench.py (1, 2, 3 subscriber replicas), bench/freshness_bench.py,
bench/api_bench.py (API reads and ingest), bench/summary_bench.py (a 150,000-report order's summary
beside its last location), bench/export_bench.py at 1,000,000 rows and again at
10,000,000 (export_10m), each writing its own JSON. Then prints one table and writes summary.json
and summary.png beside them. Every benchmark checks its own conditions (bench/conditions.py): a
quiet machine before it starts, a ceiling that agrees with itself, a client with headroom; one that
refuses writes nothing and shows here as missing, with its reason, and the others still run. Before
each, this waits (up to ``--cooldown`` seconds) for the load average to fall to the quiet limit,
which the previous benchmark raised itself. ``--force`` is passed on: results written on a busy
machine are marked forced, here and in their files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conditions import QUIET_LOAD
from plot import plot_summary

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"


@dataclass(frozen=True)
class Step:
    name: str
    script: str
    result: str
    full_args: tuple[str, ...]
    quick_args: tuple[str, ...]


STEPS = (
    Step("ingest", "ingest_bench.py", "ingest.json", ("--reports", "200000", "--live-reports", "100000"),
         ("--reports", "5000", "--live-reports", "5000")),
    Step("scale", "scale_bench.py", "scale.json", ("--reports", "200000", "--replicas", "1,2,3"),
         ("--reports", "6000", "--replicas", "1,2,3")),
    Step("freshness", "freshness_bench.py", "freshness.json", ("--rate", "1000", "--seconds", "20"),
         ("--rate", "1000", "--seconds", "3")),
    Step("api", "api_bench.py", "api.json", ("--duration", "10", "--fixed-rate", "1000", "--fixed-seconds", "20"),
         ("--duration", "2", "--calibration-seconds", "1", "--fixed-rate", "1000", "--fixed-seconds", "3")),
    Step("summary", "summary_bench.py", "summary_read.json", ("--reports", "150000", "--duration", "10"),
         ("--reports", "20000", "--duration", "2", "--calibration-seconds", "1")),
    Step("export", "export_bench.py", "export.json", ("--reports", "1000000"), ("--reports", "20000", "--no-cli")),
    Step("export_10m", "export_bench.py", "export_10m.json", ("--reports", "10000000", "--no-cli", "--no-s3"),
         ("--reports", "40000", "--no-cli", "--no-s3")),
)


@dataclass(frozen=True)
class Outcome:
    """A step's JSON, or why there is none."""

    data: dict[str, Any] | None
    problem: str | None = None


def wait_for_quiet(limit_s: float) -> float:
    """Wait until the 1-minute load average is at the quiet limit, at most ``limit_s``; returns it."""
    deadline = time.monotonic() + limit_s
    while (load := os.getloadavg()[0]) > QUIET_LOAD and time.monotonic() < deadline:
        time.sleep(5)
    return load


def run_step(step: Step, args: argparse.Namespace, results: Path) -> Outcome:
    script = BENCH / step.script
    if not script.exists():
        return Outcome(None, f"bench/{step.script} is missing")
    load = wait_for_quiet(args.cooldown)
    step_args = [*(step.quick_args if args.quick else step.full_args), "--output", str(results / step.result)]
    if args.force:
        step_args.append("--force")
    print(f"\n=== {step.name}: {step.script} {' '.join(step_args)} (load average {load:.2f})", flush=True)
    started = time.time()
    tail: deque[str] = deque(maxlen=3)
    with subprocess.Popen(
        [sys.executable, str(script), *step_args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"  {line}", end="", flush=True)
            if line.strip():
                tail.append(line.strip())
    if proc.returncode != 0:
        refusal = [line for line in tail if line.startswith("refused")]
        return Outcome(None, f"bench/{step.script} exited with {proc.returncode}: {' | '.join(refusal or tail)}")
    return read_result(step, results, since=started)


def read_result(step: Step, results: Path, since: float = 0.0) -> Outcome:
    result = results / step.result
    if not result.exists() or result.stat().st_mtime < since:
        return Outcome(None, f"bench/{step.script} wrote no new {result.name}")
    return Outcome(json.loads(result.read_text()))


# ------------------------------------------------------------------ from each step's JSON to summary entries


def conditions_of(data: dict[str, Any]) -> dict[str, Any]:
    conditions = data.get("conditions", {})
    return {"forced": conditions.get("forced", False), "load_average_before": conditions.get("load_average_before"),
            "other_cpu_share": conditions.get("other_cpu_share")}


def ingest_entries(data: dict[str, Any]) -> dict[str, Any]:
    goals = {"ingest_drain": 0.7, "ingest_live": 0.9}
    entries = {}
    for name, goal in goals.items():
        row = data[name]
        entries[name] = {
            "reports": row["figure"]["reports"],
            "reports_per_s": row["figure"]["rate"],
            "ceiling": "a bare paho subscriber (auto-ack, parses and counts), same backlog, same broker config",
            "ceiling_reports_per_s": row["ceiling"]["rate"],
            "ceiling_first_reports_per_s": row["ceiling_first"]["rate"],
            "ceiling_second_reports_per_s": row["ceiling_second"]["rate"],
            "ratio_to_ceiling": row["ratio_to_ceiling"],
            "cpu_us_per_report": row["figure"]["cpu_us_per_report"],
            "ceiling_cpu_us_per_report": row["ceiling_first"]["cpu_us_per_report"],
            "cpu_ratio_to_ceiling": row["cpu_ratio_to_ceiling"],
            "zero_loss": row["figure"]["zero_loss"],
            "goal": f">= {goal} of the ceiling, zero loss",
            "goal_met": row["ratio_to_ceiling"] >= goal and row["figure"]["zero_loss"],
            **conditions_of(data),
        }
    return entries


def scale_entries(data: dict[str, Any]) -> dict[str, Any]:
    runs = [
        {"replicas": run["replicas"], "reports_per_s": run["subscriber"]["rate"],
         "bare_reports_per_s": run["bare"]["rate"],
         "ratio_to_bare": run["ratio_to_bare"], "speedup_over_one_replica": run["speedup_over_one_replica"],
         "broker_cpu_share_of_one_core": run["subscriber"]["broker_cpu_share_of_one_core"],
         "machine_busy_share": run["subscriber"]["machine_busy_share"], "limit": run["limit"],
         "zero_loss": run["subscriber"]["zero_loss"]}
        for run in data["runs"]
    ]
    return {"ingest_scale": {"reports": data["reports"], "runs": runs, "goal": "report, zero loss",
                             "goal_met": None, **conditions_of(data)}}


def freshness_entries(data: dict[str, Any]) -> dict[str, Any]:
    row = data["freshness"]
    reached = row["rate_achieved"] >= 0.99 * row["rate_target"]
    return {"freshness": {
        **row,
        "goal": f"p99 <= 250 ms at {row['rate_target']:,} reports/s",
        "goal_met": row["p99_ms"] <= 250 and row["missed"] == 0 and reached,
        **conditions_of(data),
    }}


def api_entries(data: dict[str, Any]) -> dict[str, Any]:
    reads, single, batch = data["api_reads"], data["api_ingest_single"], data["api_ingest_batch"]
    at_rate = reads["achieved_req_per_s_at_1000"] >= 0.99 * reads["fixed_rate_target_req_per_s"]
    ratio_met, p99_met = reads["ratio_to_ceiling"] >= 0.7, reads["p99_ms_at_1000"] <= 10 and at_rate
    server = data["server"]
    on = f"gunicorn {server['workers']} workers x {server['threads']} threads"
    conditions = conditions_of(data)
    return {
        "api_reads": {
            **reads,
            "ceiling": f"GET /hello on a bare Flask app, same gunicorn settings ({on})",
            "goal": ">= 0.7 of the ceiling; p99 <= 10 ms at 1,000 req/s",
            "ratio_goal_met": ratio_met,
            "p99_goal_met": p99_met,
            "goal_met": ratio_met and p99_met,
            **conditions,
        },
        "api_ingest_single": {
            **single,
            "baseline": "POST /bench/naive/locations: new broker connection per request, QoS 0, one report",
            "goal": ">= 3x the baseline",
            "goal_met": single["ratio_to_baseline"] >= 3,
            **conditions,
        },
        "api_ingest_batch": {
            **batch,
            "baseline": "POST /bench/naive/locations: new broker connection per request, QoS 0, one report",
            "goal": ">= 20x the baseline (reports/s)",
            "goal_met": batch["ratio_to_baseline"] >= 20,
            **conditions,
        },
    }


def summary_read_entries(data: dict[str, Any]) -> dict[str, Any]:
    figures = data["summary_read"]
    return {
        "api_summary": {
            **figures,
            "ceiling": f"GET last-location of the same order of {figures['reports_in_order']:,} reports",
            "goal": ">= 0.7 of last-location, whatever the trip's length",
            "goal_met": figures["ratio_to_last_location"] >= 0.7,
            **conditions_of(data),
        }
    }


def export_entry(data: dict[str, Any]) -> dict[str, Any]:
    """The figure is the export in a running Spark session (the ``--every`` exporter); the first
    export in a session and the whole ``deliverer export`` command (JVM start included) are beside it."""
    baseline = data["pyarrow_baseline"]["rows_per_s"]
    warm, cold = data["local_warm"]["rows_per_s"], data["local_cold"]["rows_per_s"]
    entry = {
        "rows": data["local_warm"]["rows"],
        "rows_per_s": warm,
        "peak_rss_mib": data["local_warm"]["peak_rss_mib"],
        "baseline": "pyarrow writing the same rows from the same Store.scan, one process, no Spark",
        "baseline_rows_per_s": baseline,
        "baseline_peak_rss_mib": data["pyarrow_baseline"]["peak_rss_mib"],
        "ratio_to_baseline": round(warm / baseline, 3),
        "first_export_in_session_rows_per_s": cold,
        "first_export_ratio_to_baseline": round(cold / baseline, 3),
        "spark_session_start_s": data["spark_startup"]["session_seconds"],
        "goal": "report the ratio",
        "goal_met": None,
        **conditions_of(data),
    }
    if "cli_local" in data:
        entry["cli_rows_per_s"] = data["cli_local"]["rows_per_s"]
        entry["cli_peak_rss_mib"] = data["cli_local"]["peak_rss_mib"]
        entry["cli_ratio_to_baseline"] = round(data["cli_local"]["rows_per_s"] / baseline, 3)
    return entry


ENTRIES: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "ingest": (("ingest_drain", "ingest_live"), ingest_entries),
    "scale": (("ingest_scale",), scale_entries),
    "freshness": (("freshness",), freshness_entries),
    "api": (("api_reads", "api_ingest_single", "api_ingest_batch"), api_entries),
    "summary": (("api_summary",), summary_read_entries),
    "export": (("export",), lambda data: {"export": export_entry(data)}),
    "export_10m": (("export_10m",), lambda data: {"export_10m": export_entry(data)}),
}
"""Per step: the summary keys it provides, and how they are made from its JSON."""


def summary_entries(step: Step, outcome: Outcome) -> dict[str, Any]:
    keys, make = ENTRIES[step.name]
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
    if key == "ingest_scale":
        return [(f"ingest_{run['replicas']}_replicas", f"{n(run['reports_per_s'])} reports/s",
                 f"{n(run['bare_reports_per_s'])} reports/s, {run['replicas']} bare", f"{run['ratio_to_bare']:.2f}",
                 f"report; bound by the {run['limit']}", None) for run in e["runs"]]
    if key == "freshness":
        return [(key, f"p50 {n(e['p50_ms'])} ms, p99 {n(e['p99_ms'])} ms", f"at {n(e['rate_achieved'])} reports/s",
                 "", e["goal"], e["goal_met"])]
    if key == "api_reads":
        return [
            (key, f"{n(e['last_location_req_per_s'])} req/s last-location",
             f"{n(e['hello_req_per_s'])} req/s bare Flask hello", f"{e['ratio_to_ceiling']:.2f}",
             ">= 0.7 of the ceiling", e["ratio_goal_met"]),
            (f"{key}_at_1000", f"p50 {e['p50_ms_at_1000']:.1f} ms, p99 {e['p99_ms_at_1000']:.1f} ms",
             f"at {n(e['achieved_req_per_s_at_1000'])} req/s, open loop", "", "p99 <= 10 ms at 1,000 req/s",
             e["p99_goal_met"]),
        ]
    if key == "api_summary":
        return [(key, f"{n(e['summary_req_per_s'])} req/s summary, {n(e['reports_in_order'])} reports",
                 f"{n(e['last_location_req_per_s'])} req/s last-location", f"{e['ratio_to_last_location']:.2f}",
                 e["goal"], e["goal_met"])]
    if key == "api_ingest_single":
        return [(key, f"{n(e['req_per_s'])} req/s", f"{n(e['naive_req_per_s'])} req/s naive",
                 f"{e['ratio_to_baseline']:.2f}", e["goal"], e["goal_met"])]
    if key == "api_ingest_batch":
        return [(key, f"{n(e['reports_per_s'])} reports/s", f"{n(e['naive_reports_per_s'])} reports/s naive",
                 f"{e['ratio_to_baseline']:.2f}", e["goal"], e["goal_met"])]
    pyarrow = f"{n(e['baseline_rows_per_s'])} rows/s pyarrow"
    rows = f"{e['rows'] / 1e6:g}M rows"
    return [
        (key, f"{n(e['rows_per_s'])} rows/s Spark, warm, {rows}, peak {n(e['peak_rss_mib'])} MiB", pyarrow,
         f"{e['ratio_to_baseline']:.2f}", e["goal"], None),
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
    told = set()
    for key in keys:
        if "missing" in summary[key]:
            if summary[key]["missing"] not in told:
                print(f"missing {key}: {summary[key]['missing']}")
            told.add(summary[key]["missing"])
        elif summary[key].get("forced"):
            message = f"measured on a busy machine (load average before {summary[key]['load_average_before']})"
            if message not in told:
                print(f"FORCED {key}: {message}")
            told.add(message)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check that everything runs")
    parser.add_argument("--only", help="comma-separated steps to run: " + ",".join(step.name for step in STEPS))
    parser.add_argument("--force", action="store_true",
                        help="let each benchmark run on a busy machine; its results are marked forced")
    parser.add_argument("--cooldown", type=float, default=300,
                        help="seconds to wait before each benchmark for the load average to fall to the quiet limit")
    parser.add_argument("--results", type=Path, help="where the JSON and the plot go (default bench/results;"
                        " with --quick a new temporary directory)")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else {step.name for step in STEPS}
    if unknown := only - {step.name for step in STEPS}:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    results = args.results or (Path(tempfile.mkdtemp(prefix="deliverer-bench-")) if args.quick else RESULTS)
    results.mkdir(parents=True, exist_ok=True)
    began, load_before = time.monotonic(), os.getloadavg()[0]
    summary: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": {step.name: " ".join(step.quick_args if args.quick else step.full_args) for step in STEPS},
        "steps_run": [step.name for step in STEPS if step.name in only],
    }
    for step in STEPS:
        outcome = run_step(step, args, results) if step.name in only else read_result(step, results)
        summary.update(summary_entries(step, outcome))
    summary["duration_s"] = round(time.monotonic() - began, 1)
    summary["machine"] = {
        "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
        "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
    }
    (results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot_summary(summary, results / "summary.png")
    print_table(summary)
    print(f"\nwritten: {results / 'summary.json'}, {results / 'summary.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
