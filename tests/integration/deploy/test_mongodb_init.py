"""The MongoDB container's init scripts declare the indexes the store creates, and are valid JavaScript."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deliverer.store.mongo import INDEXES
from tests.helpers import REPO

INIT_DIR = REPO / "mongodb" / "init"
INDEX_SCRIPT = INIT_DIR / "01-indexes.js"
SPEC = re.compile(r"/\* index-spec:begin \*/(?P<spec>.*?)/\* index-spec:end \*/", re.DOTALL)


def declared_in_script() -> dict[str, list[dict[str, Any]]]:
    """The index spec between the markers of 01-indexes.js, keys as ordered (field, direction) pairs."""
    match = SPEC.search(INDEX_SCRIPT.read_text())
    assert match, f"{INDEX_SCRIPT.name} has no /* index-spec:begin */ ... /* index-spec:end */ block"
    # Every JSON object becomes a list of (name, value) pairs, so the key order survives.
    spec = json.loads(match["spec"], object_pairs_hook=list)
    return {
        collection: [{name: (list(value) if name == "key" else value) for name, value in index} for index in indexes]
        for collection, indexes in spec
    }


def created_by_store() -> dict[str, list[dict[str, Any]]]:
    return {
        collection: [
            {name: (list(value.items()) if name == "key" else value) for name, value in model.document.items()}
            for model in models
        ]
        for collection, models in INDEXES.items()
    }


def test_init_script_declares_exactly_the_indexes_the_store_creates() -> None:
    declared, expected = declared_in_script(), created_by_store()
    assert declared == expected
    assert declared["locations"][0] == {"key": [("msg_id", 1)], "name": "msg_id_unique", "unique": True}
    assert declared["locations"][1]["key"] == [("order_id", 1), ("timestamp", -1)], "compound key order matters"


@pytest.mark.parametrize("script", sorted(INIT_DIR.glob("*.js")), ids=lambda p: p.name)
def test_init_scripts_are_valid_javascript(script: Path) -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed: cannot check the syntax mongosh will parse")
    done = subprocess.run([node, "--check", str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_application_user_may_only_read_and_write_its_database() -> None:
    script = (INIT_DIR / "02-app-user.js").read_text()
    roles = re.findall(r"roles:\s*\[(.*?)\]", script, re.DOTALL)
    assert [r.strip() for r in roles] == ['{ role: "readWrite", db: databaseName }']
