"""The ready queries: one ``<name>.sql`` file each, written in the SQL both engines run.

Each names tables without a database (both engines resolve them in the chosen one), orders its
rows completely (ties broken) so both engines return the same rows in the same order, and starts
with a ``--`` comment saying what it answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

SUFFIX = ".sql"


@dataclass(frozen=True)
class ReadyQuery:
    name: str
    sql: str

    @property
    def summary(self) -> str:
        """The first line of the leading comment."""
        first = self.sql.lstrip().splitlines()[0]
        return first.removeprefix("--").strip() if first.startswith("--") else ""


def ready_queries() -> dict[str, ReadyQuery]:
    found = {}
    for entry in resources.files(__name__).iterdir():
        if entry.name.endswith(SUFFIX):
            name = entry.name.removesuffix(SUFFIX)
            # Athena runs one statement without a trailing semicolon.
            found[name] = ReadyQuery(name, entry.read_text(encoding="utf-8").strip().rstrip(";").rstrip())
    return dict(sorted(found.items()))


def ready_query(name: str) -> ReadyQuery:
    queries = ready_queries()
    if name not in queries:
        raise ValueError(f"no ready query {name!r}: {', '.join(queries)}")
    return queries[name]
