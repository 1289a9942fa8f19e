"""What the service images run works without the lake tools, which only the exporter's image has.

The commands run in a Python that cannot import what requirements/lake.txt adds to
requirements/core.txt, as in the api, subscriber, publisher and one-shot images."""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.integration.deploy.lock_files import LOCKS, normalized, pins

# The Python the service images have: the lake-only packages fail to import, as when not installed.
WITHOUT_LAKE_TOOLS = """
import importlib.abc, sys

class LakeToolsAbsent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

ABSENT = set(sys.argv[1].split(","))
sys.meta_path.insert(0, LakeToolsAbsent())
"""
RUN_CLI = WITHOUT_LAKE_TOOLS + """
from deliverer_cli.main import main
sys.exit(main(sys.argv[2:]))
"""
# What the services' images import: every service, the composition root and the one-shots' commands.
SERVICE_PACKAGES = ("deliverer", "deliverer_cli", "subscriber", "app_api", "publisher")
ENTRY_MODULES = (
    "deliverer_cli.main", "subscriber.cli", "app_api.cli", "publisher.cli",
    "deliverer_cli.broker_accounts", "deliverer_cli.broker_certs", "deliverer_cli.store",
)


def lake_only_modules() -> set[str]:
    """The top-level modules of the distributions only the exporter's lock installs (here, in the
    test environment, they are installed: that is how their module names are known)."""
    lake_only = {pin.partition("==")[0] for pin in pins(LOCKS / "lake.txt") - pins(LOCKS / "core.txt")}
    modules = {
        module for module, distributions in importlib.metadata.packages_distributions().items()
        if any(normalized(d) in lake_only for d in distributions)
    }
    assert {"pyspark", "pyarrow", "duckdb", "boto3", "botocore", "croniter"} <= modules, modules
    return modules


def deliverer(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN_CLI, ",".join(sorted(lake_only_modules())), *argv],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )


def test_the_services_and_every_command_line_load_without_the_lake_tools() -> None:
    script = WITHOUT_LAKE_TOOLS + f"""
import importlib
for module in {ENTRY_MODULES!r}:
    importlib.import_module(module)
from deliverer_cli.main import build_parser
parser = build_parser()
commands = parser._subparsers._group_actions[0].choices
for name, command in commands.items():
    command.format_help()
print(len(commands))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, ",".join(sorted(lake_only_modules()))],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout) >= 14


def test_the_one_shots_run_without_the_lake_tools(tmp_path: Path) -> None:
    migrated = deliverer("store", "migrate", "--store", f"sqlite:///{tmp_path}/deliverer.db", cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    certificates = deliverer("broker-certs", str(tmp_path / "certs"), cwd=tmp_path)
    assert certificates.returncode == 0, certificates.stderr[-3000:]
    assert (tmp_path / "certs" / "server.crt").is_file() and (tmp_path / "certs" / "server.key").is_file()


@pytest.mark.parametrize(
    "command",
    [
        ["export", "--store", "sqlite:///deliverer.db", "--lake", "lake"],
        ["export", "--store", "sqlite:///deliverer.db", "--lake", "lake", "--every", "15m"],
        ["query", "--lake", "lake", "select 1"],
        ["prune", "--store", "sqlite:///deliverer.db", "--lake", "lake"],
        ["transform", "--lake", "lake"],
    ],
    ids=lambda command: " ".join(command),
)
def test_a_lake_command_without_the_lake_tools_says_which_image_has_them(command: list[str], tmp_path: Path) -> None:
    done = deliverer(*command, cwd=tmp_path)
    assert "the lake commands need the lake extra" in done.stderr and "exporter" in done.stderr, done.stderr[-3000:]
    assert done.returncode == 2 and "Traceback" not in done.stderr


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, wherever the import statement is (functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_no_service_module_imports_a_lake_tool_even_inside_a_function() -> None:
    forbidden = lake_only_modules() | {"spark_jobs"}
    offenders = {}
    for package in SERVICE_PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            reached = {m for m in imported_modules(path) if m.partition(".")[0] in forbidden}
            if path == REPO / "deliverer_cli" / "main.py":
                # The composition root lists the lake commands; loading them without the tools is proven above.
                reached = {m for m in reached if m != "spark_jobs"}
            if reached:
                offenders[str(path.relative_to(REPO))] = sorted(reached)
    assert not offenders, offenders
