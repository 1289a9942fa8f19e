"""Where the time goes: py-spy samples the subscriber draining a backlog, or the API under wrk.

    python bench/hotspots.py subscriber [--reports 60000] [--protocol 5|3.1.1] [--top 25]
    python bench/hotspots.py api [--scenario get_last_location] [--seconds 8] [--top 25]

``subscriber``: the drain of bench/ingest_bench.py (same broker config, same pre-encoded backlog)
with py-spy attached to ``deliverer subscribe`` from its start. ``api``: one scenario of
bench/api_bench.py sent by wrk to the production server, py-spy attached to gunicorn's workers.
Only samples of threads holding the GIL count (what costs CPU, not threads waiting for work). Prints
the functions holding the most samples, on their own (self) and with what they call (inclusive),
and the raw samples' path, for a flame graph (``flamegraph.pl`` or speedscope).
Needs py-spy (``pip install -e '.[bench]'``) and, to attach to a process, root or ptrace rights.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import api_bench
from ingest_bench import Consumers, encode_load, publish

from deliverer.local_broker import Mosquitto, free_port
from deliverer.settings import API_THREADS, API_WORKERS

RATE_HZ = 250
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))


def spy(pid: int, out: Path, seconds: float | None = None) -> subprocess.Popen[bytes]:
    command = [PY_SPY, "record", "--pid", str(pid), "--subprocesses", "--rate", str(RATE_HZ), "--format", "raw",
               "--output", str(out), "--nonblocking", "--gil"]
    if seconds is not None:
        command += ["--duration", str(int(seconds))]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def frame_name(frame: str) -> str:
    """``func (path/to/file.py:12)`` as ``func (file.py)``: samples from all lines of a function together."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].rsplit('/', 1)[-1]})" if where else name


def summarize(raw: Path, top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        frames = [frame_name(frame) for frame in stack.split(";") if not frame.startswith("process ")]
        if not frames:
            continue
        total += int(samples)
        own[frames[-1]] += int(samples)
        for frame in set(frames):
            inclusive[frame] += int(samples)
    print(f"\n{total:,} samples at {RATE_HZ} Hz; raw stacks in {raw}")
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"\n-- {title}")
        for frame, count in counter.most_common(top):
            print(f"{count / max(1, total):6.1%}  {frame}")


def profile_subscriber(args: argparse.Namespace, work: Path) -> Path:
    backlog = encode_load(work, args.reports, "profile")
    broker = Mosquitto(work / "broker").start()
    try:
        consumers = Consumers("figure", broker, work, "profile", f"sqlite:///{work}/store.db",
                              protocol=args.protocol)
        consumers.make_sessions()
        publish(broker, backlog)
        procs = consumers.start(args.reports)
        sampler = spy(procs[0].pid, work / "subscriber.raw")
        result = consumers.finish(procs, args.reports)
        sampler.send_signal(signal.SIGINT)
        sampler.wait(30)
        print(f"drained {args.reports:,} reports at {result['rate']:,} reports/s, "
              f"{result['cpu_us_per_report']} us of CPU per report (MQTT {args.protocol})")
    finally:
        broker.stop()
    return work / "subscriber.raw"


def profile_api(args: argparse.Namespace, work: Path) -> Path:
    scenario = next(s for s in api_bench.FIGURES if s.name == args.scenario)
    broker = Mosquitto(work / "broker").start()
    store_url = f"sqlite:///{work}/store.db"
    api_bench.seed(store_url)
    port = free_port()
    command = [str(api_bench.BENCH / "api_server.py"), "--port", str(port), "--store", store_url,
               "--mqtt-url", broker.url, "--workers", str(args.workers), "--threads", str(args.threads)]
    try:
        with api_bench.server(command, work / "api.log") as app:
            api_bench.wait_ready(f"http://127.0.0.1:{port}", app, work / "api.log")
            script = api_bench.write_script(scenario, work, f"p{int(time.time())}")
            sampler = spy(app.pid, work / "api.raw", args.seconds)
            measured = api_bench.run_wrk(f"http://127.0.0.1:{port}", script, args, args.seconds)
            sampler.wait(30)
            print(f"{scenario.name}: {measured.requests_per_s:,.0f} req/s while sampled")
    finally:
        broker.stop()
    return work / "api.raw"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=("subscriber", "api"))
    parser.add_argument("--reports", type=int, default=60_000, help="subscriber: backlog size")
    parser.add_argument("--protocol", choices=("5", "3.1.1"), default="5", help="subscriber: MQTT version")
    parser.add_argument("--scenario", default="get_last_location",
                        choices=[s.name for s in api_bench.FIGURES], help="api: what wrk sends")
    parser.add_argument("--seconds", type=int, default=8, help="api: seconds of load, sampled")
    parser.add_argument("--workers", type=int, default=API_WORKERS.default_value)
    parser.add_argument("--threads", type=int, default=API_THREADS.default_value)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--client-threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=25, help="functions listed")
    args = parser.parse_args()
    if not Path(PY_SPY).exists() or (args.target == "api" and shutil.which("wrk") is None):
        print("needs py-spy (pip install -e '.[bench]') and, for the API, wrk (apt-get install -y wrk)",
              file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="profile-"))
    raw = profile_subscriber(args, work) if args.target == "subscriber" else profile_api(args, work)
    summarize(raw, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
