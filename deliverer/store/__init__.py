"""Store backends behind one interface, chosen by URL: ``sqlite:///path`` or ``mongodb://…``."""

from __future__ import annotations

from urllib.parse import urlsplit

from deliverer.store.base import (
    Counts,
    HistoryCursor,
    InsertResult,
    RejectedReport,
    Store,
    StoreUnavailable,
)

__all__ = [
    "Counts",
    "HistoryCursor",
    "InsertResult",
    "RejectedReport",
    "Store",
    "StoreUnavailable",
    "open_store",
]


def open_store(url: str) -> Store:
    """Open the store a URL names; ``sqlite:///relative.db`` and ``sqlite:////abs/path.db`` both work."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from deliverer.store.sqlite import SQLiteStore

        path = url.removeprefix("sqlite://").removeprefix("/")
        if not path:
            raise ValueError("a SQLite store URL needs a path, e.g. sqlite:///var/deliverer.db")
        return SQLiteStore(path)
    if scheme in ("mongodb", "mongodb+srv"):
        from deliverer.store.mongo import MongoStore

        return MongoStore(url)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///path or mongodb://host/db")
