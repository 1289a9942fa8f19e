"""The original system's publisher, reproduced request for request; only its URL can be changed.

What it sends, exactly: ``-n`` workers in a thread pool; worker ``w`` is courier ``w`` (an
integer) delivering order ``w * 43``. It reports ``-l`` locations: ``start`` (its timestamp taken
before the first pause), then ``on_the_way``, then ``arrived``, each a few thousandths of a degree
further south-west. The timestamp is ``datetime.now().isoformat()``: naive local time with
microseconds. Each report is dumped to a JSON string, printed, and after a pause of ``-d`` ± 3
seconds posted as ``requests.post(url, json=that_string)``: the body is the report encoded twice.
Responses are ignored. (A ``-d`` below 3 makes some pauses negative: the original then dies with
``ValueError``, and so does this.)

    python tests/original_client.py -d 3 -l 3 -n 2 [--url http://127.0.0.1:5000/v1/deliverer_location/]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import datetime
from multiprocessing.dummy import Pool
from typing import Any

import requests

ORIGINAL_URL = "http://127.0.0.1:5000/v1/deliverer_location/"
START_LATITUDE = 52.3358173024486
START_LONGITUDE = 4.8892507982649


def report_text(first: dict[str, Any], iteration: int, locations: int) -> str:
    """The JSON text of report ``iteration`` (1-based), as the original built it."""
    if iteration == 1:
        report = first
    else:
        report = {
            "order_id": first["order_id"],
            "deliverer_id": first["deliverer_id"],
            "delivery_state": "arrived" if iteration == locations else "on_the_way",
            "timestamp": datetime.now(),
            "latitude": first["latitude"] - random.uniform(0.001, 0.002) * iteration,
            "longitude": first["longitude"] - random.uniform(0.001, 0.002) * iteration,
        }
    return json.dumps(report, default=datetime.isoformat)


def deliver(worker: int, args: argparse.Namespace) -> None:
    first = {
        "order_id": worker * 43,
        "deliverer_id": worker,
        "delivery_state": "start",
        "timestamp": datetime.now(),
        "latitude": START_LATITUDE,
        "longitude": START_LONGITUDE,
    }
    for iteration in range(1, args.l + 1):
        text = report_text(first, iteration, args.l)
        print(text, flush=True)
        time.sleep(random.uniform(args.d - 3, args.d + 3))
        requests.post(args.url, json=text)


def main() -> None:
    parser = argparse.ArgumentParser(description="Deliverer Data Publisher (the original, reproduced)")
    parser.add_argument("-d", metavar="delta-time", type=int, default=10, help="seconds between pings, ± 3")
    parser.add_argument("-l", metavar="locations", type=int, default=15, help="locations per order")
    parser.add_argument("-n", metavar="workers", type=int, default=50, help="simultaneous couriers")
    parser.add_argument("--url", default=ORIGINAL_URL, help="the one change: where to post")
    args = parser.parse_args()
    with Pool(args.n) as pool:
        pool.map(lambda worker: deliver(worker, args), range(1, args.n + 1))


if __name__ == "__main__":
    main()
