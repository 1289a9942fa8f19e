"""The two lake backends without Spark: replacing a day, counting its rows, state files, recovery, and how an
export recognises the copy of a day it wrote."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark_jobs.export.merge import lake_copy_as_recorded
from spark_jobs.report_keys import lake_keys
from spark_jobs.storage import open_lake
from spark_jobs.storage.local import LocalLake
from spark_jobs.tables import BRONZE_LOCATIONS

DAY = "2026-03-01"


def stage(directory: Path, name: str, rows: int, row_group_size: int | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.table({"msg_id": [f"m{i}" for i in range(rows)], "latitude": [45.0] * rows})
    pq.write_table(table, directory / name, row_group_size=row_group_size)
    (directory / f".{name}.crc").write_bytes(b"checksum")
    return directory


def test_publishing_a_day_replaces_its_files_whole(lake_url: str, tmp_path: Path) -> None:
    lake = open_lake(lake_url)
    assert lake.day_rows(BRONZE_LOCATIONS, DAY) is None and lake.day_files(BRONZE_LOCATIONS, DAY) == []

    with lake.staging() as staging:
        first = lake.publish_day(BRONZE_LOCATIONS, DAY, stage(staging / "a", "part-a.parquet", 100))
    assert [f.name for f in first] == ["part-a.parquet"]
    assert lake.day_rows(BRONZE_LOCATIONS, DAY) == 100

    with lake.staging() as staging:
        directory = stage(staging / "b", "part-b1.parquet", 70)
        stage(directory, "part-b2.parquet", 5)
        second = lake.publish_day(BRONZE_LOCATIONS, DAY, directory)
    assert [f.name for f in second] == ["part-b1.parquet", "part-b2.parquet"]
    assert lake.day_files(BRONZE_LOCATIONS, DAY) == second
    assert lake.day_rows(BRONZE_LOCATIONS, DAY) == 75

    fetched = lake.fetch_day(BRONZE_LOCATIONS, DAY, tmp_path / "copy")
    assert sorted(p.name for p in fetched) == ["part-b1.parquet", "part-b2.parquet"]
    if not lake.location.is_s3:
        assert not (lake.location.local_path() / "_staging").exists()


def test_a_tables_days_are_its_day_partitions_and_spark_reads_them_from_one_local_directory(
    lake_url: str, tmp_path: Path
) -> None:
    lake = open_lake(lake_url)
    assert lake.days(BRONZE_LOCATIONS) == []
    for day, rows in (("2026-03-02", 3), ("2026-02-28", 2), ("not-a-day", 1)):
        with lake.staging() as staging:
            lake.publish_day(BRONZE_LOCATIONS, day, stage(staging / day, "part.parquet", rows))
    assert lake.days(BRONZE_LOCATIONS) == ["2026-02-28", "2026-03-02"]

    local = lake.local_days(BRONZE_LOCATIONS, ["2026-02-28", "2026-03-02"], tmp_path / "scratch")
    assert [pq.read_table(local / f"dt={day}").num_rows for day in ("2026-02-28", "2026-03-02")] == [2, 3]


def test_row_counts_come_from_footers_larger_than_the_first_guess(lake_url: str) -> None:
    lake = open_lake(lake_url)
    with lake.staging() as staging:
        # 3,000 row groups: a footer of a few hundred KB, more than the first ranged GET fetches.
        lake.publish_day(BRONZE_LOCATIONS, DAY, stage(staging / "x", "part-x.parquet", 30_000, row_group_size=10))
    assert lake.day_rows(BRONZE_LOCATIONS, DAY) == 30_000


def test_state_files_round_trip(lake_url: str) -> None:
    lake = open_lake(lake_url)
    assert lake.read_state("export") is None
    lake.write_state("export", {"watermark": "2026-03-01T00:00:00+00:00"})
    lake.write_state("export", {"watermark": "2026-03-02T00:00:00+00:00"})
    assert lake.read_state("export") == {"watermark": "2026-03-02T00:00:00+00:00"}


def test_a_day_left_aside_by_a_killed_swap_is_put_back(tmp_path: Path) -> None:
    lake = open_lake(str(tmp_path / "lake"))
    assert isinstance(lake, LocalLake)
    parked = tmp_path / "lake" / "_staging" / "swap-1" / "old" / BRONZE_LOCATIONS.partition_path(DAY)
    stage(parked, "part-old.parquet", 42)
    stage(tmp_path / "lake" / "_staging" / "run-2" / "half-written", "part-x.parquet", 1)

    assert lake.recover() == [BRONZE_LOCATIONS.partition_path(DAY)]
    assert lake.day_rows(BRONZE_LOCATIONS, DAY) == 42
    assert not (tmp_path / "lake" / "_staging").exists()


def test_an_export_tells_the_copy_it_wrote_from_one_changed_since(
    lake_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    lake = open_lake(lake_url)
    keys = pa.table({"deliverer_id": ["d1", "d1", "d2"], "msg_id": ["a", "b", "a"]})
    with lake.staging() as staging:
        staging.joinpath("x").mkdir()
        pq.write_table(keys, staging / "x" / "part-0.parquet")
        files = lake.publish_day(BRONZE_LOCATIONS, DAY, staging / "x")
    previous = lake_keys(lake, DAY)
    recorded = {"file_ids": [f"{f.name}:{f.size}:{f.version}" for f in files], "keys_sha256": "not-computed"}
    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith("spark_jobs.export.")]

    with caplog.at_level(logging.WARNING, logger="spark_jobs.export"):
        assert lake_copy_as_recorded(lake, DAY, previous, recorded), "the files it wrote: no need to look inside"
        assert warnings() == []
        assert lake_copy_as_recorded(lake, DAY, previous, {**recorded, "file_ids": ["part-0.parquet:1:1"]})
    assert [w.split(" (")[0] for w in warnings()] == [f"{DAY}: the lake's copy is not the one the last export recorded"]
