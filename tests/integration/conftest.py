"""The one local Spark session every in-process lake test shares.

Spark takes tens of seconds to start on two busy cores, and ``getOrCreate`` hands every caller the
same session: one fixture for the whole run, stopped once at its end, so no package can stop the
session another one still uses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from spark_jobs.spark.session import SparkSettings, start_spark


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = start_spark(SparkSettings(conf={"spark.sql.shuffle.partitions": "4"}))
    yield session
    session.stop()
