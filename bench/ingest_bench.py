"""Ingest benchmarks, each beside its ceiling measured in the same run on the same broker.

    python bench/ingest_bench.py [--reports 200000] [--live-reports 100000]

- ingest_drain: the subscriber drains a backlog queued in its persistent session into SQLite;
  ceiling: the bare subscriber (bench/bare_subscriber.py) draining the same backlog.
- ingest_live: the same, with the load generator publishing concurrently.
Zero loss is verified for the real subscriber (distinct stored msg_ids == reports).
Writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deliverer.local_broker import Mosquitto  # noqa: E402
from deliverer.store import open_store  # noqa: E402
from tests.helpers import as_messages, make_reports, publish_all  # noqa: E402

RESULTS = REPO / "bench" / "results"


def deliverer(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "deliverer_cli.main", *args], stdout=out, stderr=out, cwd=REPO)


def bare(url: str, client_id: str, expected: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "bare_subscriber.py"), url, client_id, str(expected)],
            stdout=out, stderr=out, cwd=REPO,
        )


def wait_for_text(log: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} not in {log}")
        time.sleep(0.02)


def make_session(broker: Mosquitto, work: Path, client_id: str, *, real: bool, store_url: str) -> None:
    """Connect once so the broker keeps a session (and queues for it) while the client is away."""
    log = work / f"{client_id}-session.log"
    if real:
        proc = deliverer("subscribe", "--mqtt-url", broker.url, "--store", store_url, "--client-id", client_id, log=log)
        wait_for_text(log, "subscribed to")
        proc.terminate()
    else:
        proc = bare(broker.url, client_id, 1 << 30, log)
        wait_for_text(log, "subscribed")
        proc.kill()
    proc.wait(30)


def run_real(broker: Mosquitto, work: Path, name: str, reports: int, store_url: str) -> dict[str, Any]:
    store = open_store(store_url)
    started = time.monotonic()
    proc = deliverer(
        "subscribe", "--mqtt-url", broker.url, "--store", store_url, "--client-id", name, log=work / f"{name}.log"
    )
    while store.counts().locations < reports:
        if proc.poll() is not None or time.monotonic() - started > 600:
            raise RuntimeError(f"subscriber stopped early, see {work / (name + '.log')}")
        time.sleep(0.01)
    seconds = time.monotonic() - started
    proc.terminate()
    proc.wait(30)
    counts = store.counts()
    store.close()
    return {"reports": reports, "seconds": round(seconds, 3), "rate": round(reports / seconds),
            "stored": counts.locations, "zero_loss": counts.locations == reports}


def run_bare(broker: Mosquitto, work: Path, name: str, reports: int) -> dict[str, Any]:
    started = time.monotonic()
    proc = bare(broker.url, name, reports, work / f"{name}.log")
    if proc.wait(600) != 0:
        raise RuntimeError(f"bare subscriber fell short, see {work / (name + '.log')}")
    seconds = time.monotonic() - started
    return {"reports": reports, "seconds": round(seconds, 3), "rate": round(reports / seconds)}


def drain(work: Path, reports: int) -> dict[str, Any]:
    messages = as_messages(make_reports(reports, orders=max(1, reports // 100)))
    results: dict[str, Any] = {}
    for kind in ("ceiling", "figure"):
        broker = Mosquitto(work / f"drain-{kind}-broker").start()
        try:
            store_url = f"sqlite:///{work}/drain-{kind}.db"
            make_session(broker, work, f"drain-{kind}", real=kind == "figure", store_url=store_url)
            publish_all(broker.url, messages, timeout=600)
            if kind == "figure":
                results[kind] = run_real(broker, work, f"drain-{kind}", reports, store_url)
            else:
                results[kind] = run_bare(broker, work, f"drain-{kind}", reports)
        finally:
            broker.stop()
    return results


def live(work: Path, reports: int) -> dict[str, Any]:
    """Subscriber connected first, then the load generator publishes `reports` as fast as it can."""
    workers, per = 100, max(1, reports // 100)
    results: dict[str, Any] = {}
    for kind in ("ceiling", "figure"):
        broker = Mosquitto(work / f"live-{kind}-broker").start()
        try:
            store_url = f"sqlite:///{work}/live-{kind}.db"
            name = f"live-{kind}"
            outcome: dict[str, Any] = {}

            def consume(
                kind: str = kind, name: str = name, store_url: str = store_url, out: dict = outcome,
                broker: Mosquitto = broker,
            ) -> None:
                if kind == "figure":
                    out.update(run_real(broker, work, name, workers * per, store_url))
                else:
                    out.update(run_bare(broker, work, name, workers * per))

            make_session(broker, work, name, real=kind == "figure", store_url=store_url)
            consumer = threading.Thread(target=consume)
            consumer.start()
            publish = subprocess.run(
                [sys.executable, "-m", "deliverer_cli.main", "publish", "--mqtt-url", broker.url, "--workers",
                 str(workers), "--locations", str(per), "--interval", "0", "--seed", "1", "--json"],
                capture_output=True, text=True, cwd=REPO, timeout=900,
            )
            consumer.join(900)
            outcome["publisher"] = json.loads(publish.stdout.strip().splitlines()[-1])["rate"]
            results[kind] = outcome
        finally:
            broker.stop()
    return results


def with_ratio(results: dict[str, Any]) -> dict[str, Any]:
    results["ratio_to_ceiling"] = round(results["figure"]["rate"] / results["ceiling"]["rate"], 3)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=200_000, help="backlog size for ingest_drain")
    parser.add_argument("--live-reports", type=int, default=100_000, help="reports for ingest_live")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        work = Path(tmp)
        results = {
            "ingest_drain": with_ratio(drain(work, args.reports)),
            "ingest_live": with_ratio(live(work, args.live_reports)),
        }
    (RESULTS / "ingest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'benchmark':<14} {'reports/s':>10} {'ceiling':>10} {'ratio':>6} {'zero loss':>9}")
    for name, row in results.items():
        print(f"{name:<14} {row['figure']['rate']:>10,} {row['ceiling']['rate']:>10,} "
              f"{row['ratio_to_ceiling']:>6.2f} {row['figure']['zero_loss']!s:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
