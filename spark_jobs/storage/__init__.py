"""The lake's storage: replace a table's day whole, read its row counts, keep small state files.

Two backends behind one interface (:class:`Lake`, in :mod:`spark_jobs.storage.base`), chosen by URL:
a local directory and an S3 bucket/prefix. Spark always writes a day into a local staging directory
first; the backend then swaps it in (local: directory renames; S3: upload the new files, then delete
the old ones), so a reader never sees a half-written day. Nothing above this package knows which
backend is behind a :class:`Lake`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spark_jobs.storage.base import Lake, LakeBusy, LakeFile
from spark_jobs.storage.location import LakeLocation, parse_lake_url

__all__ = ["Lake", "LakeBusy", "LakeFile", "LakeLocation", "open_lake", "parse_lake_url"]


def open_lake(url: str | LakeLocation, s3_client: Any = None, work_dir: Path | None = None) -> Lake:
    """The lake a URL names. For S3: ``s3_client`` defaults to ``boto3.client("s3")`` (which honours
    AWS_ENDPOINT_URL) and days are staged under ``work_dir`` (default: the system's temp directory)."""
    location = parse_lake_url(url) if isinstance(url, str) else url
    if location.is_s3:
        from spark_jobs.storage.s3 import S3Lake

        return S3Lake(location, s3_client, work_dir)
    from spark_jobs.storage.local import LocalLake

    return LocalLake(location)
