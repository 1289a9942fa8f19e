"""MongoDB backend (pymongo): production and the Docker Compose stack.

Collections: ``locations`` (history, unique per ``(deliverer_id, msg_id)``), ``last_locations``
(``_id`` is the order id), ``trips`` (``_id`` is the order id: its trip, :mod:`.mongo_trips`),
``orders`` (``_id`` is the order id: its courier), ``order_handovers``, ``rejected`` (dead letters)
and ``delivery_attempts``.

A standalone server (the Compose stack's) has no transactions, so a batch is several writes, each
idempotent, ordered so that the whole batch tried again after a failure anywhere converges to
what one atomic write would have left: the owners of new orders are claimed, the history inserted
(a stored key is a duplicate), each order's last location replaced by the newest report of the
batch, stored ones included, each order's trip brought up to date (versioned, so that concurrent
writers and retries count each report once), and the dead letters inserted under a key that a retry
repeats. Every write is journaled and acknowledged by a majority before the call returns; a write
concern that was not satisfied is an outage, whatever the documents' own results (:mod:`.mongo_errors`).

Opening checks the indexes and refuses a database that is not migrated; creating them and the data
migrations are ``deliverer store migrate``'s job (:mod:`.mongo_schema`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pymongo
from bson import ObjectId
from bson.binary import Binary
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, DeleteOne, MongoClient, ReplaceOne, UpdateOne
from pymongo.errors import ConfigurationError, DuplicateKeyError, InvalidName, PyMongoError

from deliverer.contract import DeliveryState, LocationReport
from deliverer.redact import without_secrets
from deliverer.store import mongo_schema
from deliverer.store.admission import (
    RECENCY_FIELDS,
    Admission,
    Essentials,
    admit,
    essentials_of,
    key_of,
    newest_per_order,
)
from deliverer.store.base import (
    DEFAULT_HISTORY_LIMIT,
    EXPORT_COLUMNS,
    START_POSITION,
    Counts,
    Handover,
    HistoryCursor,
    InsertResult,
    InvalidPosition,
    OrderCourier,
    RejectedReport,
    ReportKey,
    StoredReport,
    StoreUnavailable,
    TripTotals,
)
from deliverer.store.mongo_errors import MongoWriteRefused, duplicates_of, guarded
from deliverer.store.mongo_schema import INDEXES, StoreNotMigrated
from deliverer.store.mongo_trips import TRIP_ORDER, TRIPS, totals_of_document, update_trips
from deliverer.store.mongo_trips import report_document as _document
from deliverer.store.mongo_trips import report_of as _report
from deliverer.timestamps import epoch_ms, from_epoch_ms
from deliverer.usage import UsageError

__all__ = ["INDEXES", "MongoStore", "MongoWriteRefused", "StoreNotMigrated", "Timeouts", "client_options"]

DEFAULT_DATABASE = "deliverer"
DELETE_BATCH = 1000
"""Documents per delete request: each is a retryable write that answers well within the socket timeout."""
CLAIM_ATTEMPTS = 3
WHOLE_HISTORY_READ = timedelta(minutes=10)
"""Bound of the one read that visits every stored report (the days an export or prune must see)."""


@dataclass(frozen=True)
class Timeouts:
    """Bounds on the client's waits, in milliseconds. The subscriber has one thread: without them a
    half-open connection holds it until the kernel gives up on the peer (many minutes)."""

    server_selection_ms: int = 5_000
    """Finding a server that takes writes."""
    connect_ms: int = 5_000
    """The TCP and TLS handshake."""
    socket_ms: int = 30_000
    """Any one reply; the connection is then given up and the call is an outage."""
    write_concern_ms: int = 10_000
    """The majority's acknowledgement; beyond it the server answers with a write concern error."""


MIGRATION_TIMEOUTS = Timeouts(socket_ms=3_600_000)
"""An index build answers only when built: on a large collection that takes a while."""

_URL_SPELLINGS: dict[str, tuple[str, ...]] = {
    "w": ("w",),
    "journal": ("journal",),
    "serverSelectionTimeoutMS": ("serverselectiontimeoutms",),
    "connectTimeoutMS": ("connecttimeoutms",),
    # timeoutMS bounds whole operations, retries included, in place of both.
    "socketTimeoutMS": ("sockettimeoutms", "timeoutms"),
    "wTimeoutMS": ("wtimeoutms", "timeoutms"),
    "appname": ("appname",),
}


LIVE_SETTLE = timedelta(seconds=1)
"""How old a stored report must be before live streams see it. Replicas stamp ``ingested_at``
before their batch commits, so a batch stamped earlier can become visible after a later one;
waiting this long lets it land before the tail moves past its stamp."""


def client_options(url: str, timeouts: Timeouts = Timeouts()) -> dict[str, Any]:
    """MongoClient options: journaled majority writes and bounded waits, unless the URL sets its own.

    ``w: "majority"`` waits for a majority of a replica set; a standalone server takes it as an
    acknowledgement after the journal write. A URL that gives up durability is refused.
    """
    given = {name.lower(): value for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    if given.get("w") == "0":
        raise UsageError(
            "the MongoDB store URL sets w=0: writes would not be acknowledged, so a lost report would go unnoticed"
            " (leave w out for majority, or give a number of servers)"
        )
    if given.get("journal", "").lower() == "false":
        raise UsageError(
            "the MongoDB store URL sets journal=false: a report is acknowledged to the broker only once it is"
            " journaled (leave journal out)"
        )
    defaults: dict[str, Any] = {
        "w": "majority",
        "journal": True,
        "serverSelectionTimeoutMS": timeouts.server_selection_ms,
        "connectTimeoutMS": timeouts.connect_ms,
        "socketTimeoutMS": timeouts.socket_ms,
        "wTimeoutMS": timeouts.write_concern_ms,
        "appname": "deliverer",
    }
    options = {name: value for name, value in defaults.items() if not set(_URL_SPELLINGS[name]) & set(given)}
    return {**options, "tz_aware": True}


def _older_than(doc: dict[str, Any]) -> dict[str, Any]:
    """Filter matching a stored last location that ``doc`` should replace: one before it by
    :data:`~deliverer.store.admission.RECENCY_FIELDS`, compared field by field in turn."""
    return {
        "$or": [
            {**{name: doc[name] for name in RECENCY_FIELDS[:place]}, field: {"$lt": doc[field]}}
            for place, field in enumerate(RECENCY_FIELDS)
        ]
    }


def letter_keys(letters: Sequence[RejectedReport]) -> list[str]:
    """What identifies each dead letter of one write across attempts at it: what it says and
    carries, and how many identical ones came before it in the write. Not when it was received,
    which changes from one attempt to the next (the subscriber sorts a redelivered batch again)."""
    seen: Counter[str] = Counter()
    keys = []
    for letter in letters:
        digest = hashlib.sha256()
        for part in (letter.topic, letter.reason, letter.message, str(letter.payload_size)):
            encoded = part.encode("utf-8", "backslashreplace")
            digest.update(len(encoded).to_bytes(8, "big") + encoded)
        digest.update(letter.payload)
        content = digest.hexdigest()[:32]
        keys.append(f"{content}-{seen[content]}")
        seen[content] += 1
    return keys


def _rejected_entry(doc: dict[str, Any]) -> RejectedReport:
    return RejectedReport(
        received_at=doc["received_at"],
        topic=doc["topic"],
        reason=doc["reason"],
        message=doc["message"],
        payload=bytes(doc["payload"]),
        payload_size=doc["payload_size"],
        id=str(doc["_id"]),
    )


def _position(doc: dict[str, Any]) -> str:
    ms = epoch_ms(doc["ingested_at"])
    return f"{ms:013d}{doc['_id']}"


def _parse_position(position: str) -> tuple[datetime, ObjectId]:
    ms, key = position[:13], position[13:]
    if len(position) != 37 or not (ms.isascii() and ms.isdigit()) or not ObjectId.is_valid(key):
        raise InvalidPosition(f"not a position of this store: {position[:40]!r}")
    return from_epoch_ms(int(ms)), ObjectId(key)


class MongoStore:
    def __init__(self, url: str, timeouts: Timeouts = Timeouts(), verify_indexes: bool = True) -> None:
        """Connect to the database the URL names (``deliverer`` when it names none).

        ``verify_indexes=False`` is for the migration alone: every other user gets a store whose
        indexes were checked, or StoreNotMigrated.
        """
        try:
            client: MongoClient[dict[str, Any]] = MongoClient(url, **client_options(url, timeouts))
        except (ConfigurationError, ValueError) as exc:  # ValueError: a port or an IPv6 host that does not parse
            if isinstance(exc, UsageError):
                raise
            message = str(exc).replace(url, without_secrets(url))
            raise UsageError(f"invalid MongoDB store URL {without_secrets(url)!r}: {message}") from None
        try:
            try:
                database = client.get_default_database(default=DEFAULT_DATABASE)
            except (ConfigurationError, InvalidName) as exc:
                raise UsageError(f"invalid MongoDB store URL: {exc}") from exc
            self._bind(client, database)
            if verify_indexes:
                self.verify_indexes()
        except BaseException:
            client.close()
            raise

    @classmethod
    def over(cls, database: Any, client: Any = None) -> MongoStore:
        """A store over an open database, as it is (unit tests pass doubles of pymongo's objects)."""
        store = cls.__new__(cls)
        store._bind(client, database)
        return store

    def _bind(self, client: Any, database: Any) -> None:
        self._client = client
        self._database = database
        self._locations = database["locations"]
        self._last = database["last_locations"]
        self._rejected = database["rejected"]
        self._attempts = database["delivery_attempts"]
        self._orders = database["orders"]
        self._handovers = database["order_handovers"]
        self._trips = database[TRIPS]

    def __repr__(self) -> str:
        return f"MongoStore({self._database.name!r})"

    def verify_indexes(self) -> None:
        """Raise StoreNotMigrated, naming each index and the fix, unless the indexes are this release's."""
        mongo_schema.verify_indexes(self._database)

    def migrate(self) -> list[str]:
        """Bring the indexes and data to this release (``deliverer store migrate``); the steps taken."""
        return mongo_schema.migrate(self._database)

    def _guard(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(call, "__name__", "")
        return guarded(name if name.isidentifier() else "read", call, *args, **kwargs)

    def insert_batch(
        self, reports: Sequence[LocationReport], rejected: Sequence[RejectedReport] = ()
    ) -> InsertResult:
        now = datetime.now(UTC)
        admission, stored = self._admit(reports, now)
        accepted = admission.accepted
        duplicates = admission.duplicates
        refused = list(admission.refused)
        if accepted:
            raced = self._insert_history(accepted, now)
            if raced:
                # Taken by another writer between our read and our insert: the same report or not.
                again = self._stored_versions([accepted[i] for i in raced])
                for index, error in raced.items():
                    report = accepted[index]
                    version = again.get(key_of(report))
                    if version is None:  # the duplicate key is another unique index's, not the report's
                        raise MongoWriteRefused("history insert", error)
                    if version == essentials_of(report):
                        duplicates += 1
                        stored[key_of(report)] = version
                    else:
                        refused.extend(admit([report], again, {}, now).refused)
                accepted = [r for i, r in enumerate(accepted) if i not in raced]
        # Stored duplicates take part: a retry of a batch whose history was written, but not its last
        # locations or trips, finishes the job; for any other, replacing with the same report changes
        # nothing, and a trip tells what it counted (mongo_trips).
        given_again = [r for r in reports if stored.get(key_of(r)) == essentials_of(r)]
        self._update_last_locations([*accepted, *given_again], now)
        update_trips(self._database, accepted, given_again)
        self._insert_letters([*rejected, *refused])
        return InsertResult(
            inserted=len(accepted), duplicates=duplicates, rejected=len(rejected), refused=tuple(refused)
        )

    def _admit(self, reports: Sequence[LocationReport], now: datetime) -> tuple[Admission, dict[ReportKey, Essentials]]:
        """Sort the batch by the admission rules and claim the orders it starts; when another writer
        started some of them first, sort it again by their owners."""
        for _ in range(CLAIM_ATTEMPTS):
            stored = self._stored_versions(reports)
            admission = admit(reports, stored, self._owners(reports), now)
            if self._claim(admission.new_owners, now):
                return admission, stored
        raise StoreUnavailable("MongoDB: other writers kept starting this batch's orders first; retrying")

    def _stored_versions(self, reports: Sequence[LocationReport]) -> dict[ReportKey, Essentials]:
        by_courier: dict[str, list[str]] = {}
        for report in reports:
            by_courier.setdefault(report.deliverer_id, []).append(report.msg_id)
        if not by_courier:
            return {}
        query = {"$or": [{"deliverer_id": d, "msg_id": {"$in": ids}} for d, ids in by_courier.items()]}
        docs = self._guard(lambda: list(self._locations.find(query, {"_id": False, "ingested_at": False})))
        return {key_of(report): essentials_of(report) for report in map(_report, docs)}

    def _owners(self, reports: Sequence[LocationReport]) -> dict[str, str]:
        orders = list(dict.fromkeys(r.order_id for r in reports))
        if not orders:
            return {}
        docs = self._guard(lambda: list(self._orders.find({"_id": {"$in": orders}}, {"deliverer_id": True})))
        return {doc["_id"]: doc["deliverer_id"] for doc in docs}

    def _claim(self, new_owners: dict[str, str], now: datetime) -> bool:
        """Record the owners of new orders; False when another writer claimed some of them first."""
        if not new_owners:
            return True
        docs = [{"_id": order, "deliverer_id": courier, "since": now} for order, courier in new_owners.items()]
        return not duplicates_of("order claims", self._orders.insert_many, docs, ordered=False)

    def _insert_history(self, accepted: Sequence[LocationReport], now: datetime) -> dict[int, dict[str, Any]]:
        """Insert the accepted reports; the duplicate-key errors, by index in ``accepted``."""
        docs = [{**_document(r), "ingested_at": now} for r in accepted]
        return duplicates_of("history insert", self._locations.insert_many, docs, ordered=False)

    def _update_last_locations(self, candidates: Sequence[LocationReport], now: datetime) -> None:
        """Replace each order's last location, whole, by its newest candidate when that is newer.

        The filter matches only an older stored document: when the stored one is newer, the upsert
        tries to insert a second document with the order's _id and fails with a duplicate key, the
        "keep the newer one" answer. A duplicate key also answers the loser of two writers creating
        one order's document at once, whose report may be the newer one, and MongoDB does not retry
        an upsert with this filter itself: so those requests are tried once more. The document now
        exists (a last location is deleted only by a handover, after which this order's reports come
        from another courier), so a second duplicate key means it is newer.
        """
        pending = [
            ReplaceOne(
                {"_id": doc["order_id"], **_older_than(doc)}, {"_id": doc["order_id"], **doc, "updated_at": now},
                upsert=True,
            )
            for doc in map(_document, newest_per_order(candidates))
        ]
        for _attempt in range(2):
            if not pending:
                return
            raced = duplicates_of("last-location update", self._last.bulk_write, pending, ordered=False)
            pending = [pending[i] for i in sorted(raced)]

    def _insert_letters(self, letters: Sequence[RejectedReport]) -> None:
        """Insert dead letters; one stored by an earlier attempt at this write is a duplicate key."""
        if not letters:
            return
        docs = [
            {
                "received_at": r.received_at,
                "topic": r.topic,
                "reason": r.reason,
                "message": r.message,
                "payload": Binary(r.payload),
                "payload_size": r.payload_size,
                "letter_key": key,
            }
            for r, key in zip(letters, letter_keys(letters), strict=True)
        ]
        duplicates_of("dead-letter insert", self._rejected.insert_many, docs, ordered=False)

    def order_courier(self, order_id: str) -> OrderCourier | None:
        doc = self._guard(self._orders.find_one, {"_id": order_id})
        if doc is None:
            return None
        cursor = self._handovers.find({"order_id": order_id}).sort("_id", ASCENDING)
        handovers = tuple(Handover(h["from"], h["to"], h["at"]) for h in self._guard(list, cursor))
        return OrderCourier(order_id, doc["deliverer_id"], doc["since"], handovers)

    def hand_over(self, order_id: str, deliverer_id: str, at: datetime) -> OrderCourier:
        previous = self._set_owner(order_id, deliverer_id, at)
        previous_courier = previous["deliverer_id"] if previous else None
        if previous_courier != deliverer_id:
            self._guard(
                self._handovers.insert_one,
                {"order_id": order_id, "from": previous_courier, "to": deliverer_id, "at": at},
            )
            self._follow_owner(order_id, deliverer_id)
        courier = self.order_courier(order_id)
        assert courier is not None
        return courier

    def _follow_owner(self, order_id: str, deliverer_id: str) -> None:
        """The order's last location becomes its new courier's newest report, or none until it reports:
        a previous courier's position (a squatter's, dated ahead) must not stay the order's. Only a
        document of another courier is replaced or deleted: one of this courier's, written by a report
        stored meanwhile, is already right (the upsert then fails with a duplicate key)."""
        newest = self._newest_of(order_id, deliverer_id)
        not_theirs = {"_id": order_id, "deliverer_id": {"$ne": deliverer_id}}
        if newest is None:
            self._guard(self._last.delete_one, not_theirs)
            return

        def replace_unless_theirs() -> None:
            with contextlib.suppress(DuplicateKeyError):
                self._last.replace_one(
                    not_theirs, {"_id": order_id, **_document(newest), "updated_at": datetime.now(UTC)}, upsert=True
                )

        self._guard(replace_unless_theirs)

    def _newest_of(self, order_id: str, deliverer_id: str) -> LocationReport | None:
        cursor = (
            self._locations.find(
                {"order_id": order_id, "deliverer_id": deliverer_id}, {"_id": False, "ingested_at": False}
            )
            .sort([(name, DESCENDING) for name in RECENCY_FIELDS])
            .limit(1)
        )
        docs = self._guard(list, cursor)
        return _report(docs[0]) if docs else None

    def _set_owner(self, order_id: str, deliverer_id: str, at: datetime) -> dict[str, Any] | None:
        """The order's owner document before: two first handovers of one order at once race to create
        it, and the loser's upsert fails with a duplicate key; tried again, it finds the document."""
        change = ({"_id": order_id}, {"$set": {"deliverer_id": deliverer_id, "since": at}})
        try:
            previous: dict[str, Any] | None = self._orders.find_one_and_update(*change, upsert=True)
            return previous
        except DuplicateKeyError:
            pass
        except PyMongoError as exc:
            raise StoreUnavailable(f"MongoDB handover: {exc}") from exc
        again: dict[str, Any] | None = self._guard(self._orders.find_one_and_update, *change, upsert=True)
        return again

    def last_location(self, order_id: str) -> LocationReport | None:
        doc = self._guard(self._last.find_one, {"_id": order_id})
        return _report(doc) if doc else None

    def trip_totals(self, order_id: str) -> TripTotals | None:
        doc = self._guard(self._trips.find_one, {"_id": order_id})
        return totals_of_document(doc) if doc else None

    def history(
        self,
        order_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_HISTORY_LIMIT,
        after: HistoryCursor | None = None,
    ) -> list[LocationReport]:
        if limit <= 0:  # MongoDB reads limit(0) as "no limit"
            return []
        query: dict[str, Any] = {"order_id": order_id}
        window: dict[str, Any] = {}
        if since is not None:
            window["$gte"] = since
        if until is not None:
            window["$lt"] = until
        if window:
            query["timestamp"] = window
        if after is not None:
            query["$or"] = [
                {"timestamp": {"$gt": after.timestamp}},
                {"timestamp": after.timestamp, "msg_id": {"$gt": after.msg_id}},
                {"timestamp": after.timestamp, "msg_id": after.msg_id, "deliverer_id": {"$gt": after.deliverer_id}},
            ]
        cursor = (
            self._locations.find(query, {"_id": False, "ingested_at": False})
            .sort(TRIP_ORDER)
            .limit(limit)
        )
        return [_report(doc) for doc in self._guard(list, cursor)]

    def rejected(
        self, limit: int = 100, reason: str | None = None, since: datetime | None = None
    ) -> list[RejectedReport]:
        if limit <= 0:
            return []
        query: dict[str, Any] = {}
        if reason is not None:
            query["reason"] = reason
        if since is not None:
            query["received_at"] = {"$gte": since}
        # _id breaks ties as SQLite's row id does: ObjectIds are made in the order documents are written.
        cursor = self._rejected.find(query).sort([("received_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [_rejected_entry(d) for d in self._guard(list, cursor)]

    def rejected_entry(self, entry_id: str) -> RejectedReport | None:
        try:
            key = ObjectId(entry_id)
        except (InvalidId, TypeError):
            return None
        doc = self._guard(self._rejected.find_one, {"_id": key})
        return _rejected_entry(doc) if doc else None

    def delete_rejected(self, entry_ids: Sequence[str]) -> int:
        keys = [ObjectId(i) for i in entry_ids if ObjectId.is_valid(i)]
        if not keys:
            return 0
        return int(self._guard(self._rejected.delete_many, {"_id": {"$in": keys}}).deleted_count)

    def trim_rejected(self, older_than: datetime, keep_newest: int) -> int:
        trimmed = int(self._guard(self._rejected.delete_many, {"received_at": {"$lt": older_than}}).deleted_count)
        newest_first = [("received_at", DESCENDING), ("_id", DESCENDING)]
        cursor = self._rejected.find({}, {"received_at": True}).sort(newest_first).skip(max(0, keep_newest)).limit(1)
        first_dropped = self._guard(list, cursor)
        if first_dropped:
            at, key = first_dropped[0]["received_at"], first_dropped[0]["_id"]
            beyond = {"$or": [{"received_at": {"$lt": at}}, {"received_at": at, "_id": {"$lte": key}}]}
            trimmed += int(self._guard(self._rejected.delete_many, beyond).deleted_count)
        self._guard(self._attempts.delete_many, {"last_at": {"$lt": older_than}})
        return trimmed

    def delivery_attempts(self, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        docs = self._guard(lambda: list(self._attempts.find({"_id": {"$in": list(keys)}})))
        return {doc["_id"]: int(doc["attempts"]) for doc in docs}

    def record_delivery_attempts(self, keys: Sequence[str]) -> None:
        if keys:
            now = datetime.now(UTC)
            self._guard(
                self._attempts.bulk_write,
                [UpdateOne({"_id": k}, {"$inc": {"attempts": 1}, "$set": {"last_at": now}}, upsert=True) for k in keys],
                ordered=False,
            )

    def forget_delivery_attempts(self, keys: Sequence[str]) -> None:
        if keys:
            self._guard(self._attempts.bulk_write, [DeleteOne({"_id": k}) for k in keys], ordered=False)

    def counts(self) -> Counts:
        return Counts(
            locations=self._guard(self._locations.count_documents, {}),
            orders=self._guard(self._last.count_documents, {}),
            rejected=self._guard(self._rejected.count_documents, {}),
        )

    def scan(self, start: datetime, end: datetime, batch_size: int = 10_000) -> Iterator[tuple[Any, ...]]:
        cursor = (
            self._locations.find({"timestamp": {"$gte": start, "$lt": end}}, {"_id": False})
            .sort("timestamp", ASCENDING)
            .batch_size(batch_size)
        )
        try:
            for doc in cursor:
                doc["timestamp"] = doc["timestamp"].astimezone(UTC)
                doc["ingested_at"] = doc["ingested_at"].astimezone(UTC)
                yield tuple(doc.get(name) for name in EXPORT_COLUMNS)
        except PyMongoError as exc:
            raise StoreUnavailable(f"MongoDB scan failed: {exc}") from exc

    def count_between(self, start: datetime, end: datetime) -> int:
        return int(self._guard(self._locations.count_documents, {"timestamp": {"$gte": start, "$lt": end}}))

    def event_days_ingested_since(self, ingested_after: datetime) -> list[str]:
        pipeline: list[dict[str, Any]] = [
            {"$match": {"ingested_at": {"$gte": ingested_after}}},
            {"$group": {"_id": {"$dateToString": {"format": "%Y-%m-%d", "date": "$timestamp"}}}},
            {"$sort": {"_id": 1}},
        ]
        # The server answers only once it has grouped every matching report: from the epoch (prune),
        # that is the whole history, longer than one reply may take on any other path.
        with pymongo.timeout(WHOLE_HISTORY_READ.total_seconds()):
            return [doc["_id"] for doc in self._guard(lambda: list(self._locations.aggregate(pipeline)))]

    def delete_between(self, start: datetime, end: datetime) -> int:
        """In requests of DELETE_BATCH documents, each answered within the socket timeout and retried
        by the driver after a stepdown; one delete_many of a whole day is neither. A call that fails
        half-way leaves the rest of the range, which the next call deletes."""
        window = {"timestamp": {"$gte": start, "$lt": end}}
        deleted = 0
        while True:
            batch = self._guard(
                lambda: list(self._locations.find(window, {"_id": True, "order_id": True}).limit(DELETE_BATCH))
            )
            if not batch:
                return deleted
            self._mark_pruned(doc["order_id"] for doc in batch)
            result = self._guard(
                self._locations.bulk_write, [DeleteOne({"_id": doc["_id"]}) for doc in batch], ordered=False
            )
            deleted += int(result.deleted_count)

    def last_location_of_deliverer(self, deliverer_id: str) -> LocationReport | None:
        cursor = (
            self._locations.find({"deliverer_id": deliverer_id}, {"_id": False, "ingested_at": False})
            .sort([(name, DESCENDING) for name in RECENCY_FIELDS])
            .limit(1)
        )
        docs = self._guard(list, cursor)
        return _report(docs[0]) if docs else None

    def orders_by_recency(
        self,
        since: datetime | None = None,
        active_only: bool = False,
        limit: int = 100,
        after: HistoryCursor | None = None,
    ) -> list[LocationReport]:
        if limit <= 0:
            return []
        query: dict[str, Any] = {}
        if since is not None:
            query["timestamp"] = {"$gte": since}
        if active_only:
            query["delivery_state"] = {"$ne": DeliveryState.ARRIVED.value}
        if after is not None:
            query["$or"] = [
                {"timestamp": {"$lt": after.timestamp}},
                {"timestamp": after.timestamp, "_id": {"$lt": after.msg_id}},
            ]
        cursor = self._last.find(query).sort([("timestamp", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [_report(doc) for doc in self._guard(list, cursor)]

    def head_position(self) -> str:
        cursor = (
            self._locations.find({"ingested_at": {"$lte": datetime.now(UTC) - LIVE_SETTLE}}, {"ingested_at": True})
            .sort([("ingested_at", DESCENDING), ("_id", DESCENDING)])
            .limit(1)
        )
        docs = self._guard(list, cursor)
        return _position(docs[0]) if docs else START_POSITION

    def reports_stored_after(
        self, position: str, order_id: str | None = None, limit: int = 1000
    ) -> list[StoredReport]:
        """Positions are (ingested_at, _id), fixed width; only reports settled for ``LIVE_SETTLE``."""
        query: dict[str, Any] = {"ingested_at": {"$lte": datetime.now(UTC) - LIVE_SETTLE}}
        if position != START_POSITION:
            at, key = _parse_position(position)
            query["$or"] = [{"ingested_at": {"$gt": at}}, {"ingested_at": at, "_id": {"$gt": key}}]
        if order_id is not None:
            query["order_id"] = order_id
        cursor = self._locations.find(query).sort([("ingested_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [StoredReport(_position(doc), _report(doc)) for doc in self._guard(list, cursor)]

    def ping(self) -> None:
        self._guard(self._database.command, "ping")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def delete_reports(self, keys: Iterable[ReportKey]) -> int:
        # No multi-document transaction (it needs a replica set and caps its size): each batch is one
        # delete_many by key, and deleting a key already gone is a no-op, so a retried call resumes.
        deleted = 0
        remaining = iter(keys)
        while batch := list(islice(remaining, DELETE_BATCH)):
            ids_by_courier: dict[str, list[str]] = {}
            for deliverer_id, msg_id in batch:
                ids_by_courier.setdefault(deliverer_id, []).append(msg_id)
            query = {
                "$or": [
                    {"deliverer_id": deliverer_id, "msg_id": {"$in": ids}}
                    for deliverer_id, ids in ids_by_courier.items()
                ]
            }
            found = self._guard(lambda q=query: list(self._locations.find(q, {"_id": False, "order_id": True})))
            self._mark_pruned(doc["order_id"] for doc in found)
            deleted += int(self._guard(self._locations.delete_many, query).deleted_count)
        return deleted

    def _mark_pruned(self, order_ids: Iterable[str]) -> None:
        """Mark the trips of orders whose history is about to be deleted, before it is: a trip marked and
        not pruned (the delete failed) only counts later reports inside it without their legs, where one
        pruned and not marked would be recomputed from what is left. The version changes, so a writer
        that read the trip before recomputes it from a fresh read."""
        orders = list(set(order_ids))
        if orders:
            self._guard(
                self._trips.update_many,
                {"_id": {"$in": orders}, "pruned": {"$ne": True}},
                {"$set": {"pruned": True}, "$inc": {"version": 1}},
            )
