"""Doubles of pymongo's database and collections, for the MongoDB error paths no server here can show.

A collection answers each call with what the test scripted for that method (a value, or one of
pymongo's own exceptions, raised where pymongo raises it: a cursor's error on iteration), and the
method's empty answer otherwise; it records every call. Nothing here imitates MongoDB's query
language: the store's behaviour against a real server is the contract suite's job.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pymongo.errors import BulkWriteError


@dataclass
class Call:
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass
class Outcome:
    """What a scripted call does: return ``value`` or raise ``error``."""

    value: Any = None
    error: BaseException | None = None


class CursorDouble:
    def __init__(self, outcome: Outcome) -> None:
        self._outcome = outcome
        self.limited: int | None = None

    def sort(self, *_args: Any, **_kwargs: Any) -> CursorDouble:
        return self

    def skip(self, _count: int) -> CursorDouble:
        return self

    def limit(self, count: int) -> CursorDouble:
        self.limited = count
        return self

    def batch_size(self, _size: int) -> CursorDouble:
        return self

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._outcome.error is not None:
            raise self._outcome.error
        docs = list(self._outcome.value or [])
        return iter(docs if self.limited in (None, 0) else docs[: abs(self.limited)])


@dataclass
class WriteResultDouble:
    deleted_count: int = 0
    inserted_ids: list[Any] = field(default_factory=list)


DEFAULTS: dict[str, Any] = {
    "find": [],
    "aggregate": [],
    "find_one": None,
    "find_one_and_update": None,
    "count_documents": 0,
}


class CollectionDouble:
    def __init__(self, name: str, database: DatabaseDouble) -> None:
        self.name = name
        self.database = database
        self.calls: list[Call] = []
        self._scripts: dict[str, list[Outcome]] = defaultdict(list)
        self.indexes: dict[str, dict[str, Any]] = {"_id_": {"key": [("_id", 1)], "v": 2}}

    def script(self, method: str, *outcomes: Any) -> None:
        """The next calls of ``method`` return these values, or raise those that are exceptions."""
        for outcome in outcomes:
            scripted = Outcome(error=outcome) if isinstance(outcome, BaseException) else Outcome(value=outcome)
            self._scripts[method].append(scripted)

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def _next(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Outcome:
        self.calls.append(Call(method, args, kwargs))
        if self._scripts[method]:
            return self._scripts[method].pop(0)
        return Outcome(value=DEFAULTS.get(method))

    def _answer(self, method: str, *args: Any, **kwargs: Any) -> Any:
        outcome = self._next(method, args, kwargs)
        if outcome.error is not None:
            raise outcome.error
        return outcome.value

    def find(self, *args: Any, **kwargs: Any) -> CursorDouble:
        return CursorDouble(self._next("find", args, kwargs))

    def aggregate(self, *args: Any, **kwargs: Any) -> CursorDouble:
        return CursorDouble(self._next("aggregate", args, kwargs))

    def find_one(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("find_one", *args, **kwargs)

    def find_one_and_update(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("find_one_and_update", *args, **kwargs)

    def count_documents(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("count_documents", *args, **kwargs)

    def insert_one(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("insert_one", *args, **kwargs) or WriteResultDouble()

    def insert_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("insert_many", *args, **kwargs) or WriteResultDouble()

    def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("bulk_write", *args, **kwargs) or WriteResultDouble()

    def update_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("update_many", *args, **kwargs) or WriteResultDouble()

    def delete_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("delete_many", *args, **kwargs) or WriteResultDouble()

    def delete_one(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("delete_one", *args, **kwargs) or WriteResultDouble()

    def replace_one(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("replace_one", *args, **kwargs) or WriteResultDouble()

    def index_information(self) -> dict[str, dict[str, Any]]:
        self._answer("index_information")
        return {name: dict(spec) for name, spec in self.indexes.items()}

    def list_indexes(self) -> CursorDouble:
        specs = [{**spec, "name": name, "key": dict(spec["key"])} for name, spec in self.indexes.items()]
        outcome = self._next("list_indexes", (), {})
        return CursorDouble(outcome if outcome.error is not None else Outcome(value=specs))

    def create_indexes(self, models: list[Any], **kwargs: Any) -> list[str]:
        self._answer("create_indexes", models, **kwargs)
        for model in models:
            spec = dict(model.document)
            self.indexes[spec.pop("name")] = {**spec, "key": list(spec["key"].items())}
        return [model.document["name"] for model in models]

    def drop_index(self, name: str, **kwargs: Any) -> None:
        self._answer("drop_index", name, **kwargs)
        del self.indexes[name]


class DatabaseDouble:
    def __init__(self, name: str = "deliverer") -> None:
        self.name = name
        self.collections: dict[str, CollectionDouble] = {}

    def __getitem__(self, name: str) -> CollectionDouble:
        if name not in self.collections:
            self.collections[name] = CollectionDouble(name, self)
        return self.collections[name]

    def calls(self) -> list[tuple[str, str]]:
        """Every call on every collection, as (collection, method), in no particular order across collections."""
        return [(c.name, call.method) for c in self.collections.values() for call in c.calls]


def bulk_write_error(
    write_errors: list[dict[str, Any]] = (),  # type: ignore[assignment]
    write_concern_errors: list[dict[str, Any]] = (),  # type: ignore[assignment]
    inserted: int = 0,
) -> BulkWriteError:
    """The error pymongo raises when an unordered bulk write or insert_many reports any error."""
    return BulkWriteError({
        "writeErrors": list(write_errors),
        "writeConcernErrors": list(write_concern_errors),
        "nInserted": inserted,
        "nUpserted": 0,
        "nMatched": 0,
        "nModified": 0,
        "nRemoved": 0,
        "upserted": [],
    })


def duplicate_key(index: int, collection: str, index_name: str, key: dict[str, Any]) -> dict[str, Any]:
    """One write error as the server reports a duplicate key (MongoDB 4.2 and later add the key)."""
    return {
        "index": index,
        "code": 11000,
        "errmsg": f"E11000 duplicate key error collection: deliverer.{collection} index: {index_name} dup key: {key}",
        "keyPattern": dict.fromkeys(key, 1),
        "keyValue": key,
        "op": {},
    }


REPLICATION_TIMED_OUT = {
    "code": 64,
    "codeName": "WriteConcernFailed",
    "errmsg": "waiting for replication timed out",
    "errInfo": {"wtimeout": True, "writeConcern": {"w": "majority", "j": True, "wtimeout": 10000}},
}
PRIMARY_STEPPED_DOWN = {
    "code": 11602,
    "codeName": "InterruptedDueToReplStateChange",
    "errmsg": "operation was interrupted because the node stepped down",
}
