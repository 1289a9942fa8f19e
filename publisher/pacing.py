"""A cap on reports per second across all couriers, by spacing sends evenly."""

from __future__ import annotations

BURST_ALLOWANCE_S = 1.0
"""Lag a sender may make up for at full speed, after it was held up (a loaded machine can
oversleep a 2 ms wait by several ms). The cap holds regardless: the n-th send is never
earlier than n spacings after the first."""


class Pacer:
    """``next_send(now)`` says when the next report may go; ``rate`` 0 means no cap."""

    def __init__(self, rate: float) -> None:
        if rate < 0:
            raise ValueError("rate must not be negative")
        self._spacing = 1 / rate if rate else 0.0
        self._next: float | None = None

    def next_send(self, now: float) -> float:
        """The earliest moment for the next send; reserves that slot."""
        if not self._spacing:
            return now
        slot = now if self._next is None else max(self._next, now - BURST_ALLOWANCE_S)
        self._next = slot + self._spacing
        return slot
