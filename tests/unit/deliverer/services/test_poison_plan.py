"""Which redelivered messages are handled with their batch, alone, or dead-lettered unread."""

from __future__ import annotations

from deliverer.services.messages import RawMessage
from deliverer.services.poison import plan_attempts


def message(n: int, redelivered: bool) -> RawMessage:
    return RawMessage("deliverers/d1/location", f"payload-{n}".encode(), redelivered)


def test_new_messages_go_together_whatever_is_recorded_for_their_key() -> None:
    fresh = [message(n, redelivered=False) for n in range(3)]
    plan = plan_attempts(fresh, {m.key: 5 for m in fresh})
    assert (plan.together, plan.alone, plan.poisoned) == ([0, 1, 2], [], [])


def test_redelivered_messages_are_tried_together_then_alone_then_poisoned() -> None:
    batch = [message(n, redelivered=True) for n in range(4)]
    attempts = {batch[1].key: 1, batch[2].key: 2, batch[3].key: 7}
    plan = plan_attempts(batch, attempts)
    assert (plan.together, plan.alone, plan.poisoned) == ([0], [1], [2, 3])


def test_the_key_is_the_topic_and_the_payload() -> None:
    one = RawMessage("deliverers/d1/location", b"x", True)
    assert one.key == RawMessage("deliverers/d1/location", b"x", False).key
    assert one.key != RawMessage("deliverers/d2/location", b"x", True).key
    assert one.key != RawMessage("deliverers/d1/location", b"y", True).key
