"""Signed, expiring tracking links: a token that opens one order's page, stream and track for a while.

A token is ``v1.<expiry, epoch seconds>.<HMAC-SHA256 of the order id and the expiry>``: it names
no secret, cannot be stretched to another order or a later expiry, and needs no storage. Every
process that shares the secret checks it alone, so the API and the live server agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

VERSION = "v1"
MAX_TOKEN_CHARS = 200
DEFAULT_LIFETIME_S = 24 * 3600
MAX_LIFETIME_S = 30 * 24 * 3600


class TokenProblem(StrEnum):
    MALFORMED = "malformed"
    WRONG = "wrong"
    EXPIRED = "expired"


@dataclass(frozen=True)
class InvalidToken(Exception):
    problem: TokenProblem

    def __str__(self) -> str:
        return {
            TokenProblem.MALFORMED: "the tracking token is not one this server issued",
            TokenProblem.WRONG: "the tracking token is not valid for this order",
            TokenProblem.EXPIRED: "the tracking link has expired: ask for a new one",
        }[self.problem]


def secret_from(tracking_secret: str | None, api_key: str | None) -> bytes | None:
    """The signing key: the configured secret, else one derived from the API key (so that rotating
    the key also revokes the links), else none (links cannot be issued)."""
    if tracking_secret:
        return tracking_secret.encode()
    if api_key:
        return hmac.new(api_key.encode(), b"deliverer tracking links", hashlib.sha256).digest()
    return None


def _signature(secret: bytes, order_id: str, expires_at: int) -> str:
    mac = hmac.new(secret, f"{VERSION}\n{order_id}\n{expires_at}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def issue(secret: bytes, order_id: str, expires_at: int) -> str:
    return f"{VERSION}.{expires_at}.{_signature(secret, order_id, expires_at)}"


def check(secret: bytes | None, order_id: str, token: str, now: float) -> None:
    """Raise :class:`InvalidToken` unless ``token`` was issued for ``order_id`` and has not expired."""
    parts = token.split(".") if len(token) <= MAX_TOKEN_CHARS else []
    if len(parts) != 3 or parts[0] != VERSION or not (parts[1].isascii() and parts[1].isdigit()):
        raise InvalidToken(TokenProblem.MALFORMED)
    expires_at = int(parts[1])
    if secret is None or not hmac.compare_digest(parts[2].encode(), _signature(secret, order_id, expires_at).encode()):
        raise InvalidToken(TokenProblem.WRONG)
    if expires_at <= now:
        raise InvalidToken(TokenProblem.EXPIRED)
