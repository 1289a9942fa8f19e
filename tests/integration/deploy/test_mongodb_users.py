"""mongodb/app-user.js, the one-shot "mongodb-users": the application account is created, or brought
back to the password and role of .env, on every start.

No MongoDB server runs here, so the script runs under Node (the engine mongosh is built on) with a
double of the few mongosh calls it makes (tests/integration/deploy/mongosh_double.js): what is
checked is the script's own logic, and that Compose hands it every variable it reads. Where Docker
runs, tests/integration/deploy/test_compose_stack.py logs in with the account on a real mongod.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO
from tests.integration.deploy.compose_project import environment, load_compose, mount_at

SCRIPT = REPO / "mongodb" / "app-user.js"
DOUBLE = Path(__file__).with_name("mongosh_double.js")
ENV = {
    "MONGO_ROOT_USERNAME": "root",
    "MONGO_ROOT_PASSWORD": "root-secret",
    "MONGO_APP_DATABASE": "deliverer",
    "MONGO_APP_USERNAME": "deliverer",
    "MONGO_APP_PASSWORD": "app-secret",
}
ACCOUNT = {"pwd": "app-secret", "roles": [{"role": "readWrite", "db": "deliverer"}]}


def node() -> str:
    found = shutil.which("node") or shutil.which("nodejs")
    if found is None:
        pytest.skip("node is not installed: cannot run the mongosh script here")
    return found


def run_script(**scenario: Any) -> dict[str, Any]:
    scenario = {"env": ENV, "rootPassword": "root-secret", **scenario}
    done = subprocess.run(
        [node(), str(DOUBLE), str(SCRIPT)], input=json.dumps(scenario), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def server_calls(result: dict[str, Any]) -> list[Any]:
    return [call for call in result["calls"] if call[0] != "getUser"]


def test_the_first_start_creates_the_account_with_read_write_on_its_database_only() -> None:
    result = run_script()
    assert result["error"] is None
    assert server_calls(result) == [
        ["auth", "admin", "root"],
        ["createUser", "deliverer", {"user": "deliverer", **ACCOUNT}],
    ]
    assert result["printed"] == ["mongodb-users: created deliverer, who may read and write deliverer only"]


def test_every_later_start_sets_the_password_and_role_of_env_again() -> None:
    result = run_script(existingUsers=["deliverer.deliverer"])
    assert result["error"] is None
    assert server_calls(result) == [["auth", "admin", "root"], ["updateUser", "deliverer", "deliverer", ACCOUNT]]
    assert result["printed"] == ["mongodb-users: updated deliverer, who may read and write deliverer only"]


def test_an_account_created_meanwhile_by_another_run_is_updated_not_an_error() -> None:
    result = run_script(createdMeanwhile=True)
    assert result["error"] is None
    assert [call[0] for call in server_calls(result)] == ["auth", "createUser", "updateUser"]


def test_any_other_create_failure_ends_the_run_with_the_servers_error() -> None:
    result = run_script(createFails="not primary")
    assert result["error"] == "not primary"
    assert [call[0] for call in server_calls(result)] == ["auth", "createUser"]


def test_a_root_password_that_does_not_match_the_volume_says_what_to_do_and_changes_nothing() -> None:
    result = run_script(rootPassword="the-volumes-password")
    assert server_calls(result) == [["auth", "admin", "root"]]
    assert "cannot log in to MongoDB as root (Authentication failed.)" in result["error"]
    assert "MONGO_ROOT_PASSWORD in .env is not the one the data volume was created with" in result["error"]
    assert "./stop.sh --purge" in result["error"]


@pytest.mark.parametrize("missing", sorted(ENV))
def test_a_missing_variable_is_named_before_anything_is_changed(missing: str) -> None:
    result = run_script(env={name: value for name, value in ENV.items() if name != missing})
    assert result["error"] == f"{missing} is not set: see docker-compose.yml, service mongodb-users"
    assert result["calls"] == []


def test_compose_runs_the_script_as_root_with_every_variable_it_reads_and_no_secret_on_the_command_line() -> None:
    services = load_compose()["services"]
    users = services["mongodb-users"]
    entrypoint = users["entrypoint"]
    script_in_container = Path(entrypoint[entrypoint.index("--file") + 1])
    assert Path(mount_at(users, str(script_in_container.parent)).source).resolve() / script_in_container.name == SCRIPT
    assert entrypoint[:3] == ["mongosh", "--quiet", "mongodb://mongodb:27017/admin"], "no credentials in the URL"
    read = set(re.findall(r'required\("([A-Z_]+)"\)', SCRIPT.read_text()))
    assert read == set(ENV)
    env = environment(users)
    assert read <= set(env)
    assert users["image"] == services["mongodb"]["image"], "mongosh of the same release as the server"
    assert {name: spec["condition"] for name, spec in users["depends_on"].items()} == {"mongodb": "service_healthy"}
