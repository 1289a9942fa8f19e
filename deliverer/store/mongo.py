"""MongoDB backend (pymongo): production and the Docker Compose stack.

Collections: ``locations`` (history, unique ``msg_id``), ``last_locations`` (``_id`` is the
order id, replaced only by a newer report) and ``rejected``. A batch is an unordered
``insert_many`` (duplicates are counted, not fatal) followed by one conditional upsert per
order. Both steps are idempotent, so a batch retried after a crash between them converges
to the same state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from bson.binary import Binary
from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient, UpdateOne
from pymongo.errors import BulkWriteError, PyMongoError

from deliverer.contract import DeliveryState, LocationReport
from deliverer.store.base import (
    DEFAULT_HISTORY_LIMIT,
    EXPORT_COLUMNS,
    Counts,
    HistoryCursor,
    InsertResult,
    RejectedReport,
    ReportKey,
    StoreUnavailable,
)

DEFAULT_DATABASE = "deliverer"
DUPLICATE_KEY = 11000
DELETE_BATCH_KEYS = 1000
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
}
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

    def rejected(self, limit: int = 100) -> list[RejectedReport]:
        cursor = self._rejected.find({}, {"_id": False}).sort("received_at", DESCENDING).limit(limit)
        return [
            RejectedReport(
                received_at=d["received_at"],
                topic=d["topic"],
                reason=d["reason"],
                message=d["message"],
                payload=bytes(d["payload"]),
                payload_size=d["payload_size"],
            )
            for d in self._guard(list, cursor)
        ]

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

    def ping(self) -> None:
        self._guard(self._client.admin.command, "ping")

    def close(self) -> None:
        self._client.close()

    def delete_reports(self, keys: Iterable[ReportKey]) -> int:
        # No multi-document transaction (it needs a replica set and caps its size): each batch is one
        # delete_many by key, and deleting a key already gone is a no-op, so a retried call resumes.
        deleted = 0
        remaining = iter(keys)
        while batch := list(islice(remaining, DELETE_BATCH_KEYS)):
            ids_by_courier: dict[str, list[str]] = {}
            for deliverer_id, msg_id in batch:
                ids_by_courier.setdefault(deliverer_id, []).append(msg_id)
            query = {
                "$or": [
                    {"deliverer_id": deliverer_id, "msg_id": {"$in": ids}}
                    for deliverer_id, ids in ids_by_courier.items()
                ]
            }
            deleted += int(self._guard(self._locations.delete_many, query).deleted_count)
        return deleted
