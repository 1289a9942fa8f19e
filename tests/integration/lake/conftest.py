"""Fixtures for the lake's transforms and query engines: one Spark session, the known lake built once.

The known lake's bronze is written by Spark in the export's layout and schema (the export itself is
tested in tests/integration/spark_jobs; its store data source would cost this suite half a
minute); the transforms then run once per lake kind (a local directory, a bucket on a moto S3
server) and tests only read the results, or copy them.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import boto3
import pytest
from pyspark.sql import SparkSession

from spark_jobs.storage import open_lake
from spark_jobs.tables import BRONZE_LOCATIONS
from spark_jobs.transforms.run import TransformSummary, transform_days
from tests.integration.lake.known_lake import DAYS, write_bronze
from tests.integration.spark_jobs.conftest import s3_endpoint

__all__ = ["s3_endpoint"]


@pytest.fixture(scope="package")
def bronze_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake directory holding only bronze: the known reports, plus duplicates on day one."""
    root = tmp_path_factory.mktemp("bronze") / "lake"
    write_bronze(spark, root)
    return root


def copy_lake(source: Path, into: Path) -> Path:
    shutil.copytree(source, into, ignore=shutil.ignore_patterns("_state"))
    return into


@pytest.fixture(scope="package")
def known_lake(
    spark: SparkSession, bronze_lake: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, TransformSummary]:
    """The known lake with silver and gold built, in a local directory, and the run's summary."""
    root = copy_lake(bronze_lake, tmp_path_factory.mktemp("known") / "lake")
    return root, transform_days(spark, open_lake(str(root)), DAYS)


@pytest.fixture(scope="package")
def known_s3_lake(spark: SparkSession, bronze_lake: Path, s3_endpoint: str) -> str:
    """The same bronze uploaded to a bucket on the moto server, transformed there."""
    s3 = boto3.client("s3")
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/tracking"
    for path in sorted((bronze_lake / BRONZE_LOCATIONS.path).rglob("*.parquet")):
        s3.upload_file(str(path), bucket, f"tracking/{path.relative_to(bronze_lake).as_posix()}")
    transform_days(spark, open_lake(url), DAYS)
    return url
