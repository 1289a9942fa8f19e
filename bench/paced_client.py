"""An open-loop HTTP client: GET requests at a fixed rate, latency counted from when each was due.

wrk2 (the usual tool for this) is not packaged in Debian, and plain wrk is closed-loop: it waits
for an answer before sending the next request, so a slow server also slows the load and hides its
own queueing ("coordinated omission"). Here request ``i`` is due at ``start + i / rate`` whatever
happened before; a pool of keep-alive connections sends each one at its due time, and its latency
runs from that due time, so a request that had to wait for a free connection counts its wait.
``send_late_p99_ms`` is how late requests left after their due time: near zero, the client kept
the pace; large, every connection was waiting for the server, or the client lacked CPU.
"""

from __future__ import annotations

import http.client
import itertools
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


def percentile_ms(sorted_seconds: list[float], p: float) -> float:
    if not sorted_seconds:
        return 0.0
    return round(sorted_seconds[min(len(sorted_seconds) - 1, int(len(sorted_seconds) * p / 100))] * 1000, 3)


def run_paced(
    host: str, port: int, path_for: Callable[[int], str], rate: int, seconds: float, connections: int = 32
) -> dict[str, Any]:
    total = int(rate * seconds)
    latencies: list[float] = []
    lateness: list[float] = []
    failures = itertools.count()
    indexes = itertools.count()
    start = time.perf_counter() + 0.1

    def send_due_requests() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=10)
        while (i := next(indexes)) < total:
            due = start + i / rate
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            lateness.append(time.perf_counter() - due)
            try:
                connection.request("GET", path_for(i))
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    next(failures)
            except (OSError, http.client.HTTPException):
                next(failures)
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=10)
            latencies.append(time.perf_counter() - due)
        connection.close()

    # The default 5 ms GIL switch interval would add up to 5 ms to a reply whose thread waits to run.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        senders = [threading.Thread(target=send_due_requests) for _ in range(connections)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
    finally:
        sys.setswitchinterval(switch_interval)
    elapsed = time.perf_counter() - start
    latencies.sort()
    lateness.sort()
    return {
        "target_req_per_s": rate,
        "achieved_req_per_s": round(total / elapsed, 1),
        "requests": total,
        "failed": next(failures),
        "p50_ms": percentile_ms(latencies, 50),
        "p90_ms": percentile_ms(latencies, 90),
        "p99_ms": percentile_ms(latencies, 99),
        "max_ms": round(latencies[-1] * 1000, 3) if latencies else 0.0,
        "send_late_p99_ms": percentile_ms(lateness, 99),
        "connections": connections,
    }
