"""docker-compose.yml, checked without a Docker engine: it parses, and everything it names exists.

The Compose CLI (``docker compose`` or Debian's ``docker-compose``) validates and interpolates the
file with ``.env.example`` when installed; PyYAML and the same interpolation rules otherwise.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from deliverer.local_broker import mosquitto_binary
from deliverer.mqtt import parse_mqtt_url
from deliverer.settings import (
    SUBSCRIBE_CLIENT_ID,
    SUBSCRIBE_LEAVE_ON_EXIT,
    SUBSCRIBE_METRICS_HOST,
    SUBSCRIBE_METRICS_PORT,
)
from deliverer_cli.broker_auth.accounts import COURIERS_SETTING, FIXED_CLIENT_IDS, SERVICE_PASSWORD_SETTINGS
from tests.helpers import REPO
from tests.integration.deploy.cli_help import assert_cli_accepts
from tests.integration.deploy.compose_project import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    compose_cli,
    environment,
    load_compose,
    mount_at,
    mounts,
    published_ports,
    raw_compose,
    read_env_file,
    referenced_variables,
)
from tests.integration.deploy.dockerfile import DOCKERFILE, stages

APP_SERVICES = {"api", "live", "subscriber", "publisher", "exporter"}
# The one-shots that run `deliverer broker-accounts`, `broker-certs` and `store migrate` are built from our image too.
BUILT_SERVICES = {*APP_SERVICES, "mqtt-auth", "mqtt-certs", "store-migrate"}
ONE_SHOT = {"mqtt-auth", "mqtt-certs", "mongodb-users", "store-migrate", "lake-bucket"}
LONG_RUNNING = {"mqtt", "mongodb", "minio", "api", "subscriber", "exporter"}
MQTT_ACCOUNTS = {"api": "svc~api", "subscriber": "svc~subscriber", "publisher": "svc~publisher"}
URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


def unescaped(text: str) -> str:
    """``docker-compose config`` keeps ``$$`` escaped; the PyYAML fallback does not."""
    return text.replace("$$", "$")


def test_the_stack_has_every_service(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {
        "mqtt-auth", "mqtt-certs", "mqtt", "mongodb", "mongodb-users", "store-migrate", "minio", "lake-bucket",
        *APP_SERVICES,
    }


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("")
    done = subprocess.run(
        [*cli, "-f", str(COMPOSE_FILE), "--env-file", str(empty_env), "config"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert done.returncode != 0
    assert "set it in .env (copy .env.example)" in done.stderr


def test_every_variable_is_in_env_example_and_every_setting_there_is_used(env_example: dict[str, str]) -> None:
    used = referenced_variables(raw_compose())
    assert sorted(used - set(env_example)) == [], "used by docker-compose.yml, missing from .env.example"
    assert sorted(set(env_example) - used) == [], "in .env.example, used nowhere in docker-compose.yml"


def test_example_secrets_fit_in_urls_and_minio_accepts_them(env_example: dict[str, str]) -> None:
    secrets = {k: v for k, v in env_example.items() if k.endswith(("_PASSWORD", "_SECRET_KEY"))}
    secrets.update({f"courier {pair}": pair.partition(":")[2] for pair in env_example["MQTT_COURIERS"].split(",")})
    assert len(secrets) >= 9
    for name, value in secrets.items():
        assert URL_SAFE.fullmatch(value), f"{name}={value!r} needs URL escaping"
    minio_minimum = {"MINIO_ROOT_USER": 3, "MINIO_ROOT_PASSWORD": 8, "LAKE_ACCESS_KEY": 3, "LAKE_SECRET_KEY": 8}
    for name, shortest in minio_minimum.items():
        assert len(env_example[name]) >= shortest, f"MinIO refuses a {name} shorter than {shortest}"


def test_each_built_service_is_its_own_target_of_the_one_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    built = {name: s["build"] for name, s in services.items() if "build" in s}
    assert set(built) == BUILT_SERVICES
    targets = stages()
    for name, build in built.items():
        context = REPO / build["context"]
        assert context.resolve() == REPO.resolve(), f"{name}: the build context must be the repository root"
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE.resolve(), name
        assert build.get("target") == name and name in targets, f"{name}: build the Dockerfile's target {name}"


def test_every_mounted_file_exists_and_every_named_volume_is_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    bound = set()
    for name, service in compose["services"].items():
        for mount in mounts(service):
            if mount.is_bind:
                source = (REPO / mount.source).resolve()
                assert source.exists(), f"{name}: {mount.source} is missing"
                assert mount.read_only, f"{name}: configuration {mount.source} should be mounted read-only"
                bound.add(source.relative_to(REPO.resolve()).as_posix())
            else:
                assert mount.source in declared, f"{name}: volume {mount.source} is not declared"
    assert bound == {"mqtt/run-broker.sh", "mqtt/mosquitto-docker.conf", "mqtt/conf.d", "mongodb", "minio"}


def test_no_host_network_and_no_fixed_container_names(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert service.get("network_mode") != "host", name
        assert not service.get("privileged"), name
        assert "container_name" not in service, f"{name}: a fixed name prevents scaling and parallel projects"


def test_services_wait_for_their_dependencies_to_be_healthy_or_done(services: dict[str, dict[str, Any]]) -> None:
    # Every service that opens the store waits for its migration (they refuse a store not migrated).
    migrated = {"mongodb-users": "service_completed_successfully", "store-migrate": "service_completed_successfully"}
    expected = {
        "mqtt": {"mqtt-auth": "service_completed_successfully", "mqtt-certs": "service_completed_successfully"},
        "mongodb-users": {"mongodb": "service_healthy"},
        "lake-bucket": {"minio": "service_healthy"},
        "store-migrate": {"mongodb-users": "service_completed_successfully"},
        "api": {**migrated, "mqtt": "service_healthy"},
        "live": {**migrated, "mqtt": "service_healthy"},
        "subscriber": {**migrated, "mqtt": "service_healthy"},
        "exporter": {**migrated, "lake-bucket": "service_completed_successfully"},
        "publisher": {"mqtt": "service_healthy"},
    }
    for name, service in services.items():
        depends = {dep: spec["condition"] for dep, spec in (service.get("depends_on") or {}).items()}
        assert depends == expected.get(name, {}), name
        for dependency, condition in depends.items():
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
            else:
                assert dependency in ONE_SHOT


def test_every_one_shot_is_awaited_by_a_long_running_service(services: dict[str, dict[str, Any]]) -> None:
    """`docker compose up --wait` (start.sh) counts a one-shot's exit as a failure unless a service
    that keeps running waits for it with service_completed_successfully."""
    for one_shot in ONE_SHOT:
        awaited_by = [
            name for name in LONG_RUNNING
            if (services[name].get("depends_on") or {}).get(one_shot, {}).get("condition")
            == "service_completed_successfully"
        ]
        assert awaited_by, f"{one_shot} is awaited by no long-running service"


# An exact release: a version of three numbers, or MinIO's dated RELEASE tags.
EXACT_TAG = re.compile(r"\d+\.\d+\.\d+|RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z")


def test_every_image_is_pinned_to_an_exact_release(services: dict[str, dict[str, Any]]) -> None:
    images = {name: s["image"] for name, s in services.items() if "image" in s}
    assert set(images) == {"mqtt", "mongodb", "mongodb-users", "minio", "lake-bucket"}
    for name, image in images.items():
        _repository, _, tag = image.rpartition(":")
        assert EXACT_TAG.fullmatch(tag), f"{name}: {image} floats; pin an exact release"
    assert images["mongodb-users"] == images["mongodb"]
    assert images["lake-bucket"] == images["minio"]
    assert images["mongodb"].startswith("mongo:8.0.")


def test_the_broker_image_is_the_release_line_the_tests_run() -> None:
    """The deploy tests load the container config into the Mosquitto installed here (Debian's);
    the image must stay on the same major.minor line, whose config syntax and defaults they prove."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed")
    banner = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=10).stdout
    installed = re.search(r"mosquitto version (\d+)\.(\d+)\.\d+", banner)
    assert installed, banner
    image = load_compose()["services"]["mqtt"]["image"]
    pinned = re.fullmatch(r"eclipse-mosquitto:(\d+)\.(\d+)\.\d+", image)
    assert pinned, image
    assert pinned.groups() == installed.groups() == ("2", "0")


def test_long_running_services_restart_and_report_health(services: dict[str, dict[str, Any]]) -> None:
    for name in LONG_RUNNING:
        assert services[name].get("restart") == "unless-stopped", name
        if name != "exporter":
            assert services[name]["healthcheck"]["test"], name
    for name in ONE_SHOT | {"publisher"}:
        assert services[name].get("restart", "no") == "no", name
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_healthcheck_shell_variables_are_set_on_their_service(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test", [])
        if test and test[0] == "CMD-SHELL":
            used = set(re.findall(r"\$([A-Z_][A-Z0-9_]*)", unescaped(test[1]))) - {"SYS"}
            assert used <= set(environment(service)), f"{name}: healthcheck reads {used}"


def test_the_publisher_runs_only_on_demand(services: dict[str, dict[str, Any]]) -> None:
    assert services["publisher"]["profiles"] == ["publisher"]
    assert [name for name, s in services.items() if s.get("profiles")] == ["publisher"]


def test_the_subscriber_scales_with_a_client_id_per_replica(services: dict[str, dict[str, Any]]) -> None:
    subscriber = services["subscriber"]
    env = environment(subscriber)
    assert published_ports(subscriber) == [], "a published host port would clash between replicas"
    client_id = SUBSCRIBE_CLIENT_ID
    assert "hostname" not in subscriber and not {client_id.env, *client_id.formerly} & set(env), (
        "every replica must get its own client id (deliverer-subscriber-<container hostname>)"
    )
    assert env[SUBSCRIBE_LEAVE_ON_EXIT.env] == "1"
    assert env[SUBSCRIBE_METRICS_HOST.env] == "0.0.0.0" and env[SUBSCRIBE_METRICS_PORT.env] in (
        " ".join(subscriber["healthcheck"]["test"])
    )
    assert subscriber["stop_grace_period"] in ("60s", "1m")


def test_databases_are_published_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    for name in ("mongodb", "minio"):
        ports = published_ports(services[name])
        assert ports and all(p.address == "127.0.0.1" for p in ports), (name, ports)


def test_services_log_in_with_their_own_accounts(
    services: dict[str, dict[str, Any]], env_example: dict[str, str]
) -> None:
    for name, username in MQTT_ACCOUNTS.items():
        endpoint = parse_mqtt_url(environment(services[name])["DELIVERER_MQTT_URL"])
        assert (endpoint.host, endpoint.port, endpoint.username) == ("mqtt", 1883, username)
        assert endpoint.password == env_example[f"MQTT_{name.upper()}_PASSWORD"]
    for name in ("api", "subscriber", "exporter", "store-migrate"):
        store = urlsplit(environment(services[name])["DELIVERER_STORE_URL"])
        assert (store.scheme, store.hostname, store.port, store.path) == (
            "mongodb", "mongodb", 27017, "/" + env_example["MONGO_APP_DATABASE"]
        )
        assert store.username == env_example["MONGO_APP_USERNAME"]
        assert store.password == env_example["MONGO_APP_PASSWORD"]
    exporter = environment(services["exporter"])
    assert exporter["DELIVERER_LAKE_URL"] == f"s3://{env_example['LAKE_BUCKET']}"
    assert exporter["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert exporter["AWS_ACCESS_KEY_ID"] == env_example["LAKE_ACCESS_KEY"]


def test_the_container_broker_config_matches_its_mounts(services: dict[str, dict[str, Any]]) -> None:
    mqtt, auth, certs = services["mqtt"], services["mqtt-auth"], services["mqtt-certs"]
    config_mount = mount_at(mqtt, "/mosquitto/config/mosquitto.conf")
    assert Path(config_mount.source).resolve() == (REPO / "mqtt/mosquitto-docker.conf").resolve()
    lines = [
        line.partition(" ")[::2] for line in (REPO / "mqtt/mosquitto-docker.conf").read_text().splitlines()
        if line and not line.startswith("#") and not line.startswith("log_type")
    ]
    settings = dict(lines)
    assert settings["allow_anonymous"] == "false"
    assert [value for key, value in lines if key == "listener"] == ["1883", "8883"]
    assert [p.container_port for p in published_ports(mqtt)] == ["8883"], "plain MQTT stays on the Compose network"
    assert "-p 1883 " in mqtt["healthcheck"]["test"][1]
    accounts_file = Path(settings["plugin_opt_config_file"])
    auth_dir = mount_at(mqtt, str(accounts_file.parent))
    assert not auth_dir.read_only, "the dynamic security plugin saves its changes"
    assert mount_at(auth, auth_dir.target).source == auth_dir.source, "mqtt-auth writes another volume"
    assert auth["command"][:2] == ["broker-accounts", auth_dir.target]
    assert auth["command"][auth["command"].index("--broker") + 1] == "mqtt://mqtt:1883"
    cert_dir = mount_at(mqtt, str(Path(settings["certfile"]).parent))
    assert str(Path(settings["keyfile"]).parent) == cert_dir.target and cert_dir.read_only
    assert mount_at(certs, cert_dir.target).source == cert_dir.source
    assert certs["command"][:2] == ["broker-certs", cert_dir.target]
    # Both one-shots hand the files to the broker image's user.
    for one_shot in (auth, certs):
        assert one_shot["command"][one_shot["command"].index("--owner") + 1] == "1883:1883"
        assert str(one_shot["user"]).partition(":")[0] == "0"
    conf_d = mount_at(mqtt, settings["include_dir"])
    assert Path(conf_d.source).resolve() == (REPO / "mqtt/conf.d").resolve()
    assert not mount_at(mqtt, settings["persistence_location"]).is_bind


@pytest.mark.parametrize("service", ["lake-bucket"])
def test_one_shot_scripts_are_mounted_and_get_every_variable_they_read(
    services: dict[str, dict[str, Any]], service: str
) -> None:
    spec = services[service]
    script_in_container = Path(spec["entrypoint"][1])
    mount = mount_at(spec, str(script_in_container.parent))
    script = Path(mount.source) / script_in_container.name
    assert script.is_file(), script
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    read = set(re.findall(r"\b((?:MQTT|MINIO|LAKE)_[A-Z_]+)\b", script.read_text()))
    assert read and read <= set(environment(spec)), f"{script.name} reads {sorted(read - set(environment(spec)))}"


def test_mqtt_auth_gets_every_account_setting(services: dict[str, dict[str, Any]]) -> None:
    assert {*SERVICE_PASSWORD_SETTINGS.values(), COURIERS_SETTING} <= set(environment(services["mqtt-auth"]))


def test_accounts_bound_to_one_client_id_connect_with_it(services: dict[str, dict[str, Any]]) -> None:
    assert environment(services["publisher"])["DELIVERER_PUBLISH_CLIENT_ID"] == "svc~publisher"
    assert {"svc~publisher", "svc~healthcheck", "svc~accounts"} == FIXED_CLIENT_IDS


@pytest.mark.parametrize("service", sorted(BUILT_SERVICES))
def test_the_cli_knows_every_command_flag_and_variable_the_service_uses(
    services: dict[str, dict[str, Any]], service: str
) -> None:
    assert_cli_accepts(services[service]["command"], environment(services[service]))
