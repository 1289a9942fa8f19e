"""No message stops the stream: the payloads that used to kill the subscriber, a message that
kills it whatever the reason (poison), and thousands of generated hostile payloads."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from deliverer.contract import Rejection, parse_report
from deliverer.local_broker import Mosquitto, free_port
from deliverer.store import Store, open_store
from tests.helpers import ServiceProcess, as_messages, make_reports, publish_all, stored_ids, wait_until
from tests.hostile import collect_examples, hostile_payloads, valid_report_payload
from tests.integration.subscriber.crashing_subscriber import EXIT_CODE, MARKER

TOPIC = "deliverers/d1/location"


def _report(**changes: object) -> bytes:
    return valid_report_payload("d1", 0, msg_id="killer", **changes)


KILLERS = [
    (b"[" * 5000, "too_deep"),
    (_report(timestamp="0001-01-01T00:00:00+01:00"), "invalid_timestamp"),
    (_report(timestamp="9999-12-31T23:59:59-01:00"), "invalid_timestamp"),
    (_report().replace(b'"on_the_way"', b'"\\udfff"'), "invalid_text"),
    (json.dumps(json.loads(_report()) | {"timestamp": "\ud800"}).encode(), "invalid_text"),
]


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    opened = open_store(sqlite_url)
    yield opened
    opened.close()


def test_the_payloads_that_killed_the_subscriber_are_dead_lettered_and_the_stream_goes_on(
    broker: Mosquitto, store: Store, subscriber: Callable[..., ServiceProcess]
) -> None:
    good = make_reports(200, orders=4)
    stream = as_messages(good[:100]) + [(TOPIC, payload) for payload, _ in KILLERS] + as_messages(good[100:])
    proc = subscriber()

    publish_all(broker.url, stream)
    wait_until(lambda: store.counts().locations == 200 and store.counts().rejected == len(KILLERS), 30,
               "every report handled")

    assert proc.alive, proc.log()[-3000:]
    assert Counter(r.reason for r in store.rejected()) == Counter(reason for _, reason in KILLERS)
    assert sorted(stored_ids(store)) == sorted(r.msg_id for r in good)
    assert "Traceback" not in proc.log()


def _restarting(
    services: Callable[..., ServiceProcess], broker: Mosquitto, sqlite_url: str, client_ids: Iterator[str]
) -> Callable[[], ServiceProcess]:
    """Start the crashing subscriber the way a restart policy does (the caller decides when)."""

    def start() -> ServiceProcess:
        port = free_port()
        proc = services(
            "subscribe", "--mqtt-url", broker.url, "--store", sqlite_url, "--client-id", next(client_ids),
            "--metrics-port", str(port), name="crashing", module="tests.integration.subscriber.crashing_subscriber",
        )
        proc.metrics_port = port
        return proc

    return start


def _run_until_stable(start: Callable[[], ServiceProcess], done: Callable[[], bool]) -> tuple[ServiceProcess, int]:
    """Restart after every crash, at most 6 times, until ``done``; the survivor and the crash count."""
    crashes = 0
    proc = start()
    for _ in range(6):
        wait_until(lambda p=proc: not p.alive or done(), 30, "a crash or the end of the work")
        if proc.alive:
            return proc, crashes
        assert proc.process is not None and proc.process.returncode == EXIT_CODE, proc.log()[-3000:]
        crashes += 1
        proc = start()
    raise AssertionError(f"still crashing after {crashes} restarts")


def test_a_message_that_kills_the_subscriber_is_poisoned_on_its_third_redelivery_and_nothing_else_is(
    broker: Mosquitto, sqlite_url: str, store: Store, services: Callable[..., ServiceProcess]
) -> None:
    good = make_reports(300, orders=6)
    poison = valid_report_payload("d1", 1, msg_id=MARKER.decode() + "-1")
    start = _restarting(services, broker, sqlite_url, iter(["same-id"] * 10))
    first = start()
    first.wait_subscribed()

    publish_all(broker.url, [*as_messages(good[:150]), (TOPIC, poison), *as_messages(good[150:])])
    done = lambda: store.counts().locations == 300 and store.counts().rejected == 1  # noqa: E731
    wait_until(lambda: not first.alive, 30, "the poison message to kill the subscriber")
    survivor, crashes = _run_until_stable(start, done)

    assert 1 + crashes == 3, "killed by its first delivery, then redelivered with its batch, then alone"
    wait_until(done, 30, "every good report stored and the poison dead-lettered")
    [letter] = store.rejected()
    assert (letter.reason, letter.payload, letter.topic) == ("poison", poison, TOPIC)
    assert sorted(stored_ids(store)) == sorted(r.msg_id for r in good)
    assert survivor.alive and survivor.metric("deliverer_subscriber_poisoned_total") == 1


def test_a_retained_killer_cannot_kill_new_client_ids_forever(
    broker: Mosquitto, sqlite_url: str, store: Store, services: Callable[..., ServiceProcess]
) -> None:
    from deliverer.mqtt import new_client, parse_mqtt_url

    poison = valid_report_payload("d1", 2, msg_id=MARKER.decode() + "-retained")
    courier = new_client(parse_mqtt_url(broker.url), "courier-d1")
    courier.connect("127.0.0.1", broker.port)
    courier.loop_start()
    courier.publish(TOPIC, poison, qos=1, retain=True).wait_for_publish(10)
    courier.disconnect()
    courier.loop_stop()

    start = _restarting(services, broker, sqlite_url, (f"fresh-{n}" for n in range(10)))
    survivor, crashes = _run_until_stable(start, lambda: store.counts().rejected >= 1)
    assert crashes == 2, "a retained copy comes with each new subscription: tried with its batch, then alone"
    assert [r.reason for r in store.rejected()] == ["poison"]

    another = start()
    another.wait_subscribed()
    wait_until(lambda: store.counts().rejected == 2, 30, "the retained copy dead-lettered again, unread")
    assert another.alive and survivor.alive


@pytest.mark.slow
def test_thousands_of_hostile_payloads_among_good_reports_through_a_real_broker(
    broker: Mosquitto, store: Store, subscriber: Callable[..., ServiceProcess]
) -> None:
    hostile = collect_examples(hostile_payloads("d1"), 6500)
    good = [valid_report_payload(f"d{i % 2 + 1}", i) for i in range(1000)]
    stream = [(TOPIC, payload) for payload in hostile] + [
        (f"deliverers/{json.loads(p)['deliverer_id']}/location", p) for p in good
    ]
    random.Random(5).shuffle(stream)
    expected_rejections: Counter[str] = Counter()
    expected_ids = {json.loads(p)["msg_id"] for p in good}
    first_versions: dict[str, bytes] = {}  # hostile reports are all d1's: the key is the msg_id
    for topic, payload in stream:
        if topic != TOPIC or payload in good:
            continue
        try:
            accepted = parse_report(payload, TOPIC)
        except Rejection as rejection:
            expected_rejections[rejection.reason.value] += 1
            continue
        canonical = first_versions.setdefault(accepted.msg_id, accepted.to_json())
        if canonical != accepted.to_json():
            expected_rejections["conflicting_duplicate"] += 1
        expected_ids.add(accepted.msg_id)
    proc = subscriber("--batch-size", "200")

    publish_all(broker.url, stream)
    total = sum(expected_rejections.values())
    wait_until(lambda: store.counts().rejected >= total and store.counts().locations >= len(expected_ids), 120,
               "every payload handled")

    assert proc.alive, proc.log()[-3000:]
    ids = stored_ids(store)
    assert len(ids) == len(set(ids)) and set(ids) == expected_ids
    assert Counter(r.reason for r in store.rejected(limit=10_000)) == expected_rejections
    assert total >= 5000, f"only {total} of the {len(hostile)} generated payloads were refused"
