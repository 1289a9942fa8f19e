"""A query's answer, the same whichever engine ran it, and its rendering as a table, CSV or JSON.

Values are normalised so both engines print alike: timestamps as ``YYYY-MM-DD HH:MM:SS.fff`` (how
Athena returns them), whole decimals as integers (DuckDB's ``sum`` of integers is a decimal).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

FORMATS = ("table", "csv", "json")


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    stats: dict[str, Any] = field(default_factory=dict)
    """What the engine said about the run (Athena: query id, bytes scanned, engine time)."""

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def normalise(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    return value


def normalised(columns: list[str], rows: list[tuple[Any, ...]], stats: dict[str, Any] | None = None) -> QueryResult:
    return QueryResult(columns, [tuple(normalise(v) for v in row) for row in rows], stats or {})


def render(result: QueryResult, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(result.records(), indent=2, default=str, allow_nan=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[_text(v, "") for v in row] for row in result.rows])
        return out.getvalue()
    if fmt == "table":
        return _table(result)
    raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")


def _text(value: Any, null: str) -> str:
    if value is None:
        return null
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


def _is_numeric(values: list[Any]) -> bool:
    """Right-align a column whose values are all numbers (NULLs aside)."""
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)


def _table(result: QueryResult) -> str:
    cells = [[_text(v, "NULL") for v in row] for row in result.rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(result.columns)]
    numeric = [_is_numeric([row[i] for row in result.rows]) for i in range(len(result.columns))]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if right else v.ljust(w) for v, w, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    lines = [line(result.columns), line(["-" * w for w in widths]), *(line(row) for row in cells)]
    count = len(result.rows)
    lines.append(f"({count} row{'s'[:count != 1]})")
    return "\n".join(lines) + "\n"
