"""Peak resident memory of a process tree (the benchmark itself, Spark's JVM, a command it runs).

The tree's resident set is summed over the process and its descendants every ``interval`` seconds
while the block runs; pages shared between processes count once per process, so the sum is an upper
bound of what the tree holds, and a peak shorter than the interval can be missed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

from conditions import live_descendants

PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_resident_bytes(pid: int) -> int:
    return sum(resident_bytes(one) for one in [pid, *live_descendants(pid)])


class PeakMemory:
    """``with PeakMemory() as peak: ...`` then ``peak.mib``: the largest summed resident set seen.

    ``tree=False`` samples the process alone (this process, once Spark's JVM lingers beside it)."""

    def __init__(self, pid: int | None = None, interval: float = 0.2, *, tree: bool = True) -> None:
        self.pid = pid or os.getpid()
        self.interval = interval
        self._measure = tree_resident_bytes if tree else resident_bytes
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self._measure(self.pid))
            if self._stop.wait(self.interval):
                return

    @property
    def mib(self) -> int:
        return round(self.peak / 2**20)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._measure(self.pid))
