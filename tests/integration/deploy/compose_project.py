"""Read the Docker Compose project the way Compose does, for tests that run without a Docker engine.

``load_compose`` asks ``docker compose config`` (or Debian's ``docker-compose config``) to parse,
validate and interpolate ``docker-compose.yml`` with ``.env.example``; on a machine without either
it falls back to PyYAML and the same interpolation rules. Both give paths that ``REPO / path``
resolves, and ``mounts`` reads volumes in the short and the long syntax alike.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, $NAME; $$ is a literal $.
_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines; comments and blank lines skipped, as Compose reads ``.env``."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def raw_compose() -> Any:
    """``docker-compose.yml`` as written: YAML parsed (anchors merged), nothing interpolated."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _map_strings(node: Any, change: Callable[[str], str]) -> Any:
    if isinstance(node, str):
        return change(node)
    if isinstance(node, dict):
        return {key: _map_strings(value, change) for key, value in node.items()}
    if isinstance(node, list):
        return [_map_strings(value, change) for value in node]
    return node


def referenced_variables(node: Any) -> set[str]:
    """Every variable Compose interpolates in the values of ``node`` (``$$`` escapes excluded)."""
    matches = (m for text in _strings(node) for m in _VARIABLE.finditer(text))
    return {m["braced"] or m["bare"] for m in matches if m["braced"] or m["bare"]}


def interpolate(text: str, env: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match["braced"] or match["bare"]
        if name is None:
            return "$"
        value, op = env.get(name), match["op"] or ""
        unset = value is None or (op.startswith(":") and value == "")
        if op.endswith("-") and unset:
            return match["arg"]
        if op.endswith("?") and unset:
            raise ValueError(f"required variable {name} is missing: {match['arg']}")
        return value or ""

    return _VARIABLE.sub(substitute, text)


def compose_cli() -> list[str] | None:
    """The Compose command on this machine, if any: the v2 plugin first, then ``docker-compose``."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def load_compose(env_file: Path = ENV_EXAMPLE, profiles: tuple[str, ...] = ("publisher",)) -> dict[str, Any]:
    """The interpolated Compose model, validated by the Compose CLI when one is installed."""
    cli = compose_cli()
    if cli is None:
        env = read_env_file(env_file)
        return dict(_map_strings(raw_compose(), lambda text: interpolate(text, env)))
    command = [*cli, "-f", str(COMPOSE_FILE), "--env-file", str(env_file)]
    for profile in profiles:
        command += ["--profile", profile]
    done = subprocess.run([*command, "config"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, f"{' '.join(cli)} config failed:\n{done.stderr}"
    return dict(yaml.safe_load(done.stdout))


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool

    @property
    def is_bind(self) -> bool:
        return self.source.startswith((".", "/"))


def mounts(service: dict[str, Any]) -> Iterator[Mount]:
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            yield Mount(parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(","))
        else:
            yield Mount(str(volume.get("source", "")), volume["target"], bool(volume.get("read_only")))


def mount_at(service: dict[str, Any], target: str) -> Mount:
    found = [m for m in mounts(service) if m.target.rstrip("/") == target.rstrip("/")]
    assert len(found) == 1, f"expected one mount at {target}, found {found}"
    return found[0]


@dataclass(frozen=True)
class PublishedPort:
    address: str  # "" for every interface
    host_port: str
    container_port: str


def published_ports(service: dict[str, Any]) -> list[PublishedPort]:
    result = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            address, host_port = str(port.get("host_ip", "")), str(port.get("published", ""))
            result.append(PublishedPort(address, host_port, str(port["target"])))
        else:
            parts = str(port).split("/")[0].split(":")
            address = parts[0] if len(parts) == 3 else ""
            result.append(PublishedPort(address, parts[-2] if len(parts) >= 2 else "", parts[-1]))
    return result


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


# start.sh needs this Compose release or later: older `up --wait` hangs on the one-shot services.
COMPOSE_MINIMUM = (2, 7)


def docker_unavailable() -> str | None:
    """Why the Compose stack cannot run on this machine, or None when it can."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 20 s"
    if info.returncode != 0:
        detail = (info.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no Docker engine answers `docker info` ({detail})"
    version = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True, timeout=20)
    if version.returncode != 0:
        return "the Docker Compose v2 plugin (`docker compose`) is not installed"
    found = re.match(r"v?(\d+)\.(\d+)", version.stdout.strip())
    if found is None or (int(found[1]), int(found[2])) < COMPOSE_MINIMUM:
        return f"Docker Compose {version.stdout.strip()} is older than {COMPOSE_MINIMUM[0]}.{COMPOSE_MINIMUM[1]}"
    return None
