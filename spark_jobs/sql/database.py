"""The database the lake's tables are in: an Athena (Glue) database, a DuckDB schema locally.

Importable without Spark: the command line checks the name before anything starts.
"""

from __future__ import annotations

import re

DEFAULT_DATABASE = "deliverer"
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,254}")


def check_database_name(name: str) -> str:
    """Athena (Glue) database names: lower-case letters, digits and underscores. DuckDB gets the same."""
    if not _DATABASE_NAME.fullmatch(name):
        raise ValueError(
            f"database name {name!r}: use lower-case letters, digits and underscores, not starting with a digit"
        )
    return name
