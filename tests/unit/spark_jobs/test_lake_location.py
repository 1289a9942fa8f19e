from __future__ import annotations

from pathlib import Path

import pytest

from spark_jobs.storage.location import parse_lake_url


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://lake", "lake", ""),
        ("s3://lake/", "lake", ""),
        ("s3://lake/tracking/prod/", "lake", "tracking/prod"),
        ("s3a://lake/tracking", "lake", "tracking"),
    ],
)
def test_s3_urls_name_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str) -> None:
    location = parse_lake_url(url)
    assert location.is_s3 and location.bucket == bucket and location.prefix == prefix
    assert location.key("bronze/locations", "dt=2026-01-02") == "/".join(
        p for p in (prefix, "bronze/locations/dt=2026-01-02") if p
    )


def test_s3_url_for_joins_parts_under_the_prefix() -> None:
    location = parse_lake_url("s3://lake/tracking")
    assert location.url == "s3://lake/tracking"
    assert location.url_for("_state", "export.json") == "s3://lake/tracking/_state/export.json"
    assert parse_lake_url("s3://lake").url == "s3://lake"


@pytest.mark.parametrize("url", ["/tmp/lake", "file:///tmp/lake", "file:/tmp/lake"])
def test_absolute_local_forms(url: str) -> None:
    location = parse_lake_url(url)
    assert not location.is_s3 and location.path == Path("/tmp/lake")
    assert location.url_for("bronze") == "/tmp/lake/bronze"


def test_relative_paths_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_lake_url("var/lake").path == tmp_path / "var" / "lake"
    assert parse_lake_url("file://var/lake").path == tmp_path / "var" / "lake"


@pytest.mark.parametrize("url", ["", "s3://", "s3:///prefix", "ftp://host/lake", "file://"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_lake_url(url)


def test_a_local_lake_has_no_keys_and_an_s3_lake_no_path() -> None:
    with pytest.raises(ValueError):
        parse_lake_url("s3://lake/x").local_path()
