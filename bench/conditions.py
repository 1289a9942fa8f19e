"""What makes a benchmark's figures believable, checked in every run before its results are written.

- A quiet machine: the 1-minute load average before the run is at most ``QUIET_LOAD``. A busy
  machine is refused unless the run is forced, and forced results say so (``"forced": true``).
- A stable ceiling: the ceiling is measured twice, before and after the figures, and the two agree
  within ``CEILING_SPREAD``; otherwise something else changed during the run.
- A client that is not the bottleneck: against a static response the load client reaches at least
  ``CLIENT_HEADROOM`` times every figure it then measures, with the same requests.

A failed check writes nothing: the run prints why and exits with ``REFUSED``. Beside the checks each
results file records the load average before and after, and the share of the machine's CPU that
processes outside the benchmark used during the run (``other_cpu_share``: from /proc/stat, less the
CPU of the benchmark's own process tree), which shows a neighbour the load average before missed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QUIET_LOAD = 1.0
CEILING_SPREAD = 0.10
CLIENT_HEADROOM = 3.0
REFUSED = 3
"""Exit code of a run that wrote nothing because a check failed."""
REFUSAL_REASONS = {
    "stable_ceiling": "unstable_ceiling", "client_headroom": "client_bound", "all_answered": "failed_requests",
}
"""The reason code of a refusal, by the kind of check that failed."""


class Refusal(Exception):
    """Why a run writes no results. ``reason``: busy_machine, unstable_ceiling, client_bound or failed_requests."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def spread(first: float, second: float) -> float:
    """How far apart two measurements of one thing are, as a share of the larger."""
    larger = max(first, second)
    return abs(first - second) / larger if larger > 0 else 0.0


def ceiling_check(name: str, first: float, second: float) -> dict[str, Any]:
    """The ceiling measured before and after the figures; the figures are compared with their mean."""
    apart = spread(first, second)
    return {
        "check": "stable_ceiling", "name": name, "first": first, "second": second,
        "mean": round((first + second) / 2, 1), "spread": round(apart, 3), "limit": CEILING_SPREAD,
        "ok": apart <= CEILING_SPREAD,
        "detail": f"ceiling {name}: {first:,.0f} then {second:,.0f}, {apart:.0%} apart (limit {CEILING_SPREAD:.0%})",
    }


def client_check(name: str, client_max: float, measured: float, against: str = "a static response") -> dict[str, Any]:
    """The client's rate against a static response beside what it measured with the same requests."""
    headroom = client_max / measured if measured > 0 else None
    shown = f"{headroom:.1f}x" if headroom is not None else "nothing measured"
    return {
        "check": "client_headroom", "name": name, "client_max": client_max, "measured": measured,
        "headroom": round(headroom, 2) if headroom is not None else None, "limit": CLIENT_HEADROOM,
        "ok": headroom is None or headroom >= CLIENT_HEADROOM,
        "detail": f"client on {name}: {client_max:,.0f}/s against {against}, {measured:,.0f}/s measured,"
        f" {shown} (needs {CLIENT_HEADROOM:.0f}x)",
    }


def answers_check(name: str, requests: int, failed: int) -> dict[str, Any]:
    """Every request answered with success: a rate of errors is not the figure it stands for."""
    return {
        "check": "all_answered", "name": name, "requests": requests, "failed": failed, "ok": failed == 0,
        "detail": f"{name}: {failed:,} of {requests:,} requests failed (errors, timeouts or non-2xx answers)",
    }


def pace_check(name: str, target: float, achieved: float) -> dict[str, Any]:
    """An open-loop client asked for ``CLIENT_HEADROOM`` times its rate against a static response."""
    return {
        "check": "client_headroom", "name": name, "target": target, "achieved": achieved,
        "ok": achieved >= 0.99 * target,
        "detail": f"open-loop client on {name}: asked for {target:,.0f}/s against a static response,"
        f" sent {achieved:,.0f}/s",
    }


def failed_refusal(checks: list[dict[str, Any]]) -> Refusal | None:
    """The refusal the failed checks call for, or None when every check passed."""
    failed = [check for check in checks if not check["ok"]]
    if not failed:
        return None
    return Refusal(REFUSAL_REASONS[failed[0]["check"]], "; ".join(check["detail"] for check in failed))


def busy_refusal(load_before: float, force: bool) -> Refusal | None:
    if load_before <= QUIET_LOAD or force:
        return None
    return Refusal(
        "busy_machine",
        f"load average {load_before:.2f} > {QUIET_LOAD} before the run: figures would not be reproducible;"
        " wait for a quiet machine, or pass --force to write results marked as forced",
    )


# ------------------------------------------------------------------------------ CPU of the machine and of us


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all CPUs, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    ticks = os.sysconf("SC_CLK_TCK")
    return (total - idle) / ticks, total / ticks


def wait_until_idle(limit_s: float = 60.0, busy_share: float = 0.2, window_s: float = 1.0) -> float:
    """Wait until the machine's CPUs were busy less than ``busy_share`` over a ``window_s`` window (what
    the previous measurement left running, such as a broker draining its sockets or a server finishing
    queued requests, is over), at most ``limit_s``; return the last window's busy share. Each figure and
    each ceiling then starts from the same idle machine."""
    deadline = time.monotonic() + limit_s
    while True:
        busy_before, total_before = machine_cpu_seconds()
        time.sleep(window_s)
        busy_after, total_after = machine_cpu_seconds()
        share = (busy_after - busy_before) / max(total_after - total_before, 1e-9)
        if share < busy_share or time.monotonic() >= deadline:
            return share


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def live_descendants(root: int) -> list[int]:
    """Every live process below ``root``, however deep (a gunicorn master's workers, Spark's JVM)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one live process, 0 when it is gone."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a live process and of its live descendants."""
    return sum(process_cpu_seconds(one) for one in [pid, *live_descendants(pid)])


def own_cpu_seconds() -> float:
    """CPU of this process, of its children already reaped, and of those still running."""
    times = os.times()
    reaped = times.user + times.system + times.children_user + times.children_system
    return reaped + sum(process_cpu_seconds(pid) for pid in live_descendants(os.getpid()))


# ------------------------------------------------------------------------------ one run


def load_averages() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


@dataclass
class RunConditions:
    """The machine around one run: opened before the first measurement, closed after the last."""

    force: bool
    load_before: list[float] = field(default_factory=load_averages)
    _machine: tuple[float, float] = field(default_factory=machine_cpu_seconds)
    _own: float = field(default_factory=own_cpu_seconds)

    def __post_init__(self) -> None:
        if (refusal := busy_refusal(self.load_before[0], self.force)) is not None:
            raise refusal

    @property
    def forced(self) -> bool:
        """True when the run went ahead only because it was forced."""
        return busy_refusal(self.load_before[0], force=False) is not None

    def close(self) -> dict[str, Any]:
        busy, total = machine_cpu_seconds()
        own = own_cpu_seconds() - self._own
        machine_busy, machine_total = busy - self._machine[0], total - self._machine[1]
        other = max(0.0, machine_busy - own) / machine_total if machine_total > 0 else 0.0
        return {
            "cpus": os.cpu_count(),
            "load_average_before": self.load_before,
            "load_average_after": load_averages(),
            "quiet_load_limit": QUIET_LOAD,
            "forced": self.forced,
            "other_cpu_share": round(other, 3),
        }


def write_results(path: Path, report: dict[str, Any], conditions: RunConditions, checks: list[dict[str, Any]]) -> None:
    """Write the results with the run's conditions and checks, or raise the refusal a failed check calls for."""
    if (refusal := failed_refusal(checks)) is not None:
        raise refusal
    report["conditions"] = conditions.close()
    report["checks"] = checks
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    forced = " (FORCED: the machine was busy before the run)" if report["conditions"]["forced"] else ""
    print(f"\nwritten to {path}{forced}", flush=True)


def refuse(refusal: Refusal) -> int:
    print(f"\nrefused, nothing written: {refusal}", file=sys.stderr, flush=True)
    return REFUSED
