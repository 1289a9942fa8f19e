"""What a pymongo error means to the store: an outage (retry later), a duplicate key (an expected
answer), or a refusal of one document for what it holds (narrowed down by the subscriber).

A bulk write reports per-document ``writeErrors`` and, apart from them, ``writeConcernErrors``:
the documents may then be written but not durably (a primary that steps down before the majority
has them rolls them back), so a write concern error makes the whole write an outage, whatever the
documents' own results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError, WriteConcernError, WriteError

from deliverer.store.base import StoreUnavailable

T = TypeVar("T")

DUPLICATE_KEY = 11000
TRANSIENT_ERROR_CODES = frozenset({
    6,  # HostUnreachable
    7,  # HostNotFound
    24,  # LockTimeout
    50,  # MaxTimeMSExpired
    64,  # WriteConcernFailed
    89,  # NetworkTimeout
    91,  # ShutdownInProgress
    112,  # WriteConflict
    189,  # PrimarySteppedDown
    262,  # ExceededTimeLimit
    9001,  # SocketException
    10107,  # NotWritablePrimary
    11600,  # InterruptedAtShutdown
    11602,  # InterruptedDueToReplStateChange
    13435,  # NotPrimaryNoSecondaryOk
    13436,  # NotPrimaryOrSecondary
})
"""Server error codes that pass with the server's state (MongoDB's retryable-write codes and a few
more): a document refused with one of them is an outage, not a problem of the document."""


class MongoWriteRefused(Exception):
    """MongoDB refused a document for what it holds, not for its own state: retrying the same write
    fails the same way, so the subscriber narrows the batch down and dead-letters that message."""

    def __init__(self, what: str, error: Mapping[str, Any]) -> None:
        self.code = error.get("code")
        super().__init__(f"MongoDB refused the {what}: {error.get('errmsg')} (code {self.code})")


def is_outage(exc: PyMongoError) -> bool:
    """Whether an error is the server's or the network's state rather than the request's (for a
    one-shot step, where a refused command is reported, not retried)."""
    if isinstance(exc, WriteConcernError):
        return True
    if isinstance(exc, OperationFailure):
        return exc.code in TRANSIENT_ERROR_CODES or exc.code is None or exc.has_error_label("RetryableWriteError")
    return True


def document_errors(exc: BulkWriteError, what: str) -> list[dict[str, Any]]:
    """The per-document errors of a bulk write that the server took: raises StoreUnavailable when
    the write as a whole cannot be trusted (write concern not satisfied, or a document failed with
    the server's state)."""
    details = exc.details or {}
    concern = details.get("writeConcernErrors") or []
    if concern:
        raise StoreUnavailable(
            f"MongoDB {what}: write concern not satisfied ({concern[0].get('errmsg')}); what it wrote may be rolled"
            " back, so it is not acknowledged"
        ) from exc
    errors = list(details.get("writeErrors") or [])
    passing = [e for e in errors if e.get("code") in TRANSIENT_ERROR_CODES]
    if passing:
        raise StoreUnavailable(f"MongoDB {what}: {passing[0].get('errmsg')}") from exc
    return errors


def guarded(what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a pymongo call: a refused document becomes MongoWriteRefused, anything else StoreUnavailable.

    A command the server refuses as a whole (not authorised, say) is an outage too: it heals when
    the deployment is put right, and taking it for a problem of the data would dead-letter every report.
    """
    try:
        return call(*args, **kwargs)
    except BulkWriteError as exc:
        errors = document_errors(exc, what)
        raise MongoWriteRefused(what, errors[0] if errors else {"errmsg": str(exc)}) from exc
    except WriteError as exc:
        if exc.code in TRANSIENT_ERROR_CODES:
            raise StoreUnavailable(f"MongoDB {what}: {exc}") from exc
        raise MongoWriteRefused(what, exc.details or {"errmsg": str(exc), "code": exc.code}) from exc
    except PyMongoError as exc:
        raise StoreUnavailable(f"MongoDB {what}: {exc}") from exc


def duplicates_of(what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[int, dict[str, Any]]:
    """Run a bulk write whose duplicate keys are an expected answer: those errors, by request index.
    Any other document error is a refusal; an outage is StoreUnavailable."""
    try:
        call(*args, **kwargs)
    except BulkWriteError as exc:
        errors = document_errors(exc, what)
        refused = [e for e in errors if e.get("code") != DUPLICATE_KEY]
        if refused:
            raise MongoWriteRefused(what, refused[0]) from exc
        return {e["index"]: e for e in errors}
    except PyMongoError as exc:
        raise StoreUnavailable(f"MongoDB {what}: {exc}") from exc
    return {}
