"""./start.sh and ./stop.sh as a new user runs them, in a temporary copy of the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from deliverer.local_broker import free_port
from tests.helpers import REPO

IGNORED = shutil.ignore_patterns(".venv", "var", ".git", "__pycache__", "*.egg-info", ".*_cache", "bench")


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    current = subprocess.run(
        ["bash", "-c", 'source scripts/setup.sh && deliverer_venv_current "$PWD" broker'], cwd=REPO
    )
    if current.returncode != 0:
        pytest.fail("the .venv is not installed from this pyproject.toml: run ./test.sh, which installs it")
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=IGNORED)
    (copy / ".venv").symlink_to(REPO / ".venv")
    return copy


def run(copy: Path, env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=copy, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def service_pids(copy: Path) -> dict[str, int]:
    run_dir = copy / "var" / "run"
    return {p.stem: int(p.read_text()) for p in run_dir.glob("*.pid")}


@pytest.mark.slow
def test_start_runs_a_burst_answerable_by_the_api_and_stop_leaves_nothing(repo_copy: Path) -> None:
    api_port = free_port()
    env = {
        **os.environ,
        "DELIVERER_MQTT_PORT": str(free_port()),
        "DELIVERER_API_PORT": str(api_port),
        "DELIVERER_STORE_URL": "",
    }
    try:
        started = run(
            repo_copy, env, "./start.sh", "--local", "--workers", "20", "--interval", "0", "--locations", "10"
        )
        assert started.returncode == 0, started.stdout + started.stderr
        assert "curl -s http://127.0.0.1:" in started.stdout
        summary = json.loads((repo_copy / "var/run/last-burst.json").read_text().strip().splitlines()[-1])
        assert summary["acked"] == summary["sent"] == 200
        for order_id in summary["order_ids"]:
            url = f"http://127.0.0.1:{api_port}/v1/orders/{order_id}/last-location"
            with urllib.request.urlopen(url, timeout=5) as response:
                assert json.loads(response.read())["order_id"] == order_id

        first_pids = service_pids(repo_copy)
        assert set(first_pids) == {"broker", "subscriber", "api"}
        again = run(repo_copy, env, "./start.sh", "--local", "--workers", "2", "--interval", "0", "--locations", "3")
        assert again.returncode == 0, again.stdout + again.stderr
        assert service_pids(repo_copy) == first_pids, "a second start must reuse the running services"
        assert "already running" in again.stderr
    finally:
        stopped = run(repo_copy, env, "./stop.sh")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped subscriber" in stopped.stdout
    assert not [name for name, pid in first_pids.items() if alive(pid)]

    restarted = run(repo_copy, env, "./start.sh", "--local", "--workers", "3", "--interval", "0", "--locations", "5")
    try:
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    finally:
        final_pids = service_pids(repo_copy)
        assert run(repo_copy, env, "./stop.sh", "--purge").returncode == 0
    assert not [name for name, pid in final_pids.items() if alive(pid)]
    assert not (repo_copy / "var" / "deliverer.db").exists()
