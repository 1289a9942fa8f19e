"""``deliverer rejected``: the dead letters listed, shown, trimmed by the subscriber, and replayed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from deliverer.local_broker import Mosquitto
from deliverer.store import RejectedReport, open_store
from tests.helpers import REPO, ServiceProcess, wait_until
from tests.hostile import valid_report_payload

TOPIC = "deliverers/d1/location"


def deliverer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deliverer_cli.main", *args], capture_output=True, text=True, cwd=REPO, timeout=60
    )


def letter(reason: str, payload: bytes, minutes_ago: float = 1, topic: str = TOPIC) -> RejectedReport:
    return RejectedReport.of(
        datetime.now(UTC) - timedelta(minutes=minutes_ago), topic, reason, f"{reason} problem", payload
    )


def test_list_filters_by_reason_and_time_and_shows_one_entry(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    store.insert_batch(
        [], [letter("not_json", b"x", 5), letter("not_json", b"{", 180), letter("too_deep", b"[" * 40, 30)]
    )

    listed = deliverer("rejected", "list", "--store", sqlite_url, "--json")
    assert listed.returncode == 0, listed.stderr
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [e["payload"] for e in entries] == ["x", "[" * 40, "{"]

    recent = deliverer("rejected", "list", "--store", sqlite_url, "--reason", "not_json", "--since", "1h", "--json")
    assert [json.loads(line)["payload"] for line in recent.stdout.splitlines()] == ["x"]

    table = deliverer("rejected", "list", "--store", sqlite_url)
    assert "too_deep" in table.stdout and "not_json problem" in table.stdout

    shown = deliverer("rejected", "show", entries[1]["id"], "--store", sqlite_url, "--json")
    assert json.loads(shown.stdout) == entries[1]
    unknown = deliverer("rejected", "show", "999999", "--store", sqlite_url)
    assert unknown.returncode == 2 and "no dead letter with id 999999" in unknown.stderr


def test_replay_stores_what_now_passes_and_says_what_still_fails(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    fixed = valid_report_payload("d1", 1)  # e.g. refused while a courier's clock ran ahead
    store.insert_batch(
        [],
        [
            letter("timestamp_in_future", fixed),
            letter("not_json", b"still not json"),
            letter("too_large", b"{" + b" " * 20_000),
        ],
    )
    dry = deliverer("rejected", "replay", "--store", sqlite_url, "--since", "1h", "--dry-run")
    assert "would store 1 of 3" in dry.stdout and store.counts().locations == 0

    replayed = deliverer("rejected", "replay", "--store", sqlite_url, "--since", "1h")

    assert replayed.returncode == 0, replayed.stderr
    assert "1 now pass (1 stored, 0 already stored)" in replayed.stdout and "2 still fail" in replayed.stdout
    assert "not_json: payload is not valid JSON" in replayed.stdout
    assert "payload_truncated: only 4096 of its 20001 bytes were kept" in replayed.stdout
    assert store.counts().locations == 1
    assert sorted(r.reason for r in store.rejected()) == ["not_json", "too_large"]
    assert "say which dead letters" in deliverer("rejected", "replay", "--store", sqlite_url).stderr


def test_the_subscriber_keeps_the_dead_letters_within_their_bound(
    broker: Mosquitto, sqlite_url: str, subscriber: Callable[..., ServiceProcess]
) -> None:
    store = open_store(sqlite_url)
    store.insert_batch([], [letter("not_json", f"junk {n}".encode(), minutes_ago=n) for n in range(30)])
    store.insert_batch([], [letter("not_json", b"ancient", minutes_ago=60 * 24 * 8)])

    proc = subscriber("--rejected-max-count", "5", "--rejected-max-age", "7d")

    wait_until(lambda: store.counts().rejected == 5, 20, "the dead letters trimmed to 5")
    assert [r.payload for r in store.rejected()] == [f"junk {n}".encode() for n in range(5)]
    wait_until(lambda: "trimmed 26 dead letter(s)" in proc.log(), 10, "the trim logged")


def test_terminal_control_characters_from_a_courier_are_shown_escaped(sqlite_url: str) -> None:
    """A courier's text must not drive the operator's terminal (colours, window title) nor forge table rows."""
    hostile = "\x1b[32mGREEN\x1b]0;pwned\x07\n    9999  2026-12-02 00:00:00  forged_row"
    store = open_store(sqlite_url)
    store.insert_batch(
        [], [RejectedReport.of(datetime.now(UTC), "deliverers/d\x1b[1m1/location", "invalid_state", hostile,
                               hostile.encode())]
    )
    entry_id = json.loads(deliverer("rejected", "list", "--store", sqlite_url, "--json").stdout)["id"]

    for shown in (deliverer("rejected", "list", "--store", sqlite_url),
                  deliverer("rejected", "show", entry_id, "--store", sqlite_url)):
        assert shown.returncode == 0, shown.stderr
        assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
        assert "\\x1b[32mGREEN" in shown.stdout and "\\x1b[1m1" in shown.stdout
        assert "\n    9999" not in shown.stdout and "\\x0a    9999" in shown.stdout
    assert "more characters" not in shown.stdout, "the payload is shown whole, however many escapes it grew"
