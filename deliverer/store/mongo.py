"""MongoDB backend (pymongo): production and the Docker Compose stack.

Collections: ``locations`` (history, unique ``msg_id``), ``last_locations`` (``_id`` is the
order id, replaced only by a newer report) and ``rejected``. A batch is an unordered
``insert_many`` (duplicates are counted, not fatal) followed by one conditional upsert per
order. Both steps are idempotent, so a batch retried after a crash between them converges
to the same state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.binary import Binary
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, DeleteOne, IndexModel, MongoClient, UpdateOne
from pymongo.errors import BulkWriteError, PyMongoError

from deliverer.contract import DeliveryState, LocationReport
from deliverer.store.admission import Essentials, Key, admit, essentials_of, key_of, newest_per_order
from deliverer.store.base import (
    DEFAULT_HISTORY_LIMIT,
    EXPORT_COLUMNS,
    Counts,
    Handover,
    HistoryCursor,
    InsertResult,
    OrderCourier,
    RejectedReport,
    StoreUnavailable,
)

DEFAULT_DATABASE = "deliverer"
LEGACY_MSG_ID_INDEX = "msg_id_unique"
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
        IndexModel([("deliverer_id", ASCENDING), ("msg_id", ASCENDING)], name="courier_msg_id_unique", unique=True),
        IndexModel([("order_id", ASCENDING), ("timestamp", DESCENDING)], name="order_timestamp"),
        IndexModel([("timestamp", ASCENDING)], name="timestamp"),
        IndexModel([("ingested_at", ASCENDING)], name="ingested_at"),
    ],
    "rejected": [
        IndexModel([("received_at", DESCENDING)], name="received_at"),
        IndexModel([("reason", ASCENDING)], name="reason"),
    ],
    "delivery_attempts": [IndexModel([("last_at", ASCENDING)], name="last_at")],
    "order_handovers": [IndexModel([("order_id", ASCENDING), ("_id", ASCENDING)], name="order")],
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
        self._orders = db["orders"]
        self._handovers = db["order_handovers"]
        self._guard(self.ensure_indexes)

    def __repr__(self) -> str:
        return f"MongoStore({self._locations.database.name!r})"

    def ensure_indexes(self) -> None:
        for name, indexes in INDEXES.items():
            self._locations.database[name].create_indexes(indexes)
        self._migrate_to_courier_keys()

    def _migrate_to_courier_keys(self) -> None:
        """Idempotent: history used to be unique on ``msg_id`` alone, and orders had no owner.

        Runs while the old index exists: the new unique index is already built, each order without
        an owner gets the courier of its earliest report, and only then is the old index dropped,
        so an interrupted migration runs again on the next open.
        """
        if LEGACY_MSG_ID_INDEX not in self._locations.index_information():
            return
        self._locations.aggregate(
            [
                {"$sort": {"order_id": 1, "timestamp": 1, "_id": 1}},
                {"$group": {"_id": "$order_id", "deliverer_id": {"$first": "$deliverer_id"},
                            "since": {"$first": "$ingested_at"}}},
                {"$merge": {"into": self._orders.name, "whenMatched": "keepExisting", "whenNotMatched": "insert"}},
            ],
            allowDiskUse=True,
        )
        self._locations.drop_index(LEGACY_MSG_ID_INDEX)

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
        admission = admit(reports, self._stored_versions(reports), self._owners(reports), now)
        lost_claims = self._claim(admission.new_owners, now)
        if lost_claims:
            # Another replica started some of these orders first: sort the batch again by its owners.
            admission = admit(reports, self._stored_versions(reports), self._owners(reports), now)
            self._claim(admission.new_owners, now)
        accepted = admission.accepted
        duplicates = admission.duplicates
        refused = list(admission.refused)
        if accepted:
            raced = self._insert_history(accepted, now)
            if raced:
                # Taken by another writer between our read and our insert: the same report or not.
                stored = self._stored_versions([accepted[i] for i in raced])
                for index in raced:
                    report = accepted[index]
                    if stored.get(key_of(report)) == essentials_of(report):
                        duplicates += 1
                    else:
                        refused.extend(admit([report], stored, {}, now).refused)
                accepted = [r for i, r in enumerate(accepted) if i not in set(raced)]
            self._update_last_locations(accepted, now)
        letters = [*rejected, *refused]
        if letters:
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
                    for r in letters
                ],
            )
        return InsertResult(
            inserted=len(accepted), duplicates=duplicates, rejected=len(rejected), refused=tuple(refused)
        )

    def _stored_versions(self, reports: Sequence[LocationReport]) -> dict[Key, Essentials]:
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

    def _claim(self, new_owners: dict[str, str], now: datetime) -> list[str]:
        """Record the owners of new orders; the orders another writer claimed first."""
        if not new_owners:
            return []
        docs = [{"_id": order, "deliverer_id": courier, "since": now} for order, courier in new_owners.items()]
        try:
            self._guard(self._orders.insert_many, docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise StoreUnavailable(f"MongoDB order claim failed: {errors[:3]}") from exc
            return [docs[e["index"]]["_id"] for e in errors]
        return []

    def _insert_history(self, accepted: Sequence[LocationReport], now: datetime) -> list[int]:
        """Insert the accepted reports; the indices another writer had stored meanwhile."""
        try:
            self._guard(
                self._locations.insert_many, [{**_document(r), "ingested_at": now} for r in accepted], ordered=False
            )
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise StoreUnavailable(f"MongoDB insert failed: {errors[:3]}") from exc
            return [e["index"] for e in errors]
        return []

    def _update_last_locations(self, accepted: Sequence[LocationReport], now: datetime) -> None:
        # Replace only an older last location. When the stored one is newer, the filter misses,
        # the upsert tries to insert the same _id and fails with a duplicate key: exactly the
        # "keep the newer one" outcome, so those errors are expected.
        newest = [_document(r) for r in newest_per_order(accepted)]
        if not newest:
            return
        try:
            self._guard(
                self._last.bulk_write,
                [
                    UpdateOne(
                        {"_id": doc["order_id"], **_older_than(doc)}, {"$set": {**doc, "updated_at": now}}, upsert=True
                    )
                    for doc in newest
                ],
                ordered=False,
            )
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise StoreUnavailable(f"MongoDB last-location update failed: {errors[:3]}") from exc

    def order_courier(self, order_id: str) -> OrderCourier | None:
        doc = self._guard(self._orders.find_one, {"_id": order_id})
        if doc is None:
            return None
        cursor = self._handovers.find({"order_id": order_id}).sort("_id", ASCENDING)
        handovers = tuple(Handover(h["from"], h["to"], h["at"]) for h in self._guard(list, cursor))
        return OrderCourier(order_id, doc["deliverer_id"], doc["since"], handovers)

    def hand_over(self, order_id: str, deliverer_id: str, at: datetime) -> OrderCourier:
        previous = self._guard(
            self._orders.find_one_and_update,
            {"_id": order_id},
            {"$set": {"deliverer_id": deliverer_id, "since": at}},
            upsert=True,
        )
        previous_courier = previous["deliverer_id"] if previous else None
        if previous_courier != deliverer_id:
            self._guard(
                self._handovers.insert_one,
                {"order_id": order_id, "from": previous_courier, "to": deliverer_id, "at": at},
            )
        courier = self.order_courier(order_id)
        assert courier is not None
        return courier

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

    def ping(self) -> None:
        self._guard(self._client.admin.command, "ping")

    def close(self) -> None:
        self._client.close()
