"""Read a generated CREATE EXTERNAL TABLE statement back into its parts, to check it as Athena would."""

from __future__ import annotations

import re
from dataclasses import dataclass

_STRING = r"'((?:[^'\\]|\\.)*)'"


@dataclass
class CreateTable:
    database: str
    table: str
    columns: list[tuple[str, str]]
    partition: tuple[str, str]
    location: str
    properties: dict[str, str]


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_create_table(sql: str) -> CreateTable:
    head = re.match(r"CREATE EXTERNAL TABLE IF NOT EXISTS `(\w+)`\.`(\w+)` \(\n(.*?)\n\)\n", sql, re.S)
    assert head, f"not a CREATE EXTERNAL TABLE statement:\n{sql}"
    columns = []
    for line in head.group(3).split(",\n"):
        column = re.fullmatch(rf"  `(\w+)` (\S+) COMMENT {_STRING}", line)
        assert column, f"unreadable column definition {line!r}"
        columns.append((column.group(1), column.group(2)))
    partition = re.search(rf"\nPARTITIONED BY \(`(\w+)` (\w+) COMMENT {_STRING}\)\n", sql)
    location = re.search(rf"\nSTORED AS PARQUET\nLOCATION {_STRING}\n", sql)
    properties = re.search(r"\nTBLPROPERTIES \(\n(.*)\n\)$", sql, re.S)
    assert partition and location and properties, sql
    pairs = re.findall(rf"  {_STRING}={_STRING}", properties.group(1))
    return CreateTable(
        database=head.group(1),
        table=head.group(2),
        columns=columns,
        partition=(partition.group(1), partition.group(2)),
        location=_unescape(location.group(1)),
        properties={_unescape(k): _unescape(v) for k, v in pairs},
    )
