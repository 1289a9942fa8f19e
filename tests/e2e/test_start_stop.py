"""./start.sh and ./stop.sh as a new user runs them, in a temporary copy of the repository."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from deliverer.local_broker import free_port
from tests.helpers import REPO, wait_until

ORIGINAL_PORT = 5000
IGNORED = shutil.ignore_patterns(".venv", "var", ".git", "__pycache__", "*.egg-info", ".*_cache", "bench")


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    current = subprocess.run(
        ["bash", "-c", 'source scripts/setup.sh && deliverer_venv_current "$PWD" local'], cwd=REPO
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


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_help_prints_the_usage_and_nothing_else() -> None:
    for script, first in (("./start.sh", "Run the courier pipeline"), ("./stop.sh", "Stop what ./start.sh started")):
        shown = subprocess.run([script, "--help"], cwd=REPO, capture_output=True, text=True, timeout=30)
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert lines[0].startswith(first)
        assert not [line for line in lines if line.startswith(("set ", "#", "cd "))], shown.stdout


@pytest.mark.slow
def test_start_runs_a_burst_answerable_by_the_api_and_stop_leaves_nothing(repo_copy: Path) -> None:
    api_port = free_port()
    env = {
        **os.environ,
        "DELIVERER_MQTT_PORT": str(free_port()),
        "DELIVERER_LIVE_PORT": str(free_port()),
        "DELIVERER_API_PORT": str(api_port),
        "DELIVERER_SUBSCRIBE_METRICS_PORT": str(free_port()),
        "DELIVERER_STORE_URL": "",
    }
    try:
        started = run(
            repo_copy, env, "./start.sh", "--local", "--workers", "20", "--interval", "0", "--locations", "10"
        )
        assert started.returncode == 0, started.stdout + started.stderr
        assert "curl -s http://127.0.0.1:" in started.stdout
        # The closing lines end with the tracking page of an order of the burst, which answers.
        track_url = started.stderr.strip().splitlines()[-1].split()[1]
        assert track_url.startswith(f"http://127.0.0.1:{env['DELIVERER_LIVE_PORT']}/track/")
        with urllib.request.urlopen(track_url, timeout=10) as page:
            assert page.status == 200 and b'id="tracker"' in page.read()
        summary = json.loads((repo_copy / "var/run/last-burst.json").read_text().strip().splitlines()[-1])
        assert summary["acked"] == summary["sent"] == 200
        for order_id in summary["order_ids"]:
            assert get_json(f"http://127.0.0.1:{api_port}/v1/orders/{order_id}/last-location")["order_id"] == order_id
        # The variables that moved start.sh's services move a bare command to them too.
        published = run(repo_copy, env, ".venv/bin/deliverer", "publish", "--workers", "2", "--locations", "2",
                        "--interval", "0", "--json")
        assert published.returncode == 0, published.stderr
        assert json.loads(published.stdout)["acked"] == 4

        first_pids = service_pids(repo_copy)
        assert set(first_pids) == {"broker", "subscriber", "api", "live"}
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


@pytest.mark.slow
def test_legacy_serves_the_original_client_on_port_5000_unchanged(repo_copy: Path) -> None:
    if port_in_use(ORIGINAL_PORT):
        pytest.skip(f"port {ORIGINAL_PORT} is in use by another program")
    metrics_port = free_port()
    env = {
        **os.environ,
        "DELIVERER_MQTT_PORT": str(free_port()),
        "DELIVERER_LIVE_PORT": str(free_port()),
        "DELIVERER_SUBSCRIBE_METRICS_PORT": str(metrics_port),
        "DELIVERER_API_PORT": "",
        "DELIVERER_API_URL": "",
        "DELIVERER_STORE_URL": "",
    }
    api = f"http://127.0.0.1:{ORIGINAL_PORT}"
    try:
        started = run(repo_copy, env, "./start.sh", "--local", "--legacy", "--no-burst")
        assert started.returncode == 0, started.stdout + started.stderr
        closing = started.stderr[started.stderr.index("Commands:"):]
        assert "source .venv/bin/activate" in closing.splitlines()[0]
        assert f"export DELIVERER_API_URL={api}" in closing
        assert f"Metrics:  http://127.0.0.1:{metrics_port}/metrics (subscriber)" in closing
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as page:
            assert b"deliverer_subscriber_" in page.read()

        # The original client with its own default URL: nothing changed at all.
        client = run(repo_copy, env, ".venv/bin/python", "tests/original_client.py", "-d", "3", "-l", "2", "-n", "2")
        assert client.returncode == 0, client.stderr

        def arrived(order_id: int) -> bool:
            try:
                data = get_json(f"{api}/v1/deliverer_location/last/{order_id}")["data"]
            except urllib.error.URLError:
                return False
            return bool(data) and data[0]["delivery_state"] == "arrived" and data[0]["order_id"] == order_id

        for order_id in (43, 86):
            wait_until(lambda order_id=order_id: arrived(order_id), 20, f"order {order_id} arrived")
    finally:
        stopped = run(repo_copy, env, "./stop.sh", "--purge")
    assert stopped.returncode == 0, stopped.stderr
    assert not port_in_use(ORIGINAL_PORT)
