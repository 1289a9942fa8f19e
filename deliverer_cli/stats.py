"""``deliverer stats``: how much the store holds."""

from __future__ import annotations

import argparse
import json

from deliverer.settings import STORE_URL
from deliverer.settings.arguments import add_settings
from deliverer.store import open_store


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("stats", help="count locations, orders and rejected reports in the store")
    add_settings(parser, STORE_URL)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(args.store, create=False)
    try:
        counts = store.counts()
    finally:
        store.close()
    if args.json:
        print(json.dumps(counts.to_dict()))
    else:
        print(f"locations  {counts.locations:>12,}\norders     {counts.orders:>12,}\nrejected   {counts.rejected:>12,}")
    return 0
