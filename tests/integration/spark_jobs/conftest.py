"""Fixtures for the lake jobs: a moto S3 server, lakes and stores (Spark: tests/integration/conftest.py).

The 200,000-report SQLite store is built once and copied for each test that needs it.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from deliverer.contract import LocationReport
from deliverer.local_broker import free_port
from deliverer.store import open_store
from deliverer_cli.store import migrate_store
from tests.helpers import make_reports
from tests.mongo_server import MONGO_ENV, application_database

BASE_REPORTS = 200_000
BASE_DAYS = 3
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def utc_midnight(days_ago: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def fill(store_url: str, reports: list[LocationReport], chunk: int = 10_000) -> None:
    store = open_store(store_url)
    try:
        for start in range(0, len(reports), chunk):
            store.insert_batch(reports[start : start + chunk])
    finally:
        store.close()


def base_reports() -> list[LocationReport]:
    """200,000 reports spread evenly over the three whole UTC days before today."""
    step = BASE_DAYS * 86_400 / BASE_REPORTS
    return make_reports(BASE_REPORTS, 500, start=utc_midnight(BASE_DAYS), prefix="base", step_s=step)


@pytest.fixture(scope="package")
def base_store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("base-store") / "store.db"
    fill(f"sqlite:///{path}", base_reports())  # closing checkpoints the WAL: the file alone is the store
    return path


@pytest.fixture
def base_store_url(base_store_file: Path, tmp_path: Path) -> str:
    """A private copy of the 200,000-report store."""
    copy = tmp_path / "store.db"
    shutil.copyfile(base_store_file, copy)
    return f"sqlite:///{copy}"


@pytest.fixture(scope="package")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1; boto3 here and in child processes find it via AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {**S3_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    yield env["AWS_ENDPOINT_URL"]
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    server.stop()


def new_bucket_lake() -> str:
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/tracking"


@pytest.fixture(params=["local", "s3"])
def lake_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty lake: a local directory, or a fresh bucket on the moto server."""
    if request.param == "local":
        return str(tmp_path / "lake")
    request.getfixturevalue("s3_endpoint")
    return new_bucket_lake()


@pytest.fixture
def both_lake_urls(s3_endpoint: str, tmp_path: Path) -> list[str]:
    """An empty local lake and an empty S3 lake, for tests that run processes on both at once."""
    return [str(tmp_path / "lake"), new_bucket_lake()]


@pytest.fixture
def mongo_store_url() -> Iterator[str]:
    """A migrated database on $DELIVERER_TEST_MONGO_URL's server, as the application account sees it."""
    url = os.environ.get(MONGO_ENV)
    if not url:
        pytest.skip(f"MongoDB export not tested: {MONGO_ENV} is unset (no MongoDB server here)")
    with application_database(url, "deliverer_export") as store_url:
        migrate_store(store_url)
        yield store_url
