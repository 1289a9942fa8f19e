"""The whole Compose stack as a person runs it, in one command: `./start.sh --docker` with a burst,
the curl it prints, an export to the S3 server, and `./stop.sh --purge`.

Runs wherever a Docker engine answers and Compose 2.7+ and curl are installed (the first run builds
four images and pulls MongoDB, Mosquitto and the S3 server: allow several minutes); skips with the
reason elsewhere. It works in a copy of the repository under its own Compose project name, with its
own .env (fresh secrets, free host ports), and removes its containers, volumes and images.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest

from tests.e2e.test_start_stop import repo_copy
from tests.integration.deploy.compose_project import docker_unavailable
from tests.integration.deploy.test_compose_stack import stack_settings

__all__ = ["repo_copy"]  # the fixture, shared with the local-mode tests


def unavailable() -> str | None:
    if shutil.which("curl") is None:
        return "curl is not installed"
    return docker_unavailable()


UNAVAILABLE = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE))]

STACK_TIMEOUT_S = 1800
WORKERS, LOCATIONS = 5, 10


def run(copy: Path, env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=copy, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=STACK_TIMEOUT_S,
    )


def project_objects(kind: str, project: str) -> list[str]:
    """Containers, volumes or images that Compose labelled with the project."""
    listing = {"container": ["ps", "-a"], "volume": ["volume", "ls"], "image": ["image", "ls"]}[kind]
    label = f"label=com.docker.compose.project={project}"
    command = ["docker", *listing, "--quiet", "--filter", label]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    return done.stdout.split()


def lake_rows(settings: dict[str, str]) -> int:
    """Rows in the bronze table of the S3 lake, read with the exporter's own key."""
    s3 = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{settings['MINIO_API_PORT']}",
        aws_access_key_id=settings["LAKE_ACCESS_KEY"], aws_secret_access_key=settings["LAKE_SECRET_KEY"],
        region_name=settings["LAKE_REGION"],
    )
    listing = s3.list_objects_v2(Bucket=settings["LAKE_BUCKET"], Prefix="bronze/locations/")
    files = [item["Key"] for item in listing.get("Contents", []) if item["Key"].endswith(".parquet")]
    assert files, listing
    return sum(
        pq.read_metadata(io.BytesIO(s3.get_object(Bucket=settings["LAKE_BUCKET"], Key=key)["Body"].read())).num_rows
        for key in files
    )


def test_start_burst_curl_export_and_purge(repo_copy: Path) -> None:
    settings = stack_settings()
    env_file = repo_copy / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    env_file.chmod(0o600)
    project = f"deliverer-e2e-{secrets.token_hex(4)}"
    env = {**os.environ, "COMPOSE_PROJECT_NAME": project}
    try:
        started = run(
            repo_copy, env, "./start.sh", "--docker",
            "--workers", str(WORKERS), "--interval", "0", "--locations", str(LOCATIONS),
        )
        assert started.returncode == 0, started.stdout[-4000:] + started.stderr[-4000:]
        summary = json.loads((repo_copy / "var/run/last-burst.json").read_text().strip().splitlines()[-1])
        assert summary["acked"] == summary["sent"] == WORKERS * LOCATIONS

        printed = re.search(r"^  (curl -s \S+/v1/orders/(\S+)/last-location)$", started.stdout, re.MULTILINE)
        assert printed, started.stdout
        answered = subprocess.run(["bash", "-c", printed[1]], cwd=repo_copy, capture_output=True, text=True, timeout=30)
        assert json.loads(answered.stdout)["order_id"] == printed[2] == summary["order_ids"][0]

        since = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
        exported = run(repo_copy, env, "docker", "compose", "run", "--rm", "-T", "exporter", "export", "--since", since)
        assert exported.returncode == 0, exported.stdout[-4000:] + exported.stderr[-4000:]
        assert lake_rows(settings) == WORKERS * LOCATIONS
    finally:
        stopped = run(repo_copy, env, "./stop.sh", "--purge")
        images = project_objects("image", project)
        if images:
            subprocess.run(["docker", "image", "rm", "--force", *images], capture_output=True, timeout=300)
    assert stopped.returncode == 0, stopped.stderr
    assert "deleted its volumes" in stopped.stdout
    assert project_objects("container", project) == []
    assert project_objects("volume", project) == []
