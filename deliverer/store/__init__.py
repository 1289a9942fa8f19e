"""Store backends behind one interface, chosen by URL: ``sqlite:///path``, ``mongodb://…``, or
``memory://name`` (this process's memory: tests and trials, see :mod:`deliverer.store.memory`)."""

from __future__ import annotations

from urllib.parse import urlsplit

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


def open_store(url: str, create: bool = True) -> Store:
    """Open the store a URL names; ``sqlite:///relative.db`` and ``sqlite:////abs/path.db`` both work.

    ``create=False`` is for commands that only read: a SQLite file that does not exist raises
    :class:`StoreMissing` instead of becoming a new, empty store.
    """
    scheme = urlsplit(url).scheme
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
    raise UsageError(f"unsupported store URL {url!r}: use sqlite:///path or mongodb://host/db")


def refuse_process_local(url: str) -> None:
    """For the commands that serve other processes (the subscriber, the API, the live server): a
    ``memory://`` store would acknowledge reports that vanish on exit, or that no other process sees."""
    if urlsplit(url).scheme == "memory":
        raise UsageError(
            f"--store {url} is this process's memory, gone when it exits and invisible to the other commands;"
            " use sqlite:///path or mongodb://host/db (memory:// is for tests and Python code)"
        )
