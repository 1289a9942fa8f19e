"""Poison messages: what the broker sends again after the subscriber stopped while holding it.

When handling a message kills the subscriber (a bug nobody has found yet, whatever its cause),
the broker redelivers it with the DUP flag to the restarted subscriber, which would die again,
forever. So each redelivered message's attempts are counted in the store, durably, before it is
handled, and forgotten once it is stored:

- never attempted since it came back: handled with the rest of its batch (one counted attempt);
- attempted once and back again (so its batch stopped the subscriber): handled alone, so that the
  innocent messages of that batch are stored one by one and only the culprit fails again;
- attempted alone and back again: dead-lettered as ``poison`` without being read.

A message that kills the subscriber is thus dead-lettered on its third redelivery, and no other
message of its batch with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from deliverer.services.messages import RawMessage

ATTEMPTS_BEFORE_ALONE = 1
ATTEMPTS_BEFORE_POISON = 2


@dataclass
class AttemptPlan:
    """Indices into a received batch: handled together, one at a time, or dead-lettered unread."""

    together: list[int] = field(default_factory=list)
    alone: list[int] = field(default_factory=list)
    poisoned: list[int] = field(default_factory=list)


def plan_attempts(messages: Sequence[RawMessage], attempts: dict[str, int]) -> AttemptPlan:
    plan = AttemptPlan()
    for index, message in enumerate(messages):
        tried = attempts.get(message.key, 0) if message.redelivered else 0
        if tried >= ATTEMPTS_BEFORE_POISON:
            plan.poisoned.append(index)
        elif tried >= ATTEMPTS_BEFORE_ALONE:
            plan.alone.append(index)
        else:
            plan.together.append(index)
    return plan
