"""Tracking tokens: valid for one order until they expire, and nothing else passes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app_api.tracking_links import InvalidToken, TokenProblem, check, issue, secret_from

SECRET = b"s" * 32
NOW = 1_800_000_000


def test_a_token_opens_its_order_until_it_expires() -> None:
    token = issue(SECRET, "order-1", NOW + 60)
    check(SECRET, "order-1", token, NOW)
    check(SECRET, "order-1", token, NOW + 59.9)
    with pytest.raises(InvalidToken) as expired:
        check(SECRET, "order-1", token, NOW + 60)
    assert expired.value.problem is TokenProblem.EXPIRED


@pytest.mark.parametrize(
    ("order_id", "secret", "edit"),
    [
        ("order-2", SECRET, lambda t: t),  # another order's token
        ("order-1", b"t" * 32, lambda t: t),  # signed with another secret
        ("order-1", SECRET, lambda t: t.replace(f".{NOW + 60}.", f".{NOW + 6000}.")),  # a later expiry
        ("order-1", SECRET, lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB")),  # a forged signature
        ("order-1", None, lambda t: t),  # no secret configured: no token is valid
    ],
)
def test_any_other_token_is_wrong(order_id: str, secret: bytes | None, edit: Callable[[str], str]) -> None:
    with pytest.raises(InvalidToken) as refused:
        check(secret, order_id, edit(issue(SECRET, "order-1", NOW + 60)), NOW)
    assert refused.value.problem is TokenProblem.WRONG


@pytest.mark.parametrize(
    "token", ["", "v1", "v1..x", "v2.1.x", "v1.-5.x", "v1.1e9.x", "v1.٣.x", "v1.1.x.", "v1." + "9" * 300]
)
def test_text_that_is_no_token_is_malformed(token: str) -> None:
    with pytest.raises(InvalidToken) as refused:
        check(SECRET, "order-1", token, NOW)
    assert refused.value.problem is TokenProblem.MALFORMED


def test_the_secret_is_the_configured_one_else_derived_from_the_api_key() -> None:
    assert secret_from("configured", "key") == b"configured"
    derived = secret_from(None, "key")
    assert derived is not None and derived != b"key" and derived == secret_from("", "key")
    assert secret_from(None, "other key") != derived
    assert secret_from(None, None) is None
