"""Live tracking: how fast stored reports reach watchers of their order, beside polling for them.

    python bench/live_bench.py [--watchers 500] [--orders 100] [--rate 1000] [--seconds 20]
                               [--ramp 1000,2000,3000,4000,6000] [--ramp-seconds 8] [--probe-rate 50]
    python bench/live_bench.py --check --watchers 40 --orders 8 --rate 200 --seconds 3   # correctness only

Starts its own Mosquitto, subscriber, API (``deliverer api``, gthread) and live server
(``deliverer live``, one asyncio worker) on a SQLite store, then:

1. live: ``--watchers`` Server-Sent-Event streams spread over ``--orders`` orders (a separate
   process holds them), while a publisher sends ``--rate`` reports/s over those orders at QoS 1
   for ``--seconds``. Latency runs from the broker's PUBACK of a report to the moment a watcher
   read it; every watcher must get every report of its order exactly once, in storage order,
   and never a report the subscriber rejected (a few invalid ones are published among them).
   Meanwhile ``GET last-location`` is asked ``--probe-rate`` times a second on the API (open loop).
2. polling baseline: the same publisher, with as many clients polling their order's
   ``last-location`` once a second instead of watching: the latency until a poll shows a report
   (or a newer one), how many of the reports a poller ever saw, and the API's latency.
3. ramp: more watchers (``--ramp``), ``--ramp-seconds`` each, until the p99 passes 1 s: how many
   this machine holds.

The CPU the live server and the API used in each phase is read from /proc. Like every benchmark
here (bench/conditions.py) it refuses a busy machine unless ``--force`` (and then says so), records
the load average before and after and the CPU other processes used meanwhile, and writes nothing
when a request failed, the publisher could not keep its rate or a watcher missed a report. Writes
bench/results/live.json (not with ``--check``, which prints the correctness checks and exits 1 when
one fails).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from conditions import Refusal, RunConditions, answers_check, refuse, write_results  # noqa: E402
from paced_client import run_paced  # noqa: E402

from deliverer.contract import DeliveryState, LocationReport  # noqa: E402
from deliverer.local_broker import Mosquitto, free_port  # noqa: E402
from deliverer.mqtt import new_client, parse_mqtt_url  # noqa: E402

GOAL_P99_S = 1.0
GOAL_LAST_LOCATION_P99_MS = 50.0
DRAIN_S = 3.0


# --- the stack ---------------------------------------------------------------------------------

@dataclass
class Stack:
    work: Path
    broker: Mosquitto
    store_url: str
    api_port: int
    live_port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def start(cls, work: Path) -> Stack:
        broker = Mosquitto(work / "broker").start()
        stack = cls(work, broker, f"sqlite:///{work}/store.db", free_port(), free_port())
        deliverer = [sys.executable, "-m", "deliverer_cli.main", "--log-level", "WARNING"]
        stack._run("subscriber", [*deliverer, "subscribe", "--mqtt-url", broker.url, "--store", stack.store_url,
                                  "--client-id", "live-bench", "--metrics-port", str(free_port())])
        wait_for(lambda: Path(stack.store_url.removeprefix("sqlite:///")).exists(), 30, "the store")
        stack._run("api", [*deliverer, "api", "--port", str(stack.api_port), "--store", stack.store_url,
                           "--mqtt-url", broker.url, "--workers", "2", "--threads", "8"])
        stack._run("live", [*deliverer, "live", "--live-port", str(stack.live_port), "--store", stack.store_url,
                            "--mqtt-url", broker.url, "--workers", "1", "--max-streams", "20000"])
        for port in (stack.api_port, stack.live_port):
            wait_for(lambda port=port: http_status(port, "/healthz") == 200, 60, f"server on {port}")  # type: ignore[misc]
        return stack

    def _run(self, name: str, args: list[str]) -> None:
        log = (self.work / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    def cpu_seconds(self, name: str) -> float:
        """User + system CPU of a service and its worker processes so far."""
        root = self.procs[name].pid
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in [root, *children(root)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.broker.stop()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
            return int(answer.status)
    except OSError:
        return 0


def wait_for(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {seconds} s")
        time.sleep(0.1)


# --- publishing --------------------------------------------------------------------------------

class AckingPublisher:
    """QoS 1 publisher that records when the broker acknowledged each message (monotonic clock)."""

    def __init__(self, url: str, window: int = 2000) -> None:
        endpoint = parse_mqtt_url(url)
        self._client = new_client(endpoint, f"live-bench-{os.getpid()}")
        self._client.on_publish = self._on_publish
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(window)
        self._names: dict[int, str] = {}
        self._early: dict[int, float] = {}
        self.acked_at: dict[str, float] = {}
        self.published = 0
        connected = threading.Event()
        self._client.on_connect = lambda *_: connected.set()
        self._client.connect(endpoint.host, endpoint.port)
        self._client.loop_start()
        if not connected.wait(10):
            raise RuntimeError("publisher did not connect")

    def _on_publish(self, _client: Any, _userdata: Any, mid: int, *_: Any) -> None:
        now = time.monotonic()
        with self._lock:
            name = self._names.pop(mid, None)
            if name is None:
                self._early[mid] = now
            else:
                self.acked_at[name] = now
        self._slots.release()

    def publish(self, name: str, topic: str, payload: bytes) -> None:
        self._slots.acquire()
        self.published += 1
        info = self._client.publish(topic, payload, qos=1)
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._names[info.mid] = name
            else:
                self.acked_at[name] = early

    def paced(self, messages: list[tuple[str, str, bytes]], rate: int) -> float:
        """Publish at ``rate`` per second; returns the rate achieved."""
        start = time.monotonic()
        for i, (name, topic, payload) in enumerate(messages):
            if (delay := start + i / rate - time.monotonic()) > 0:
                time.sleep(delay)
            self.publish(name, topic, payload)
        return len(messages) / max(time.monotonic() - start, 1e-9)

    def wait_acked(self, seconds: float = 30) -> None:
        """Until the broker acknowledged everything published so far."""
        wait_for(lambda: len(self.acked_at) >= self.published, seconds, f"{self.published} PUBACKs")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@dataclass
class Workload:
    """Reports for ``orders`` orders, round-robin, each order's seq increasing: (name, topic, payload)."""

    prefix: str
    orders: int
    messages: list[tuple[str, str, bytes]] = field(default_factory=list)
    expected: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    rejected: set[str] = field(default_factory=set)

    def order_ids(self) -> list[str]:
        return [f"{self.prefix}-{n}" for n in range(self.orders)]

    def add(self, count: int, first_seq: int, invalid_every: int = 0) -> None:
        start = datetime.now(UTC) - timedelta(hours=1)
        for i in range(count):
            order = i % self.orders
            seq = first_seq + i // self.orders
            report = LocationReport(
                msg_id=f"{self.prefix}-{order}-{seq}", order_id=f"{self.prefix}-{order}", deliverer_id=f"c{order}",
                delivery_state=DeliveryState.ON_THE_WAY, timestamp=start + timedelta(milliseconds=seq * 100),
                latitude=45.0 + seq * 1e-5, longitude=9.0 + order * 1e-3, seq=seq,
            )
            payload = report.to_json()
            if invalid_every and i % invalid_every == invalid_every - 1:
                # The subscriber dead-letters it: it must never reach a watcher.
                payload = json.dumps({**report.to_json_dict(), "latitude": 123.0}).encode()
                self.rejected.add(report.msg_id)
            else:
                self.expected[report.order_id].append(report.msg_id)
            self.messages.append((report.msg_id, report.topic, payload))


# --- watchers (their own process) --------------------------------------------------------------

def decode_stream(reads: list[tuple[float, bytes]]) -> list[tuple[float, str]]:
    """(read time, msg_id) of every location event in a chunked SSE answer, given the raw reads."""
    buffer = b"".join(data for _, data in reads)
    ends = []
    offset = 0
    for at, data in reads:
        offset += len(data)
        ends.append((offset, at))
    header_end = buffer.find(b"\r\n\r\n")
    if header_end < 0:
        return []
    position = header_end + 4
    events: list[tuple[float, str]] = []
    pending = b""
    end_index = 0
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            break
        size = int(buffer[position:line_end].split(b";")[0] or b"0", 16)
        chunk_end = line_end + 2 + size
        if size == 0 or chunk_end > len(buffer):
            break
        while end_index < len(ends) - 1 and ends[end_index][0] < chunk_end:
            end_index += 1
        at = ends[end_index][1]
        pending += buffer[line_end + 2 : chunk_end]
        *complete, pending = pending.split(b"\n\n")
        for block in complete:
            if b"event: location" in block:
                data = block[block.index(b"data: ") + 6 :]
                events.append((at, json.loads(data)["msg_id"]))
        position = chunk_end + 2
    return events


async def _watch(port: int, order_id: str, stop: asyncio.Event, out: list[tuple[float, bytes]]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET /v1/orders/{order_id}/live HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"
    writer.write(request.encode())
    try:
        while not stop.is_set():
            try:
                data = await asyncio.wait_for(reader.read(65536), 0.5)
            except TimeoutError:
                continue
            if not data:
                return
            out.append((time.monotonic(), data))
    finally:
        writer.close()


async def _watch_all(port: int, order_ids: list[str], watchers: int, pipe: Connection) -> list[list[tuple[float, str]]]:
    stop = asyncio.Event()
    reads: list[list[tuple[float, bytes]]] = [[] for _ in range(watchers)]
    gate = asyncio.Semaphore(100)

    async def one(n: int) -> None:
        async with gate:
            pass
        await _watch(port, order_ids[n % len(order_ids)], stop, reads[n])

    tasks = [asyncio.ensure_future(one(n)) for n in range(watchers)]
    loop = asyncio.get_running_loop()
    # Connected once each has its first event (the order's last location).
    while sum(1 for r in reads if any(b"event: location" in data for _, data in r)) < watchers:
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    pipe.send("connected")
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return [decode_stream(r)[1:] for r in reads]  # the first event is the last location at connection


def watcher_process(port: int, order_ids: list[str], watchers: int, pipe: Connection) -> None:
    events = asyncio.run(_watch_all(port, order_ids, watchers, pipe))
    pipe.send(events)


class Watchers:
    def __init__(self, port: int, order_ids: list[str], count: int) -> None:
        self.order_ids = order_ids
        self.count = count
        self._pipe, child = multiprocessing.Pipe()
        self._process = multiprocessing.Process(target=watcher_process, args=(port, order_ids, count, child))
        self._process.start()
        if not self._pipe.poll(120) or self._pipe.recv() != "connected":
            raise RuntimeError("the watchers did not connect")

    def order_of(self, n: int) -> str:
        return self.order_ids[n % len(self.order_ids)]

    def stop(self) -> list[list[tuple[float, str]]]:
        self._pipe.send("stop")
        events: list[list[tuple[float, str]]] = self._pipe.recv()
        self._process.join(30)
        return events


# --- pollers (their own process) ---------------------------------------------------------------

FAILED_POLL = -2
"""The seq recorded for a poll that got no 200 answer."""


async def _poll(port: int, order_id: str, phase: float, stop_at: float, out: list[tuple[float, float, int]]) -> None:
    request = f"GET /v1/orders/{order_id}/last-location HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    due = time.monotonic() + phase
    while due < stop_at:
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        try:
            if connection is None:
                connection = await asyncio.open_connection("127.0.0.1", port)
            reader, writer = connection
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
            ok = head.startswith(b"HTTP/1.1 200")
            out.append((due, time.monotonic(), int(json.loads(body).get("seq", -1)) if ok else FAILED_POLL))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            out.append((due, time.monotonic(), FAILED_POLL))
            connection = None
        due += 1.0
    if connection is not None:
        connection[1].close()


def poller_process(port: int, order_ids: list[str], pollers: int, seconds: float, pipe: Connection) -> None:
    async def main() -> list[list[tuple[float, float, int]]]:
        stop_at = time.monotonic() + seconds
        results: list[list[tuple[float, float, int]]] = [[] for _ in range(pollers)]
        await asyncio.gather(*(
            _poll(port, order_ids[n % len(order_ids)], n / pollers, stop_at, results[n]) for n in range(pollers)
        ))
        return results

    pipe.send(asyncio.run(main()))


def probe_process(port: int, order_ids: list[str], rate: int, seconds: float, pipe: Connection) -> None:
    paths = [f"/v1/orders/{o}/last-location" for o in order_ids]
    pipe.send(run_paced("127.0.0.1", port, lambda i: paths[i % len(paths)], rate, seconds, connections=4))


# --- figures -----------------------------------------------------------------------------------

def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(seconds)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 1)

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": round(ordered[-1] * 1000, 1)}


def judge_watchers(
    watchers: Watchers, events: list[list[tuple[float, str]]], workload: Workload, acked_at: dict[str, float]
) -> dict[str, Any]:
    latencies: list[float] = []
    missing = duplicates = out_of_order = rejected_seen = 0
    for n, received in enumerate(events):
        expected = workload.expected[watchers.order_of(n)]
        names = [name for _, name in received]
        rejected_seen += sum(1 for name in names if name in workload.rejected)
        duplicates += len(names) - len(set(names))
        missing += len(set(expected) - set(names))
        if [name for name in names if name in set(expected)] != [name for name in expected if name in set(names)]:
            out_of_order += 1
        for at, name in received:
            if name in acked_at:
                latencies.append(at - acked_at[name])
    expected_total = sum(len(workload.expected[watchers.order_of(n)]) for n in range(len(events)))
    return {
        "deliveries_expected": expected_total,
        "deliveries_received": sum(len(e) for e in events),
        "missing": missing,
        "duplicates": duplicates,
        "watchers_out_of_order": out_of_order,
        "rejected_seen": rejected_seen,
        "latency_ms": percentiles_ms(latencies),
        "p99_s": percentiles_ms(latencies)["p99"] / 1000,
    }


# --- phases ------------------------------------------------------------------------------------

def seed_orders(stack: Stack, publisher: AckingPublisher, workload: Workload) -> None:
    """One report per order first: a stream of an order with no report yet is a 404."""
    seed = Workload(workload.prefix, workload.orders)
    seed.add(workload.orders, first_seq=0)
    for name, topic, payload in seed.messages:
        publisher.publish(name, topic, payload)
    last = seed.order_ids()[-1]
    wait_for(lambda: http_status(stack.api_port, f"/v1/orders/{last}/last-location") == 200, 30, "seeded orders")


def live_phase(
    stack: Stack, publisher: AckingPublisher, watchers: int, orders: int, rate: int, seconds: float,
    prefix: str, probe_rate: int = 0, invalid_every: int = 0,
) -> dict[str, Any]:
    workload = Workload(prefix, orders)
    seed_orders(stack, publisher, workload)
    workload.add(int(rate * seconds), first_seq=1, invalid_every=invalid_every)
    held = Watchers(stack.live_port, workload.order_ids(), watchers)
    cpu_before = {name: stack.cpu_seconds(name) for name in ("live", "api")}
    probe: dict[str, Any] = {}
    prober = None
    if probe_rate:
        # Its own process: in the publisher's, the GIL would make the probe's requests late.
        probe_pipe, probe_child = multiprocessing.Pipe()
        prober = multiprocessing.Process(
            target=probe_process, args=(stack.api_port, workload.order_ids(), probe_rate, seconds, probe_child)
        )
        prober.start()
    started = time.monotonic()
    achieved = publisher.paced(workload.messages, rate)
    publisher.wait_acked()
    time.sleep(DRAIN_S)  # let the last reports travel: the watchers' figures are read afterwards
    elapsed = time.monotonic() - started
    events = held.stop()
    if prober is not None:
        probe = probe_pipe.recv()
        prober.join(30)
    cpu = {f"{name}_cpu_s_per_s": round((stack.cpu_seconds(name) - cpu_before[name]) / elapsed, 3)
           for name in ("live", "api")}
    return {
        "watchers": watchers, "orders": orders, "rate_target": rate, "rate_achieved": round(achieved),
        "seconds": seconds, **judge_watchers(held, events, workload, publisher.acked_at), **cpu,
        **({"last_location_probe": probe} if probe else {}),
    }


def polling_phase(stack: Stack, publisher: AckingPublisher, pollers: int, orders: int, rate: int,
                  seconds: float) -> dict[str, Any]:
    workload = Workload("poll", orders)
    seed_orders(stack, publisher, workload)
    workload.add(int(rate * seconds), first_seq=1)
    seq_of = {name: int(name.rsplit("-", 1)[1]) for name, _, _ in workload.messages}
    order_of = {name: name.rsplit("-", 1)[0] for name, _, _ in workload.messages}
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(
        target=poller_process, args=(stack.api_port, workload.order_ids(), pollers, seconds + DRAIN_S, child)
    )
    cpu_before = stack.cpu_seconds("api")
    process.start()
    started = time.monotonic()
    achieved = publisher.paced(workload.messages, rate)
    results: list[list[tuple[float, float, int]]] = parent.recv()
    process.join(30)
    elapsed = time.monotonic() - started
    latencies: list[float] = []
    response_times: list[float] = []
    seen_fraction: list[float] = []
    order_ids = workload.order_ids()
    for n, polls in enumerate(results):
        order = order_ids[n % len(order_ids)]
        names = sorted((name for name in workload.expected[order]), key=lambda x: seq_of[x])
        seqs_seen = {seq for _, _, seq in polls}
        seen_fraction.append(len(seqs_seen & {seq_of[x] for x in names}) / max(1, len(names)))
        for due, answered, seq in polls:
            if seq != FAILED_POLL:
                response_times.append(answered - due)
        for name in names:
            acked = publisher.acked_at.get(name)
            shown = next(
                (answered for _, answered, seq in polls if seq >= seq_of[name] and answered >= (acked or 0)), None
            )
            if acked is not None and shown is not None and order_of[name] == order:
                latencies.append(shown - acked)
    return {
        "pollers": pollers, "poll_interval_s": 1.0, "orders": orders, "rate_target": rate,
        "rate_achieved": round(achieved), "seconds": seconds,
        "requests": sum(len(p) for p in results),
        "failed": sum(1 for p in results for _, _, seq in p if seq == FAILED_POLL),
        "requests_per_s": round(sum(len(p) for p in results) / (seconds + DRAIN_S), 1),
        "latency_ms": percentiles_ms(latencies),
        "reports_seen_fraction": round(statistics.mean(seen_fraction), 3) if seen_fraction else 0.0,
        "last_location_ms": percentiles_ms(response_times),
        "api_cpu_s_per_s": round((stack.cpu_seconds("api") - cpu_before) / elapsed, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watchers", type=int, default=500)
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--rate", type=int, default=1000, help="reports per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--probe-rate", type=int, default=50, help="last-location requests per second meanwhile")
    parser.add_argument("--ramp", default="1000,2000,3000,4000,6000", help="watcher counts to try, '' for none")
    parser.add_argument("--ramp-seconds", type=float, default=8)
    parser.add_argument("--no-baseline", action="store_true", help="skip the polling baseline")
    parser.add_argument("--check", action="store_true", help="correctness checks only: exit 1 when one fails")
    parser.add_argument("--force", action="store_true", help="run on a busy machine; the results say so")
    args = parser.parse_args()

    conditions = None
    if not args.check:
        try:
            conditions = RunConditions(force=args.force)
        except Refusal as refusal:
            return refuse(refusal)
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    with tempfile.TemporaryDirectory(prefix="live-bench-") as tmp:
        stack = Stack.start(Path(tmp))
        publisher = AckingPublisher(stack.broker.url)
        try:
            live = live_phase(stack, publisher, args.watchers, args.orders, args.rate, args.seconds, "live",
                              probe_rate=0 if args.check else args.probe_rate, invalid_every=50)
            results["live"] = live
            print(f"live: {args.watchers} watchers over {args.orders} orders at {live['rate_achieved']} reports/s:"
                  f" ack->watcher p50 {live['latency_ms']['p50']} ms, p99 {live['latency_ms']['p99']} ms;"
                  f" {live['deliveries_received']:,} of {live['deliveries_expected']:,} delivered, missing"
                  f" {live['missing']}, duplicates {live['duplicates']}, out of order {live['watchers_out_of_order']},"
                  f" rejected shown {live['rejected_seen']}", flush=True)
            if not args.no_baseline and not args.check:
                polling = polling_phase(stack, publisher, args.watchers, args.orders, args.rate, args.seconds)
                results["polling_baseline"] = polling
                print(f"polling: {polling['pollers']} pollers, {polling['requests_per_s']} req/s: ack->seen p50"
                      f" {polling['latency_ms']['p50']} ms, p99 {polling['latency_ms']['p99']} ms, saw"
                      f" {polling['reports_seen_fraction']:.0%} of the reports, last-location p99"
                      f" {polling['last_location_ms']['p99']} ms", flush=True)
            ramp = []
            for count in [int(c) for c in args.ramp.split(",") if c] if not args.check else []:
                step = live_phase(stack, publisher, count, args.orders, args.rate, args.ramp_seconds, f"ramp{count}")
                ramp.append({key: step[key] for key in ("watchers", "rate_achieved", "latency_ms", "missing",
                                                        "duplicates", "live_cpu_s_per_s")})
                print(f"ramp: {count} watchers: p99 {step['latency_ms']['p99']} ms, missing {step['missing']}",
                      flush=True)
                if step["p99_s"] > GOAL_P99_S or step["missing"]:
                    break
            if ramp:
                results["ramp"] = ramp
            held = [s["watchers"] for s in [{"watchers": args.watchers, **live}, *ramp]
                    if s["latency_ms"]["p99"] <= GOAL_P99_S * 1000 and not s["missing"]]
            results["max_watchers_within_1s"] = max(held) if held else 0
        finally:
            publisher.close()
            stack.stop()
    live = results["live"]
    probe_p99 = live.get("last_location_probe", {}).get("p99_ms")
    results["goal"] = (f"p99 broker ack -> watcher <= {GOAL_P99_S * 1000:.0f} ms with {args.watchers} watchers at"
                       f" {args.rate} reports/s; last-location p99 <= {GOAL_LAST_LOCATION_P99_MS:.0f} ms meanwhile")
    results["goal_met"] = (
        live["latency_ms"]["p99"] <= GOAL_P99_S * 1000 and not live["missing"]
        and (probe_p99 is None or probe_p99 <= GOAL_LAST_LOCATION_P99_MS)
    )
    correct = not (live["missing"] or live["duplicates"] or live["watchers_out_of_order"] or live["rejected_seen"])
    results["correct"] = correct
    if args.check:
        print(json.dumps({"correct": correct, **{k: live[k] for k in (
            "deliveries_expected", "deliveries_received", "missing", "duplicates", "watchers_out_of_order",
            "rejected_seen")}}))
        return 0 if correct else 1
    if not correct:
        print("refused, nothing written: a watcher missed, doubled or reordered a report", file=sys.stderr)
        return 1
    assert conditions is not None
    checks = [publisher_pace(live)]
    if "last_location_probe" in live:
        probe = live["last_location_probe"]
        checks.append(answers_check("last-location probe", probe["requests"], probe["failed"]))
    if "polling_baseline" in results:
        polling = results["polling_baseline"]
        checks.append(publisher_pace(polling))
        checks.append(answers_check("pollers", polling["requests"], polling["failed"]))
    try:
        write_results(RESULTS / "live.json", {"live_tracking": results}, conditions, checks)
    except Refusal as refusal:
        return refuse(refusal)
    print(f"max watchers with p99 <= 1 s: {results['max_watchers_within_1s']}")
    return 0


def publisher_pace(phase: dict[str, Any]) -> dict[str, Any]:
    """The publisher kept the rate the figures are quoted at."""
    target, achieved = phase["rate_target"], phase["rate_achieved"]
    return {
        "check": "client_headroom", "name": "publisher", "target": target, "achieved": achieved,
        "ok": achieved >= 0.99 * target,
        "detail": f"publisher: asked for {target:,} reports/s, sent {achieved:,}/s",
    }


if __name__ == "__main__":
    sys.exit(main())
