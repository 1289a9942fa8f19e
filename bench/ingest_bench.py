"""Ingest benchmarks, each beside its ceiling measured in the same run on the same broker config.

    python bench/ingest_bench.py [--reports 200000] [--live-reports 100000] [--force]

- ingest_drain: the subscriber drains a backlog queued in its persistent session into SQLite;
  ceiling: the bare subscriber (bench/bare_subscriber.py) draining the same backlog.
- ingest_live: the subscriber connected first, then the load generator publishes the reports
  while it consumes; ceiling: the bare subscriber under the same load.

The load (and the backlog) comes from bench/fast_publisher.py: QoS 1 packets encoded once, written
as fast as the broker acknowledges them, so neither the load nor its client is what is measured.
Its calibration is the same load against a broker with no subscriber, which must reach three times
every live rate. A rate counts from the first report a subscriber received (or stored) to the last,
so process start-up and connection are left out on both sides. Each ceiling runs before and after
its figure, each run on a fresh broker; the figure is compared with their mean, and the two must
agree within 10 % (bench/conditions.py, which also refuses a busy machine unless ``--force``).
Zero loss is checked for the real subscriber (stored == reports). Writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO))

from conditions import (  # noqa: E402
    Refusal,
    RunConditions,
    ceiling_check,
    client_check,
    machine_cpu_seconds,
    process_cpu_seconds,
    refuse,
    tree_cpu_seconds,
    write_results,
)
from fast_publisher import write_stream  # noqa: E402

from deliverer.local_broker import Mosquitto, free_port  # noqa: E402
from deliverer.store import open_store  # noqa: E402
from tests.helpers import as_messages, http_status, make_reports, wait_until  # noqa: E402

RESULTS = REPO / "bench" / "results"
WINDOW = 2000
"""The load generator's unacknowledged PUBLISHes at most (under the broker's max_inflight_messages)."""
POLL_S = 0.1
"""How often the store is counted: often enough to time a run, rarely enough to cost it nothing."""
TIMEOUT_S = 600


def deliverer(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "deliverer_cli.main", *args], stdout=out, stderr=out, cwd=REPO)


def bare(url: str, client_id: str, expected: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(BENCH / "bare_subscriber.py"), url, client_id, str(expected)],
            stdout=out, stderr=out, cwd=REPO,
        )


def wait_for_text(log: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} not in {log}")
        time.sleep(0.02)


def make_session(url: str, work: Path, client_id: str, *, real: bool, store_url: str) -> None:
    """Connect once so the broker keeps a session (and queues for it) while the client is away."""
    log = work / f"{client_id}-session.log"
    if real:
        port = free_port()
        proc = deliverer(
            "subscribe", "--mqtt-url", url, "--store", store_url, "--client-id", client_id,
            "--metrics-port", str(port), log=log,
        )
        wait_until(lambda: http_status(f"http://127.0.0.1:{port}/healthz") == 200, 30, f"{client_id} subscribed")
        proc.terminate()
    else:
        proc = bare(url, client_id, 1 << 30, log)
        wait_for_text(log, "subscribed")
        proc.kill()
    proc.wait(30)


def publish(broker: Mosquitto, stream: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(BENCH / "fast_publisher.py"), broker.url, str(stream), str(WINDOW)],
        capture_output=True, text=True, cwd=REPO, timeout=TIMEOUT_S,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def rate(reports: int, seconds: float) -> int:
    return round(reports / seconds) if seconds > 0 else 0


def cpu_per_report(cpu_seconds: float, reports: int) -> float | None:
    """The consumers' CPU per report: unlike a rate, barely moved by what else runs on the machine."""
    return round(cpu_seconds * 1e6 / reports, 1) if reports > 0 else None


@dataclass(frozen=True)
class Consumers:
    """``replicas`` subscribers of one kind on one broker: the real one (into one store) or the bare one."""

    kind: str
    broker: Mosquitto
    work: Path
    name: str
    store_url: str
    replicas: int = 1
    protocol: str = "5"
    """MQTT version of the subscribers: 5 (the product's default) or 3.1.1."""

    @property
    def url(self) -> str:
        return self.broker.url + ("?protocol=3.1.1" if self.protocol == "3.1.1" else "")

    def client_ids(self) -> list[str]:
        return [self.name] if self.replicas == 1 else [f"{self.name}-{i}" for i in range(self.replicas)]

    def make_sessions(self) -> None:
        for client_id in self.client_ids():
            make_session(self.url, self.work, client_id, real=self.kind == "figure", store_url=self.store_url)

    def start(self, reports: int) -> list[subprocess.Popen[bytes]]:
        if self.kind == "figure":
            return [deliverer("subscribe", "--mqtt-url", self.url, "--store", self.store_url, "--client-id",
                              client_id, log=self.work / f"{client_id}.log") for client_id in self.client_ids()]
        # The shared subscription splits round-robin: each bare replica waits for its share.
        return [bare(self.url, client_id, reports // self.replicas, self.work / f"{client_id}.log")
                for client_id in self.client_ids()]

    def finish(self, procs: list[subprocess.Popen[bytes]], reports: int) -> dict[str, Any]:
        """Wait until every report is in (stored, or received by the bare replicas) and time them."""
        if self.kind == "figure":
            return self._finish_real(procs, reports)
        return self._finish_bare(procs, reports)

    def _finish_real(self, procs: list[subprocess.Popen[bytes]], reports: int) -> dict[str, Any]:
        store = open_store(self.store_url)
        try:
            first_at = first_count = first_cpu = None
            deadline = time.monotonic() + TIMEOUT_S
            while (count := store.counts().locations) < reports:
                now = time.monotonic()
                cpu = sum(process_cpu_seconds(proc.pid) for proc in procs)
                if first_at is None and count:
                    first_at, first_count, first_cpu = now, count, cpu
                if now > deadline or any(proc.poll() is not None for proc in procs):
                    raise RuntimeError(f"a subscriber stopped or stalled at {count:,} of {reports:,}, see {self.work}")
                time.sleep(POLL_S)
            last_at, last_cpu = time.monotonic(), sum(process_cpu_seconds(proc.pid) for proc in procs)
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)
            stored = store.counts().locations
        finally:
            store.close()
        if first_at is None or first_count is None or first_cpu is None:  # all stored before the first count
            first_at, first_count, first_cpu = last_at - POLL_S, 0, 0.0
        seconds = last_at - first_at
        return {"reports": reports, "seconds": round(seconds, 3), "rate": rate(reports - first_count, seconds),
                "cpu_us_per_report": cpu_per_report(last_cpu - first_cpu, reports - first_count),
                "stored": stored, "zero_loss": stored == reports}

    def _finish_bare(self, procs: list[subprocess.Popen[bytes]], reports: int) -> dict[str, Any]:
        ends = []
        for proc in procs:
            if proc.wait(TIMEOUT_S) != 0:
                raise RuntimeError(f"a bare subscriber fell short, see {self.work}")
        for client_id in self.client_ids():
            ends.append(json.loads((self.work / f"{client_id}.log").read_text().strip().splitlines()[-1]))
        received = sum(end["received"] for end in ends)
        seconds = max(end["last_at"] for end in ends) - min(end["first_at"] for end in ends)
        cpu = sum(end["cpu_last"] - end["cpu_first"] for end in ends)
        return {"reports": received, "seconds": round(seconds, 3), "rate": rate(received - 1, seconds),
                "cpu_us_per_report": cpu_per_report(cpu, received - len(ends))}


def drain_once(
    work: Path, kind: str, run: str, stream: Path, reports: int, replicas: int = 1, protocol: str = "5"
) -> dict[str, Any]:
    """One drain on its own broker: the sessions made, the backlog queued into them, then drained."""
    broker = Mosquitto(work / f"{run}-broker").start()
    try:
        consumers = Consumers(kind, broker, work, run, f"sqlite:///{work}/{run}.db", replicas, protocol)
        consumers.make_sessions()
        publish(broker, stream)
        assert broker.process is not None
        broker_cpu, (machine_busy, machine_total) = tree_cpu_seconds(broker.process.pid), machine_cpu_seconds()
        began = time.monotonic()
        result = consumers.finish(consumers.start(reports), reports)
        wall = time.monotonic() - began
        busy, total = machine_cpu_seconds()
        # Where the limit is: the broker near one full core, or the whole machine near all of its cores.
        result["broker_cpu_share_of_one_core"] = round((tree_cpu_seconds(broker.process.pid) - broker_cpu) / wall, 3)
        result["machine_busy_share"] = round((busy - machine_busy) / (total - machine_total), 3)
        return result
    finally:
        broker.stop()


def live_once(work: Path, kind: str, run: str, stream: Path, reports: int, protocol: str = "5") -> dict[str, Any]:
    """Subscriber connected and subscribed first, then the load generator publishes while it consumes."""
    broker = Mosquitto(work / f"{run}-broker").start()
    try:
        consumers = Consumers(kind, broker, work, run, f"sqlite:///{work}/{run}.db", protocol=protocol)
        consumers.make_sessions()
        procs = consumers.start(reports)
        wait_for_text(work / f"{run}.log", "subscribed")
        load = publish(broker, stream)
        result = consumers.finish(procs, reports)
        result["load_generator"] = load["rate"]
        return result
    finally:
        broker.stop()


def load_alone(work: Path, stream: Path) -> int:
    """The load generator against a broker with no subscriber (it only acknowledges): its own ceiling."""
    broker = Mosquitto(work / "load-alone-broker").start()
    try:
        return int(publish(broker, stream)["rate"])
    finally:
        broker.stop()


def bracketed(name: str, run_one: Callable[[str, str], dict[str, Any]]) -> dict[str, Any]:
    """The ceiling, the figure, the ceiling again; the figure is compared with the ceilings' mean."""
    first = run_one("ceiling", f"{name}-ceiling-1")
    print(f"  {name} ceiling: {first['rate']:,} reports/s", file=sys.stderr, flush=True)
    figure = run_one("figure", f"{name}-figure")
    print(f"  {name} figure: {figure['rate']:,} reports/s", file=sys.stderr, flush=True)
    second = run_one("ceiling", f"{name}-ceiling-2")
    print(f"  {name} ceiling again: {second['rate']:,} reports/s", file=sys.stderr, flush=True)
    check = ceiling_check(f"{name} bare subscriber", first["rate"], second["rate"])
    ceiling_cpu = [run["cpu_us_per_report"] for run in (first, second) if run["cpu_us_per_report"]]
    cpu_ratio = None
    if ceiling_cpu and figure["cpu_us_per_report"]:
        cpu_ratio = round(sum(ceiling_cpu) / len(ceiling_cpu) / figure["cpu_us_per_report"], 3)
    return {
        "ceiling_first": first,
        "figure": figure,
        "ceiling_second": second,
        "ceiling": {"rate": round(check["mean"]), "spread": check["spread"]},
        "ratio_to_ceiling": round(figure["rate"] / check["mean"], 3),
        # The ceiling's CPU per report over the figure's: what the ratio would be if each had the CPU to itself.
        "cpu_ratio_to_ceiling": cpu_ratio,
    }


def encode_load(work: Path, reports: int, name: str) -> Path:
    stream = work / f"{name}.stream"
    write_stream(as_messages(make_reports(reports, orders=max(1, reports // 100), prefix=name)), stream)
    return stream


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=200_000, help="backlog size for ingest_drain")
    parser.add_argument("--live-reports", type=int, default=100_000, help="reports for ingest_live")
    parser.add_argument("--protocol", choices=("5", "3.1.1"), default="5",
                        help="MQTT version of the subscriber and of its bare ceiling (the product uses 5)")
    parser.add_argument("--force", action="store_true", help="run on a busy machine too; the results say so")
    parser.add_argument("--output", type=Path, default=RESULTS / "ingest.json")
    args = parser.parse_args()
    try:
        conditions = RunConditions(force=args.force)
        with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
            work = Path(tmp)
            backlog, load = encode_load(work, args.reports, "drain"), encode_load(work, args.live_reports, "live")
            drain = bracketed("ingest_drain", lambda kind, run: drain_once(
                work, kind, run, backlog, args.reports, protocol=args.protocol))
            client_max = load_alone(work, load)
            print(f"  load generator alone: {client_max:,} reports/s", file=sys.stderr, flush=True)
            live = bracketed("ingest_live", lambda kind, run: live_once(
                work, kind, run, load, args.live_reports, args.protocol))
        live["load_generator_alone"] = client_max
        results = {"mqtt_protocol": args.protocol, "ingest_drain": drain, "ingest_live": live}
        print(f"{'benchmark':<14} {'reports/s':>10} {'ceiling':>10} {'ratio':>6} {'CPU us/report':>14} "
              f"{'ceiling CPU':>12} {'CPU ratio':>9} {'zero loss':>9}")
        for name, row in (("ingest_drain", drain), ("ingest_live", live)):
            print(f"{name:<14} {row['figure']['rate']:>10,} {row['ceiling']['rate']:>10,} "
                  f"{row['ratio_to_ceiling']:>6.2f} {row['figure']['cpu_us_per_report'] or 0:>14.1f} "
                  f"{row['ceiling_first']['cpu_us_per_report'] or 0:>12.1f} {row['cpu_ratio_to_ceiling'] or 0:>9.2f} "
                  f"{row['figure']['zero_loss']!s:>9}")
        live_rates = [live[key]["rate"] for key in ("ceiling_first", "figure", "ceiling_second")]
        checks = [
            ceiling_check("ingest_drain bare subscriber", drain["ceiling_first"]["rate"],
                          drain["ceiling_second"]["rate"]),
            ceiling_check("ingest_live bare subscriber", live["ceiling_first"]["rate"], live["ceiling_second"]["rate"]),
            client_check("ingest_live load generator", client_max, max(live_rates),
                         against="a broker with no subscriber"),
        ]
        write_results(args.output, results, conditions, checks)
    except Refusal as refusal:
        return refuse(refusal)
    return 0


if __name__ == "__main__":
    sys.exit(main())
