"""The MongoDB store's indexes: what this release needs, how a database differs from it, and the
migration that brings a database there (``deliverer store migrate``).

The services only check (:func:`verify_indexes`): creating indexes on every open turned a changed
index into an error on every start, retried as if the server were down. The migration creates what
is missing and runs the data migrations; it refuses, before changing anything, an index this
release defines differently, since rebuilding a unique index means a while without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.database import Database
from pymongo.errors import PyMongoError

from deliverer.store import mongo_trips
from deliverer.store.base import StoreUnavailable
from deliverer.store.mongo_errors import guarded, is_outage

INDEXES: dict[str, list[IndexModel]] = {
    "locations": [
        IndexModel([("deliverer_id", ASCENDING), ("msg_id", ASCENDING)], name="courier_msg_id_unique", unique=True),
        # An order's history in trip order to its last tie: a page or a trip never sorts one millisecond.
        IndexModel(
            [("order_id", ASCENDING), ("timestamp", ASCENDING), ("msg_id", ASCENDING), ("deliverer_id", ASCENDING)],
            name="order_trip",
        ),
        IndexModel([("timestamp", ASCENDING)], name="timestamp"),
        IndexModel([("ingested_at", ASCENDING)], name="ingested_at"),
        # A courier's newest report; the ingest log that live streams tail, whole and by order.
        IndexModel([("deliverer_id", ASCENDING), ("timestamp", DESCENDING)], name="deliverer_timestamp"),
        IndexModel([("ingested_at", ASCENDING), ("_id", ASCENDING)], name="ingest_order"),
        IndexModel(
            [("order_id", ASCENDING), ("ingested_at", ASCENDING), ("_id", ASCENDING)], name="order_ingest_order"
        ),
    ],
    "rejected": [
        IndexModel([("received_at", DESCENDING), ("_id", DESCENDING)], name="newest_first"),
        IndexModel([("reason", ASCENDING)], name="reason"),
        IndexModel(
            [("letter_key", ASCENDING)], name="letter_key_unique", unique=True,
            # Dead letters stored before they had a key are left out, rather than all colliding on null.
            partialFilterExpression={"letter_key": {"$exists": True}},
        ),
    ],
    "delivery_attempts": [IndexModel([("last_at", ASCENDING)], name="last_at")],
    "order_handovers": [IndexModel([("order_id", ASCENDING), ("_id", ASCENDING)], name="order")],
    # Orders by their newest report (the active ones filtered by time).
    "last_locations": [IndexModel([("timestamp", DESCENDING), ("_id", DESCENDING)], name="recent")],
}
"""The indexes of this release, by collection (``orders`` needs only ``_id``)."""

LEGACY_MSG_ID_INDEX = "msg_id_unique"
SUPERSEDED: dict[str, dict[str, str]] = {
    "locations": {LEGACY_MSG_ID_INDEX: "courier_msg_id_unique", "order_timestamp": "order_trip"},
    "rejected": {"received_at": "newest_first"},
}
"""Indexes of earlier releases, dropped by the migration once their successor is built."""

OWNERS_FROM_HISTORY: list[dict[str, Any]] = [
    {"$sort": {"order_id": 1, "timestamp": 1, "_id": 1}},
    {"$group": {"_id": "$order_id", "deliverer_id": {"$first": "$deliverer_id"}, "since": {"$first": "$ingested_at"}}},
    {"$merge": {"into": "orders", "whenMatched": "keepExisting", "whenNotMatched": "insert"}},
]
"""History used to be unique on ``msg_id`` alone and orders had no owner: an existing order belongs
to the courier of its earliest report (an owner recorded since is kept)."""

MIGRATE = "run `deliverer store migrate` (in Docker Compose, the one-shot store-migrate runs it before the services)"

_COMPARED_OPTIONS = ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds")
_UNSET: dict[str, Any] = {"unique": False, "sparse": False}


class StoreNotMigrated(StoreUnavailable):
    """The database's indexes are not this release's: the services refuse it until it is migrated.

    An outage to whoever retries (the API answers 503, saying why), and the error a command exits
    with, naming each index and the fix.
    """


class IndexBuildFailed(StoreNotMigrated):
    """The server refused to build an index (its data, its limits): named, with the server's reason."""


@dataclass(frozen=True)
class Problem:
    """How the database differs from this release. ``blocking``: the migration cannot fix it alone."""

    text: str
    blocking: bool = False


def _direction(value: Any) -> Any:
    # mongosh writes numbers as doubles: an index created there reads back as 1.0.
    return int(value) if isinstance(value, int | float) else value


def _keys(spec: Mapping[str, Any]) -> list[tuple[str, Any]]:
    key = spec["key"]
    pairs = key.items() if isinstance(key, Mapping) else key
    return [(field, _direction(direction)) for field, direction in pairs]


def _options(spec: Mapping[str, Any]) -> dict[str, Any]:
    found = {name: spec.get(name, _UNSET.get(name)) for name in _COMPARED_OPTIONS}
    return {name: value for name, value in found.items() if value not in (None, False)}


def describe(spec: Mapping[str, Any]) -> str:
    """``{order_id: 1, timestamp: -1} unique``: an index as a person reads it."""
    text = "{" + ", ".join(f"{field}: {direction}" for field, direction in _keys(spec)) + "}"
    for name, value in _options(spec).items():
        text += f" {name}" if value is True else f" {name} {value}"
    return text


def _drop_hint(collection: str, name: str) -> str:
    return f'drop it first (db.{collection}.dropIndex("{name}") in mongosh)'


def problems(existing: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[Problem]:
    """What stands between the database's indexes (by collection, by name) and this release's."""
    found: list[Problem] = []
    for collection, models in INDEXES.items():
        present = existing.get(collection, {})
        superseded = SUPERSEDED.get(collection, {})
        for model in models:
            wanted = model.document
            name = wanted["name"]
            spec = present.get(name)
            if spec is not None:
                if _keys(spec) != _keys(wanted) or _options(spec) != _options(wanted):
                    found.append(Problem(
                        f"{collection}.{name} is {describe(spec)}, this release needs {describe(wanted)}:"
                        f" {_drop_hint(collection, name)}", blocking=True,
                    ))
                continue
            taken = [other for other, s in present.items() if other not in superseded and _keys(s) == _keys(wanted)]
            if taken:
                found.append(Problem(
                    f"{collection}.{taken[0]} has the keys of {name} ({describe(wanted)}), which the server allows"
                    f" only once: {_drop_hint(collection, taken[0])}", blocking=True,
                ))
            else:
                found.append(Problem(f"{collection}.{name} is missing"))
        for name, successor in superseded.items():
            if name in present:
                found.append(Problem(f"{collection}.{name} is superseded by {successor}"))
    return found


def index_specs(database: Database[Any]) -> dict[str, dict[str, Mapping[str, Any]]]:
    """The indexes of every collection this release indexes, by name (a missing collection has none)."""
    return {
        collection: guarded(
            "index check", lambda c=collection: {spec["name"]: spec for spec in database[c].list_indexes()}
        )
        for collection in INDEXES
    }


def verify_indexes(database: Database[Any]) -> None:
    """Raise StoreNotMigrated, naming every difference and the fix, unless the indexes are this release's."""
    found = problems(index_specs(database))
    if found:
        raise not_migrated(database.name, found)


def not_migrated(database_name: str, found: list[Problem]) -> StoreNotMigrated:
    return StoreNotMigrated(
        f"MongoDB store {database_name!r} is not migrated to this release: {'; '.join(p.text for p in found)}."
        f" To fix: {MIGRATE}"
    )


def migrate(database: Database[Any]) -> list[str]:
    """Create the missing indexes and run the data migrations; what was done, in order.

    Idempotent and resumable: each step looks at what is there first, and the index of msg_ids is
    dropped only once history is unique per courier and every order has its owner, so a migration
    interrupted anywhere is finished by the next run. Orders without a trip get theirs from history
    (writers give an order without one its trip themselves, so a service started before the migration
    finished leaves nothing wrong behind).
    """
    existing = index_specs(database)
    blocking = [p for p in problems(existing) if p.blocking]
    if blocking:
        raise not_migrated(database.name, blocking)
    steps = []
    for collection, models in INDEXES.items():
        for model in models:
            name = model.document["name"]
            if name not in existing[collection]:
                _build(database, collection, model)
                steps.append(f"created index {collection}.{name}")
    if LEGACY_MSG_ID_INDEX in existing["locations"]:
        guarded("owners of existing orders", lambda: list(
            database["locations"].aggregate(OWNERS_FROM_HISTORY, allowDiskUse=True)
        ))
        steps.append("gave every order without a courier the courier of its earliest report")
    given = mongo_trips.backfill(database)
    if given:
        steps.append(f"orders given their trip from their history: {given}")
    for collection, superseded in SUPERSEDED.items():
        for name in superseded:
            if name in existing[collection]:
                guarded("index drop", database[collection].drop_index, name)
                steps.append(f"dropped index {collection}.{name} (superseded)")
    verify_indexes(database)
    return steps


def _build(database: Database[Any], collection: str, model: IndexModel) -> None:
    name = model.document["name"]
    try:
        database[collection].create_indexes([model])
    except PyMongoError as exc:
        if is_outage(exc):
            raise StoreUnavailable(f"MongoDB index build {collection}.{name}: {exc}") from exc
        reason = (getattr(exc, "details", None) or {}).get("errmsg") or str(exc)
        raise IndexBuildFailed(
            f"MongoDB store {database.name!r}: index {collection}.{name} ({describe(model.document)})"
            f" was not built: {reason}"
        ) from exc
