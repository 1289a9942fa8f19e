"""The tracking page in a real browser: Debian's headless Chromium, driven by Selenium through
Debian's chromedriver (nothing is downloaded), against a real broker, subscriber, SQLite store
and live server, while the test publishes a courier's reports over MQTT."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from deliverer.contract import DeliveryState, LocationReport
from deliverer.local_broker import Mosquitto, free_port
from tests.helpers import ServiceProcess, as_messages, publish_all, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOT_ENV = "DELIVERER_TRACKING_SCREENSHOT"
"""Where to keep the screenshot (the README's picture is made this way); a temporary file otherwise."""

pytestmark = pytest.mark.skipif(
    not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
    reason="Chromium not tested: install Debian's chromium and chromium-driver (./test.sh does, as root)",
)

# A courier in Milan: north along one street, then east along another.
ROUTE = [(45.4642 + 0.0009 * i, 9.1900) for i in range(8)] + [(45.4705, 9.1900 + 0.0012 * i) for i in range(1, 9)]


def courier_reports(order_id: str, indexes: range, arrive_at: int | None = None) -> list[LocationReport]:
    start = datetime.now(UTC) - timedelta(minutes=2)
    return [
        LocationReport(
            msg_id=f"{order_id}-{i}", order_id=order_id, deliverer_id="courier-7",
            delivery_state=DeliveryState.START if i == 0 else
            DeliveryState.ARRIVED if i == arrive_at else DeliveryState.ON_THE_WAY,
            timestamp=start + timedelta(seconds=6 * i), latitude=ROUTE[i][0], longitude=ROUTE[i][1],
            speed_kmh=18.0 + i % 5, heading=0.0 if i < 8 else 90.0, seq=i,
        )
        for i in indexes
    ]


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=412,860",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def requested_urls(driver: Any) -> list[str]:
    """Every URL the page asked for since the last call (Chrome's DevTools network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def text(driver: Any, element_id: str) -> str:
    return str(driver.find_element("id", element_id).text)


def test_the_page_follows_an_order_live_resumes_after_a_drop_and_loads_nothing_from_elsewhere(
    browser: Any, broker: Mosquitto, sqlite_url: str, services: Callable[..., ServiceProcess],
    subscriber: Callable[..., ServiceProcess], tmp_path: Path,
) -> None:
    subscriber()
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def start_live() -> ServiceProcess:
        process = services(
            "live", "--live-port", str(port), "--store", sqlite_url, "--mqtt-url", broker.url,
            "--poll", "0.05", "--end-after-arrived", "1", name="live",
        )
        process.wait_ready(f"{base}/readyz")
        return process

    live = start_live()
    publish_all(broker.url, as_messages(courier_reports("order-77", range(3))))

    def shows(element_id: str, value: str) -> Callable[[], bool]:
        return lambda: text(browser, element_id) == value

    # /track/ lists the order that just started.
    wait_until(lambda: browser.get(f"{base}/track/") or "order-77" in text(browser, "orders"), 20, "order listed")
    browser.find_element("link text", "order-77").click()
    wait_until(shows("points", "3"), 20, "the route so far")
    assert browser.current_url == f"{base}/track/order-77"
    first_marker = browser.find_element("id", "route").get_attribute("data-marker-latitude")
    first_distance = float(browser.find_element("id", "tracker").get_attribute("data-distance-km"))

    publish_all(broker.url, as_messages(courier_reports("order-77", range(3, 12))))
    wait_until(shows("points", "12"), 20, "the new reports drawn")
    marker = browser.find_element("id", "route")
    assert (marker.get_attribute("data-marker-latitude"), marker.get_attribute("data-marker-longitude")) == (
        str(ROUTE[11][0]), str(ROUTE[11][1])
    ) != (first_marker, str(ROUTE[2][1]))
    distance = float(browser.find_element("id", "tracker").get_attribute("data-distance-km"))
    assert distance > first_distance + 0.5
    assert text(browser, "state") == "on the way" and text(browser, "speed") == "19.0 km/h"
    assert text(browser, "scale-label").endswith(("m", "km"))
    assert console_errors(browser) == []
    outside = [url for url in requested_urls(browser) if not url.startswith(base + "/")]
    assert outside == [], "the page loaded something from elsewhere"
    browser.save_screenshot(os.environ.get(SCREENSHOT_ENV) or str(tmp_path / "tracking-page.png"))

    # The stream drops (the live server goes away); reports stored meanwhile are not lost.
    assert live.terminate() == 0
    wait_until(lambda: browser.find_element("id", "connection").get_attribute("data-state") == "reconnecting",
               20, "the page noticing the drop")
    publish_all(broker.url, as_messages(courier_reports("order-77", range(12, 16), arrive_at=15)))
    start_live()
    wait_until(shows("points", "16"), 30, "every report after the drop")
    assert float(browser.find_element("id", "tracker").get_attribute("data-distance-km")) > distance
    assert text(browser, "state") == "arrived"
    wait_until(lambda: browser.find_element("id", "connection").get_attribute("data-state") == "ended",
               20, "the stream's end after arrival")
    outside = [url for url in requested_urls(browser) if not url.startswith(base + "/")]
    assert outside == []
    # While the server was away the browser's reconnection attempts failed; nothing else may have.
    assert [e for e in console_errors(browser) if f"{base}/v1/orders/order-77/" not in e] == []
