"""Secrets still set to the ``change-me`` placeholders of ``.env.example``: known to anyone who has read
the repository, so every service that holds a secret refuses to start with one."""

from __future__ import annotations

from collections.abc import Mapping

from deliverer.usage import UsageError

PLACEHOLDER_PREFIX = "change-me"
HOW_TO_GENERATE = (
    "set a real secret in .env, e.g. from `openssl rand -hex 16` or"
    " `python3 -c 'import secrets; print(secrets.token_hex(16))'` (./start.sh writes fresh ones into a new .env)"
)


class PlaceholderSecret(UsageError):
    """Raised at start, naming each secret that is still a placeholder and how to make a real one."""

    reason = "placeholder_secret"


def is_placeholder(value: str) -> bool:
    return value.strip().lower().startswith(PLACEHOLDER_PREFIX)


def refuse_placeholders(secrets: Mapping[str, str]) -> None:
    """Raise naming every secret (by its setting's name) that is still a placeholder."""
    names = [name for name, value in secrets.items() if is_placeholder(value)]
    if names:
        raise PlaceholderSecret(f"still the placeholder from .env.example: {', '.join(names)}; {HOW_TO_GENERATE}")
