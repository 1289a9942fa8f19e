"""Report keys as Arrow tables: the pair (deliverer_id, msg_id) is the key, and a day's fingerprint depends
on its set of keys only."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverer.store.base import ReportKey
from spark_jobs.report_keys import KEY_SCHEMA, fingerprint, key_pairs, missing_from, read_keys

ids = st.from_regex(r"[A-Za-z0-9_.:-]{1,12}", fullmatch=True)
key_lists = st.lists(st.tuples(ids, ids), max_size=60)


def table(keys: list[ReportKey]) -> pa.Table:
    return pa.table(
        {"deliverer_id": [k[0] for k in keys], "msg_id": [k[1] for k in keys]}, schema=KEY_SCHEMA
    )


@settings(deadline=None)
@given(key_lists, st.randoms())
def test_the_fingerprint_is_the_set_of_keys(keys: list[ReportKey], rng: random.Random) -> None:
    shuffled_with_repeats = [*keys, *keys[: len(keys) // 2]]
    rng.shuffle(shuffled_with_repeats)
    once, again = fingerprint(table(keys)), fingerprint(table(shuffled_with_repeats))
    assert once.sha256 == again.sha256
    assert again.rows == len(shuffled_with_repeats)
    assert again.duplicates == len(shuffled_with_repeats) - len(set(keys))
    lines = "".join(f"{d}\x1f{m}\x1f" for d, m in sorted(set(keys)))
    assert once.sha256 == hashlib.sha256(lines.encode()).hexdigest()


@settings(deadline=None)
@given(key_lists, key_lists)
def test_missing_from_is_the_set_difference_of_pairs(keys: list[ReportKey], other: list[ReportKey]) -> None:
    assert set(key_pairs(missing_from(table(keys), table(other)))) == set(keys) - set(other)
    assert missing_from(table(keys), table(other)).num_rows == len(set(keys) - set(other))


def test_one_msg_id_of_two_couriers_is_two_reports() -> None:
    lake = table([("d1", "m1"), ("d1", "m2")])
    store = table([("d2", "m1")])
    assert list(key_pairs(missing_from(lake, store))) == [("d1", "m1"), ("d1", "m2")]
    assert fingerprint(table([("d1", "m1"), ("d2", "m1")])).duplicates == 0


def test_keys_are_read_from_parquet_files_and_nothing_else(tmp_path: Path) -> None:
    rows = pa.table({"msg_id": ["a", "b"], "latitude": [1.0, 2.0], "deliverer_id": ["d1", "d2"]})
    pq.write_table(rows, tmp_path / "part-0.parquet")
    pq.write_table(rows.slice(0, 1), tmp_path / "part-1.parquet")
    keys = read_keys(sorted(tmp_path.glob("*.parquet")))
    assert keys.schema == KEY_SCHEMA
    assert list(key_pairs(keys)) == [("d1", "a"), ("d2", "b"), ("d1", "a")]
    assert read_keys([]).num_rows == 0
