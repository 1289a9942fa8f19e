"""The end-of-burst summary: one JSON line for scripts, a small table for people."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from publisher.burst import BurstResult

ORDERS_SHOWN = 5


def summary_dict(result: BurstResult, transport: str, qos: int) -> dict[str, Any]:
    config = result.config
    return {
        "sent": result.sent,
        "acked": result.acked,
        "failed": result.failed,
        "planned": config.planned,
        "rate": round(result.rate, 1),
        "elapsed_s": round(result.elapsed_s, 3),
        "latency_ms": result.latency_ms,
        "order_ids": result.order_ids,
        "seed": config.seed,
        "transport": transport,
        "qos": qos,
        "workers": config.workers,
        "orders_per_worker": config.orders_per_worker,
        "locations": config.locations,
        "interval": config.interval_s,
        "stopped": result.stopped,
        "error": result.error,
    }


def summary_json(result: BurstResult, transport: str, qos: int) -> str:
    return json.dumps(summary_dict(result, transport, qos), separators=(",", ":"))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def print_table(result: BurstResult, transport: str, qos: int, console: Console) -> None:
    config = result.config
    table = Table(title="Burst summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("transport", f"{transport}" + (f" (QoS {qos})" if transport == "mqtt" else ""))
    table.add_row("couriers", f"{config.workers:,}, {config.orders_per_worker:,} order(s) each")
    table.add_row("reports per order", f"{config.locations:,}")
    table.add_row("sent", f"{result.sent:,} of {config.planned:,}")
    table.add_row("acknowledged", f"{result.acked:,}")
    table.add_row("failed", f"{result.failed:,}", style="red" if result.failed else None)
    table.add_row("rate", f"{result.rate:,.0f} reports/s over {result.elapsed_s:,.2f} s")
    latency = result.latency_ms
    table.add_row(
        "latency p50/p95/p99", f"{_ms(latency['p50'])} / {_ms(latency['p95'])} / {_ms(latency['p99'])} ms"
    )
    shown = ", ".join(result.order_ids[:ORDERS_SHOWN])
    more = len(result.order_ids) - ORDERS_SHOWN
    table.add_row("order ids", shown + (f" … and {more:,} more (--json lists all)" if more > 0 else ""))
    table.add_row("seed", f"{config.seed} (--seed {config.seed} replays the same routes and ids)")
    if result.stopped:
        table.add_row("stopped", result.stopped + (f": {result.error}" if result.error else ""), style="yellow")
    console.print(table)
