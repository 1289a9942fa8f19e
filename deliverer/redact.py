"""Text with its secrets hidden, for anything a person or a log will read: settings, error messages.

Masking works on the raw text, not on a parsed URL: a URL that does not parse (``[bad``), or whose
password holds characters the parser drops (tab, newline), must be hidden all the same.
"""

from __future__ import annotations

import re

MASK = "***"
SECRET_WORDS = ("secret", "password", "passwd", "token", "key", "credential")
"""A name holding one of these words names a secret: ``fs.s3a.secret.key``, ``api_key``, ``token``."""

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_QUERY_PAIR = re.compile(r"([?&;])([^=&;#]*)=([^&;#]*)")


def names_a_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def without_secrets(text: str) -> str:
    """A URL (or any text shaped like one) with its whole user information and the values of query
    parameters that name a secret replaced by ``***``. The user information runs to the last ``@``:
    a password may hold ``/``, ``?`` or ``#``, so hiding a little too much beats showing some of it."""
    scheme = _SCHEME.match(text)
    if scheme is None:
        return text
    rest = text[scheme.end():]
    if "@" in rest:
        rest = f"{MASK}@{rest.rpartition('@')[2]}"
    rest = _QUERY_PAIR.sub(
        lambda pair: f"{pair[1]}{pair[2]}={MASK}" if names_a_secret(pair[2]) else pair[0], rest
    )
    return scheme.group() + rest


def conf_without_secrets(pairs: str) -> str:
    """Space-separated ``KEY=VALUE`` pairs (Spark's configuration) with the values of secret keys hidden."""
    shown = []
    for pair in pairs.split():
        key, equals, value = pair.partition("=")
        if not equals:
            shown.append(pair)
        else:
            shown.append(f"{key}={MASK if names_a_secret(key) else without_secrets(value)}")
    return " ".join(shown)
