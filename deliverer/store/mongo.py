"""MongoDB backend (pymongo): production and the Docker Compose stack.

Collections: ``locations`` (history, unique ``msg_id``), ``last_locations`` (``_id`` is the
order id, replaced only by a newer report) and ``rejected``. A batch is an unordered
``insert_many`` (duplicates are counted, not fatal) followed by one conditional upsert per
order. Both steps are idempotent, so a batch retried after a crash between them converges
to the same state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.binary import Binary
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, DeleteOne, IndexModel, MongoClient, UpdateOne
from pymongo.errors import BulkWriteError, PyMongoError

from deliverer.contract import DeliveryState, LocationReport
from deliverer.store.base import (
    DEFAULT_HISTORY_LIMIT,
    EXPORT_COLUMNS,
    START_POSITION,
    Counts,
    HistoryCursor,
    InsertResult,
    InvalidPosition,
    RejectedReport,
    StoredReport,
    StoreUnavailable,
)

DEFAULT_DATABASE = "deliverer"
DUPLICATE_KEY = 11000
REPORT_FIELDS = (
    "msg_id",
    "order_id",
    "deliverer_id",
    "delivery_state",
    "timestamp",
    "latitude",
    "longitude",
    "speed_kmh",
    "heading",
    "accuracy_m",
    "seq",
)

INDEXES: dict[str, list[IndexModel]] = {
    "locations": [
        IndexModel([("msg_id", ASCENDING)], name="msg_id_unique", unique=True),
        IndexModel([("order_id", ASCENDING), ("timestamp", DESCENDING)], name="order_timestamp"),
        IndexModel([("timestamp", ASCENDING)], name="timestamp"),
        IndexModel([("ingested_at", ASCENDING)], name="ingested_at"),
    ],
    "rejected": [
        IndexModel([("received_at", DESCENDING)], name="received_at"),
        IndexModel([("reason", ASCENDING)], name="reason"),
    ],
    "delivery_attempts": [IndexModel([("last_at", ASCENDING)], name="last_at")],
}
INDEXES["locations"] += [
    IndexModel([("deliverer_id", ASCENDING), ("timestamp", DESCENDING)], name="deliverer_timestamp"),
    IndexModel([("ingested_at", ASCENDING), ("_id", ASCENDING)], name="ingest_order"),
    IndexModel([("order_id", ASCENDING), ("ingested_at", ASCENDING), ("_id", ASCENDING)], name="order_ingest_order"),
]
INDEXES["last_locations"] = [IndexModel([("timestamp", DESCENDING), ("_id", DESCENDING)], name="recent")]

LIVE_SETTLE = timedelta(seconds=1)
"""How old a stored report must be before live streams see it. Replicas stamp ``ingested_at``
before their batch commits, so a batch stamped earlier can become visible after a later one;
waiting this long lets it land before the tail moves past its stamp."""
"""The indexes the store creates; ``mongodb/init/01-indexes.js`` must declare the same ones."""


def _document(report: LocationReport) -> dict[str, Any]:
    doc = {name: getattr(report, name) for name in REPORT_FIELDS}
    doc["delivery_state"] = report.delivery_state.value
    return {k: v for k, v in doc.items() if v is not None}


def _report(doc: dict[str, Any]) -> LocationReport:
    values = {name: doc[name] for name in REPORT_FIELDS if doc.get(name) is not None}
    values["timestamp"] = values["timestamp"].astimezone(UTC)
    values["delivery_state"] = DeliveryState(values["delivery_state"])
    return LocationReport.model_construct(**values)


def _older_than(doc: dict[str, Any]) -> dict[str, Any]:
    """Filter matching a stored last location that ``doc`` should replace."""
    return {
        "$or": [
            {"timestamp": {"$lt": doc["timestamp"]}},
            {"timestamp": doc["timestamp"], "msg_id": {"$lt": doc["msg_id"]}},
        ]
    }


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
    ms = int(doc["ingested_at"].timestamp() * 1000)
    return f"{ms:013d}{doc['_id']}"


def _parse_position(position: str) -> tuple[datetime, ObjectId]:
    ms, key = position[:13], position[13:]
    if len(position) != 37 or not (ms.isascii() and ms.isdigit()) or not ObjectId.is_valid(key):
        raise InvalidPosition(f"not a position of this store: {position[:40]!r}")
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC), ObjectId(key)


class MongoStore:
    def __init__(self, url: str, server_selection_timeout_ms: int = 5000) -> None:
        self.url = url
        self._client: MongoClient[dict[str, Any]] = MongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=server_selection_timeout_ms, appname="deliverer"
        )
        db = self._client.get_default_database(default=DEFAULT_DATABASE)
        self._locations = db["locations"]
        self._last = db["last_locations"]
        self._rejected = db["rejected"]
        self._attempts = db["delivery_attempts"]
        self._guard(self.ensure_indexes)

    def __repr__(self) -> str:
        return f"MongoStore({self._locations.database.name!r})"

    def ensure_indexes(self) -> None:
        for name, indexes in INDEXES.items():
            self._locations.database[name].create_indexes(indexes)

    def _guard(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except BulkWriteError:
            raise
        except PyMongoError as exc:
            raise StoreUnavailable(f"MongoDB: {exc}") from exc

    def insert_batch(
        self, reports: Sequence[LocationReport], rejected: Sequence[RejectedReport] = ()
    ) -> InsertResult:
        now = datetime.now(UTC)
        docs = [_document(r) for r in reports]
        inserted = 0
        if docs:
            try:
                result = self._guard(
                    self._locations.insert_many, [{**d, "ingested_at": now} for d in docs], ordered=False
                )
                inserted = len(result.inserted_ids)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise StoreUnavailable(f"MongoDB insert failed: {errors[:3]}") from exc
                inserted = exc.details.get("nInserted", 0)
            newest: dict[str, dict[str, Any]] = {}
            for doc in docs:
                current = newest.get(doc["order_id"])
                if current is None or (doc["timestamp"], doc["msg_id"]) > (current["timestamp"], current["msg_id"]):
                    newest[doc["order_id"]] = doc
            # Replace only an older last location. When the stored one is newer, the filter
            # misses, the upsert tries to insert the same _id and fails with a duplicate key:
            # exactly the "keep the newer one" outcome, so those errors are expected.
            try:
                self._guard(
                    self._last.bulk_write,
                    [
                        UpdateOne(
                            {"_id": order_id, **_older_than(doc)},
                            {"$set": {**doc, "updated_at": now}},
                            upsert=True,
                        )
                        for order_id, doc in newest.items()
                    ],
                    ordered=False,
                )
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise StoreUnavailable(f"MongoDB last-location update failed: {errors[:3]}") from exc
        if rejected:
            self._guard(
                self._rejected.insert_many,
                [
                    {
                        "received_at": r.received_at,
                        "topic": r.topic,
                        "reason": r.reason,
                        "message": r.message,
                        "payload": Binary(r.payload),
                        "payload_size": r.payload_size,
                    }
                    for r in rejected
                ],
            )
        return InsertResult(inserted=inserted, duplicates=len(docs) - inserted, rejected=len(rejected))

    def last_location(self, order_id: str) -> LocationReport | None:
        doc = self._guard(self._last.find_one, {"_id": order_id})
        return _report(doc) if doc else None

    def history(
        self,
        order_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_HISTORY_LIMIT,
        after: HistoryCursor | None = None,
    ) -> list[LocationReport]:
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
            ]
        cursor = (
            self._locations.find(query, {"_id": False, "ingested_at": False})
            .sort([("timestamp", ASCENDING), ("msg_id", ASCENDING)])
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
        return [doc["_id"] for doc in self._guard(lambda: list(self._locations.aggregate(pipeline)))]

    def delete_between(self, start: datetime, end: datetime) -> int:
        result = self._guard(self._locations.delete_many, {"timestamp": {"$gte": start, "$lt": end}})
        return int(result.deleted_count)

    def last_location_of_deliverer(self, deliverer_id: str) -> LocationReport | None:
        cursor = (
            self._locations.find({"deliverer_id": deliverer_id}, {"_id": False, "ingested_at": False})
            .sort([("timestamp", DESCENDING), ("msg_id", DESCENDING)])
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
        self._guard(self._client.admin.command, "ping")

    def close(self) -> None:
        self._client.close()
