"""What only the in-memory store does: databases named by URL within one process. The contract itself
is tests/integration/store's suite, which runs on this backend too."""

from __future__ import annotations

import pytest

from deliverer.store import StoreMissing, open_store
from tests.helpers import make_reports


def test_stores_opened_on_one_name_share_one_database_and_others_do_not() -> None:
    first = open_store("memory://shared-by-name")
    first.insert_batch(make_reports(5, orders=1))
    assert open_store("memory://shared-by-name", create=False).counts().locations == 5
    assert open_store("memory://another-name").counts().locations == 0
    assert open_store("memory://").counts().locations == 0


def test_a_reader_does_not_create_a_database_nobody_opened() -> None:
    with pytest.raises(StoreMissing, match="no store memory://never-opened"):
        open_store("memory://never-opened", create=False)
