"""Store backends behind one interface, chosen by URL: ``sqlite:///path``, ``mongodb://…``, or
``memory://name`` (this process's memory: tests and trials, see :mod:`deliverer.store.memory`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from deliverer.redact import without_secrets
from deliverer.store.base import (
    Counts,
    Handover,
    HistoryCursor,
    InsertResult,
    InvalidPosition,
    OrderCourier,
    RejectedReport,
    Store,
    StoredReport,
    StoreMissing,
    StoreUnavailable,
)
from deliverer.usage import UsageError

__all__ = [
    "Counts",
    "Handover",
    "HistoryCursor",
    "InsertResult",
    "InvalidPosition",
    "OrderCourier",
    "RejectedReport",
    "Store",
    "StoreMissing",
    "StoreUnavailable",
    "StoredReport",
    "open_store",
    "refuse_process_local",
]


def _scheme(url: str) -> str:
    """The URL's scheme, also from a URL that does not parse (a bad port, an unclosed IPv6 bracket)."""
    return url.partition("://")[0].lower() if "://" in url else urlsplit(url).scheme


def open_store(url: str, create: bool = True) -> Store:
    """Open the store a URL names; ``sqlite:///relative.db`` and ``sqlite:////abs/path.db`` both work.

    ``create=False`` is for commands that only read: a SQLite file that does not exist raises
    :class:`StoreMissing` instead of becoming a new, empty store.
    """
    scheme = _scheme(url)
    if scheme == "sqlite":
        from deliverer.store.sqlite import SQLiteStore

        path = url.removeprefix("sqlite://").removeprefix("/")
        if not path:
            raise UsageError("a SQLite store URL needs a path, e.g. sqlite:///var/deliverer.db")
        return SQLiteStore(path, create=create)
    if scheme in ("mongodb", "mongodb+srv"):
        from deliverer.store.mongo import MongoStore

        return MongoStore(url)
    if scheme == "memory":
        from deliverer.store.memory import MemoryStore

        return MemoryStore(url.removeprefix("memory://"), create=create)
    raise UsageError(f"unsupported store URL {without_secrets(url)!r}: use sqlite:///path or mongodb://host/db")


def refuse_process_local(url: str) -> None:
    """For the commands that serve other processes (the subscriber, the API, the live server): a
    ``memory://`` store would acknowledge reports that vanish on exit, or that no other process sees."""
    if _scheme(url) == "memory":
        raise UsageError(
            f"--store {without_secrets(url)} is this process's memory, gone when it exits and invisible to the"
            " other commands; use sqlite:///path or mongodb://host/db (memory:// is for tests and Python code)"
        )
