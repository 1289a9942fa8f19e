"""Publish-to-acknowledgement latencies in bounded memory, for percentiles of any size of burst."""

from __future__ import annotations

import math
import threading

GROWTH = 1.01
"""Bucket width: each bucket is 1 % wider than the previous, so a percentile is off by under 1 %."""
SMALLEST_S = 1e-6


class LatencyHistogram:
    """Log-bucketed histogram; ``record`` is thread-safe and O(1)."""

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}
        self._lock = threading.Lock()
        self.count = 0
        self.max_s = 0.0

    @staticmethod
    def _bucket(seconds: float) -> int:
        return int(math.log(max(seconds, SMALLEST_S) / SMALLEST_S, GROWTH))

    def record(self, seconds: float, times: int = 1) -> None:
        bucket = self._bucket(seconds)
        with self._lock:
            self._buckets[bucket] = self._buckets.get(bucket, 0) + times
            self.count += times
            self.max_s = max(self.max_s, seconds)

    def percentile(self, share: float) -> float | None:
        """The latency in seconds that ``share`` (0..1) of the samples do not exceed; None when empty."""
        with self._lock:
            if not self.count:
                return None
            rank = max(1, math.ceil(share * self.count))
            seen = 0
            for bucket in sorted(self._buckets):
                seen += self._buckets[bucket]
                if seen >= rank:
                    return min(SMALLEST_S * GROWTH ** (bucket + 1), self.max_s)
        raise AssertionError("rank beyond count")

    def summary_ms(self) -> dict[str, float | None]:
        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else round(seconds * 1000, 3)

        return {
            "p50": ms(self.percentile(0.50)),
            "p95": ms(self.percentile(0.95)),
            "p99": ms(self.percentile(0.99)),
            "max": ms(self.max_s if self.count else None),
        }
