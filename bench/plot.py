"""The PNG of bench/run.py: throughput beside its ceiling or baseline, and latency percentiles.

    .venv/bin/python bench/plot.py      # redraws bench/results/summary.png from summary.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

RESULTS = Path(__file__).resolve().parent / "results"

THROUGHPUT = (
    # summary key, its figure, its ceiling or baseline, what the ceiling is, unit
    ("ingest_drain", "reports_per_s", "ceiling_reports_per_s", "bare paho", "reports/s"),
    ("ingest_live", "reports_per_s", "ceiling_reports_per_s", "bare paho", "reports/s"),
    ("api_reads", "last_location_req_per_s", "hello_req_per_s", "bare Flask hello", "req/s"),
    ("api_summary", "summary_req_per_s", "last_location_req_per_s", "last-location", "req/s"),
    ("api_ingest_single", "req_per_s", "naive_req_per_s", "naive route", "req/s"),
    ("api_ingest_batch", "reports_per_s", "naive_reports_per_s", "naive route", "reports/s"),
    ("export", "rows_per_s", "baseline_rows_per_s", "pyarrow", "rows/s"),
    ("export_10m", "rows_per_s", "baseline_rows_per_s", "pyarrow", "rows/s"),
)

LATENCY = (
    # label, summary key, p50 key, p99 key, goal for the p99 in ms (None: no goal)
    ("freshness\n1,000 reports/s", "freshness", "p50_ms", "p99_ms", 250),
    ("last-location\n1,000 req/s", "api_reads", "p50_ms_at_1000", "p99_ms_at_1000", 10),
    ("last-location\nfull speed", "api_reads", "p50_ms_at_full_speed", "p99_ms_at_full_speed", None),
    ("POST single\nfull speed", "api_ingest_single", "p50_ms_at_full_speed", "p99_ms_at_full_speed", None),
    ("POST batch 100\nfull speed", "api_ingest_batch", "p50_ms_at_full_speed", "p99_ms_at_full_speed", None),
)


def present(summary: dict[str, Any], key: str) -> bool:
    return key in summary and "missing" not in summary[key]


def plot_summary(summary: dict[str, Any], path: Path) -> None:
    fig, (throughput, latency) = plt.subplots(1, 2, figsize=(19, 6), width_ratios=(9, 5))
    width = 0.38

    bars = [
        (key, summary[key][figure_key], summary[key][ceiling_key], name, unit)
        for key, figure_key, ceiling_key, name, unit in THROUGHPUT
        if present(summary, key)
    ]
    if present(summary, "ingest_scale"):
        bars += [(f"ingest_{run['replicas']}_replicas", run["reports_per_s"], run["bare_reports_per_s"],
                  f"{run['replicas']} bare", "reports/s") for run in summary["ingest_scale"]["runs"]]
    for x, (_key, figure, ceiling, _name, _unit) in enumerate(bars):
        throughput.bar(x - width / 2, figure, width, color="tab:blue", label="figure" if x == 0 else None)
        throughput.bar(x + width / 2, ceiling, width, color="tab:gray", label="ceiling / baseline" if x == 0 else None)
        throughput.text(x - width / 2, figure, f"{figure / ceiling:.2f}x", ha="center", va="bottom", fontsize=9)
    throughput.set_xticks(range(len(bars)), [f"{row[0]}\n{row[4]}\nvs {row[3]}" for row in bars], fontsize=8)
    throughput.set_yscale("log")
    throughput.set_ylim(top=throughput.get_ylim()[1] * 4)  # room for the legend
    throughput.set_ylabel("per second (log scale)")
    throughput.set_title("Throughput beside its ceiling / baseline (ratio above the figure)")
    if bars:
        throughput.legend(loc="upper left", ncols=2)

    groups = [row for row in LATENCY if present(summary, row[1])]
    goals = [x for x, row in enumerate(groups) if row[4] is not None]
    for x, (_label, key, p50_key, p99_key, goal) in enumerate(groups):
        entry = summary[key]
        latency.bar(x - width / 2, entry[p50_key], width, color="tab:green", label="p50" if x == 0 else None)
        latency.bar(x + width / 2, entry[p99_key], width, color="tab:orange", label="p99" if x == 0 else None)
        if goal is not None:
            latency.hlines(goal, x - 0.45, x + 0.45, colors="red", linestyles="dashed",
                           label="p99 goal" if x == goals[0] else None)
    latency.set_xticks(range(len(groups)), [row[0] for row in groups], fontsize=8)
    latency.set_yscale("log")
    latency.set_ylim(top=latency.get_ylim()[1] * 6)  # room for the legend
    latency.set_ylabel("milliseconds (log scale)")
    latency.set_title("Latency")
    if groups:
        latency.legend(loc="upper left", ncols=3)

    missing = [key for key in (*(row[0] for row in THROUGHPUT), "freshness") if not present(summary, key)]
    title = f"Benchmarks, {summary['mode']} run, {summary['measured_at']}"
    fig.suptitle(title + (f" (missing: {', '.join(missing)})" if missing else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    plot_summary(json.loads((RESULTS / "summary.json").read_text()), RESULTS / "summary.png")
    print(RESULTS / "summary.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
