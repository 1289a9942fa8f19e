"""How ./start.sh chooses and enters Docker mode, and what ./stop.sh does after it failed.

No Docker engine runs here, so a stand-in `docker` command on PATH answers the few questions
start.sh asks (`docker info`, `docker compose version --short`, `docker volume ls`) as a machine
with an engine would, fails `docker compose up`, and records every call. What is tested is
start.sh's own decisions; tests/e2e/test_docker_stack.py runs the real stack where an engine exists.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from deliverer.local_broker import free_port
from tests.e2e.test_start_stop import repo_copy, run, service_pids

__all__ = ["repo_copy"]  # the fixture, shared with the local-mode tests

FAKE_DOCKER = """#!/bin/sh
echo "$*" >>"$FAKE_DOCKER_LOG"
case "$*" in
    info) exit 0 ;;
    "compose version --short")
        [ -n "$FAKE_COMPOSE_VERSION" ] || { echo "docker: 'compose' is not a docker command." >&2; exit 1; }
        echo "$FAKE_COMPOSE_VERSION" ;;
    "volume ls"*) [ -z "$FAKE_VOLUMES" ] || printf '%s\\n' $FAKE_VOLUMES ;;
    "compose up"*) echo "Error response from daemon: pull access denied" >&2; exit 1 ;;
    "compose down"*) exit 0 ;;
    *) echo "fake docker: unexpected call: $*" >&2; exit 3 ;;
esac
"""


def docker_env(tmp_path: Path, compose_version: str, volumes: str = "") -> dict[str, str]:
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_DOCKER_LOG": str(tmp_path / "docker-calls.log"),
        "FAKE_COMPOSE_VERSION": compose_version,
        "FAKE_VOLUMES": volumes,
        "COMPOSE_PROJECT_NAME": "",
    }


def docker_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "docker-calls.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("", "the Docker Compose v2 plugin is not installed"),
        ("2.6.1", "Docker Compose 2.6.1 is older than 2.7 (its `up --wait` hangs on one-shot services)"),
        ("v1.29.2", "Docker Compose 1.29.2 is older than 2.7"),
        ("dev", "cannot read the Docker Compose version 'dev'"),
    ],
)
def test_docker_mode_refuses_a_missing_or_old_compose_and_says_why(
    repo_copy: Path, tmp_path: Path, version: str, reason: str
) -> None:
    started = run(repo_copy, docker_env(tmp_path, version), "./start.sh", "--docker", "--no-burst")
    assert started.returncode == 1
    assert f"error: cannot run the Docker Compose stack: {reason}" in started.stderr
    assert "or use ./start.sh --local" in started.stderr
    assert not [call for call in docker_calls(tmp_path) if call.startswith("compose up")]
    assert not (repo_copy / ".env").exists()
    assert not (repo_copy / "var/run/mode").exists()


def test_stop_after_a_failed_docker_start_stops_the_stack(repo_copy: Path, tmp_path: Path) -> None:
    env = docker_env(tmp_path, "v2.29.1")
    started = run(repo_copy, env, "./start.sh", "--docker", "--no-burst")
    assert started.returncode == 1
    assert "error: the stack did not start" in started.stderr
    assert "compose up -d --build --wait" in docker_calls(tmp_path)
    assert (repo_copy / "var/run/mode").read_text().strip() == "docker", "stop.sh would not know what to stop"
    env_file = repo_copy / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "change-me" not in env_file.read_text()

    stopped = run(repo_copy, env, "./stop.sh")
    assert stopped.returncode == 0, stopped.stderr
    assert docker_calls(tmp_path)[-1] == "compose down"
    assert "stopped the Docker Compose stack" in stopped.stdout
    assert not (repo_copy / "var/run/mode").exists()


def test_fresh_secrets_are_refused_beside_the_volumes_of_an_earlier_stack(repo_copy: Path, tmp_path: Path) -> None:
    env = docker_env(tmp_path, "2.29.1", volumes="repo_mongo-data repo_mqtt-auth")
    started = run(repo_copy, env, "./start.sh", "--docker", "--no-burst")
    assert started.returncode == 1
    assert "the stack's data volumes exist but .env, which holds their passwords, is gone" in started.stderr
    assert "docker volume rm repo_mongo-data repo_mqtt-auth" in started.stderr
    assert "volume ls --quiet --filter label=com.docker.compose.project=repo" in docker_calls(tmp_path)
    assert not (repo_copy / ".env").exists()
    assert not [call for call in docker_calls(tmp_path) if call.startswith("compose up")]


@pytest.mark.slow
def test_auto_mode_falls_back_to_local_processes_when_compose_is_too_old(repo_copy: Path, tmp_path: Path) -> None:
    env = {
        **docker_env(tmp_path, "2.5.0"),
        "DELIVERER_MQTT_PORT": str(free_port()),
        "DELIVERER_LIVE_PORT": str(free_port()),
        "DELIVERER_API_PORT": str(free_port()),
        "DELIVERER_STORE_URL": "",
    }
    try:
        started = run(repo_copy, env, "./start.sh", "--no-burst")
        assert started.returncode == 0, started.stdout + started.stderr
        assert (
            "==> a Docker engine answers, but Docker Compose 2.5.0 is older than 2.7 (its `up --wait` hangs on "
            "one-shot services): running local processes instead"
        ) in started.stderr
        assert set(service_pids(repo_copy)) == {"broker", "subscriber", "api", "live"}
        assert (repo_copy / "var/run/mode").read_text().strip() == "local"
    finally:
        stopped = run(repo_copy, env, "./stop.sh", "--purge")
    assert stopped.returncode == 0, stopped.stderr
    assert not [call for call in docker_calls(tmp_path) if call.startswith(("compose up", "compose down"))]
