"""``deliverer store migrate``: bring the store to this release's schema before the services use it.

MongoDB: creates the missing indexes, runs the data migrations, and checks the result; an index
this release defines differently is refused, named, with the fix. The services only check the
indexes when they open the store, and refuse a store that is not migrated. SQLite: the file is
brought to the current schema in place (as opening it always does), created when new.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

from deliverer.settings import STORE_URL
from deliverer.settings.arguments import add_settings
from deliverer.store import open_store

MONGODB_SCHEMES = ("mongodb", "mongodb+srv")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "store", help="the store's schema: migrate it to this release",
        description="The store's schema and indexes.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    migrate = actions.add_parser(
        "migrate", help="create and check the indexes, run the data migrations (before the services start)",
        description="Bring the store to this release: MongoDB's indexes created and checked and its data migrated"
        " (the services refuse a store that is not); a SQLite file migrated in place. Safe to run again.",
    )
    add_settings(migrate, STORE_URL)
    migrate.set_defaults(func=run_migrate)


def migrate_store(url: str) -> list[str]:
    """Migrate the store ``url`` names; the steps taken (none when it was up to date)."""
    if urlsplit(url).scheme in MONGODB_SCHEMES:
        from deliverer.store.mongo import MIGRATION_TIMEOUTS, MongoStore

        mongo = MongoStore(url, timeouts=MIGRATION_TIMEOUTS, verify_indexes=False)
        try:
            return mongo.migrate()
        finally:
            mongo.close()
    # SQLite migrates a file when it opens it (and logs what it did).
    open_store(url).close()
    return []


def run_migrate(args: argparse.Namespace) -> int:
    from deliverer.store.mongo_schema import StoreNotMigrated

    try:
        for step in migrate_store(args.store):
            print(step, flush=True)
        store = open_store(args.store, create=False)  # opened as the services open it: checked
    except StoreNotMigrated as exc:  # a person must act: say what, without "unavailable, retry"
        print(f"deliverer store migrate: {exc}", file=sys.stderr)
        return 1
    store.close()
    print(f"{store!r} is up to date")
    return 0
