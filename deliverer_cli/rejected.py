"""``deliverer rejected``: list the dead letters, show one, and replay them through the contract again.

Replay is for after a fix (a contract that now accepts what it refused, a courier's clock put
right): each selected dead letter is parsed again exactly as the subscriber would, those that
pass are stored (idempotently) and removed from the dead letters, the others stay and are listed
with their reason.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from deliverer.contract import LocationReport, Rejection, parse_report
from deliverer.durations import parse_duration
from deliverer.printable import printable
from deliverer.settings import STORE_URL
from deliverer.settings.arguments import add_settings
from deliverer.store import RejectedReport, Store, open_store
from deliverer.timestamps import InvalidTimestamp, parse_timestamp
from deliverer.usage import UsageError

DEFAULT_LIMIT = 50
SHOW_PAYLOAD_CHARS = 300


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "rejected", help="list, show and replay the dead letters (reports the subscriber refused)",
        description="The dead letters: every message the subscriber could not store, with its reason.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="newest first")
    add_settings(listing, STORE_URL)
    _selection_flags(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=run_list)

    show = actions.add_parser("show", help="one dead letter, payload included")
    add_settings(show, STORE_URL)
    show.add_argument("id", help="the id `deliverer rejected list` prints")
    show.add_argument("--json", action="store_true", help="one JSON object")
    show.set_defaults(func=run_show)

    replay = actions.add_parser(
        "replay", help="parse selected dead letters again; store those that now pass",
        description="Parse selected dead letters through the contract again: those that pass are stored"
        " and leave the dead letters, the others stay, listed with their reason.",
    )
    add_settings(replay, STORE_URL)
    replay.add_argument("ids", nargs="*", help="dead letters to replay (or select with --reason / --since)")
    _selection_flags(replay)
    replay.add_argument("--dry-run", action="store_true", help="say what would pass, store nothing")
    replay.set_defaults(func=run_replay)


def _selection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", help="only this reason code (not_json, invalid_timestamp, poison, ...)")
    parser.add_argument("--since", type=_moment, help="received at or after: a duration ago (2h, 7d) or RFC 3339")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="at most this many [%(default)s]")


def _moment(text: str) -> datetime:
    try:
        return datetime.now(UTC) - parse_duration(text)
    except ValueError:
        pass
    try:
        return parse_timestamp(text)
    except InvalidTimestamp as exc:
        raise argparse.ArgumentTypeError(f"expected a duration (2h, 7d) or an RFC 3339 time: {exc.message}") from None


def _select(store: Store, args: argparse.Namespace, ids: Sequence[str] = ()) -> list[RejectedReport]:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if ids:
        found = [store.rejected_entry(entry_id) for entry_id in ids]
        missing = [entry_id for entry_id, entry in zip(ids, found, strict=True) if entry is None]
        if missing:
            raise UsageError(f"no dead letter with id {', '.join(missing)}")
        return [entry for entry in found if entry is not None]
    return store.rejected(limit=args.limit, reason=args.reason, since=args.since)


def _as_dict(entry: RejectedReport) -> dict[str, Any]:
    return {
        "id": entry.id,
        "received_at": entry.received_at.astimezone(UTC).isoformat(timespec="milliseconds"),
        "topic": entry.topic,
        "reason": entry.reason,
        "message": entry.message,
        "payload_size": entry.payload_size,
        "payload_truncated": entry.truncated,
        "payload": entry.payload.decode("utf-8", "backslashreplace"),
    }


def run_list(args: argparse.Namespace) -> int:
    store = open_store(args.store, create=False)
    try:
        entries = _select(store, args)
    finally:
        store.close()
    if args.json:
        for entry in entries:
            print(json.dumps(_as_dict(entry)))
        return 0
    if not entries:
        print("no dead letters match")
        return 0
    print(f"{'ID':>8}  {'RECEIVED (UTC)':<19}  {'REASON':<28} {'BYTES':>6}  TOPIC / MESSAGE")
    for entry in entries:
        received = entry.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        reason, topic, message = printable(entry.reason), printable(entry.topic), printable(entry.message[:130])
        print(f"{entry.id:>8}  {received:<19}  {reason:<28} {entry.payload_size:>6}  {topic}")
        print(f"{'':>8}  {message}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    store = open_store(args.store, create=False)
    try:
        entry = store.rejected_entry(args.id)
    finally:
        store.close()
    if entry is None:
        raise UsageError(f"no dead letter with id {args.id}")
    fields = _as_dict(entry)
    if args.json:
        print(json.dumps(fields))
        return 0
    payload = fields.pop("payload")
    for name, value in fields.items():
        print(f"{name + ':':<19}{printable(str(value))}")
    shown = printable(payload[:SHOW_PAYLOAD_CHARS])
    hidden = max(0, len(payload) - SHOW_PAYLOAD_CHARS)
    print(f"{'payload:':<19}{shown}" + (f" ... ({hidden:,} more characters; --json shows them all)" if hidden else ""))
    return 0


def _replayed(entry: RejectedReport) -> LocationReport | str:
    """The report the entry now makes, or why it still fails."""
    if entry.truncated:
        return f"payload_truncated: only {len(entry.payload)} of its {entry.payload_size} bytes were kept"
    try:
        return parse_report(entry.payload, entry.topic)
    except Rejection as rejection:
        return str(rejection)
    except Exception as exc:  # the contract must never raise anything else; if it does, say so per entry
        return f"unexpected_error: {type(exc).__name__}: {exc}"


def run_replay(args: argparse.Namespace) -> int:
    if not args.ids and args.reason is None and args.since is None:
        raise UsageError("say which dead letters to replay: ids, --reason or --since")
    store = open_store(args.store, create=False)
    try:
        entries = _select(store, args, args.ids)
        outcomes = [(entry, _replayed(entry)) for entry in entries]
        passed = [(entry, outcome) for entry, outcome in outcomes if isinstance(outcome, LocationReport)]
        failing = [(entry, outcome) for entry, outcome in outcomes if isinstance(outcome, str)]
        for entry, reason in failing:
            print(f"still fails  {entry.id}: {reason}")
        if args.dry_run:
            print(f"would store {len(passed)} of {len(entries)} dead letter(s); {len(failing)} still fail")
            return 0
        result = store.insert_batch([report for _entry, report in passed])
        store.delete_rejected([entry.id for entry, _report in passed])
    finally:
        store.close()
    print(
        f"replayed {len(entries)} dead letter(s): {len(passed)} now pass ({result.inserted} stored,"
        f" {result.duplicates} already stored) and left the dead letters; {len(failing)} still fail"
    )
    return 0
