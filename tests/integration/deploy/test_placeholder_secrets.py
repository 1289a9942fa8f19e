"""`cp .env.example .env` and `docker compose up` must not deploy the placeholder secrets: the broker's
accounts (mqtt-auth, see test_mosquitto_container_auth.py), the API and the lake's set-up refuse them,
naming each and saying how to make a real one."""

from __future__ import annotations

import subprocess

import pytest

from deliverer.placeholders import PlaceholderSecret, refuse_placeholders
from tests.helpers import REPO
from tests.integration.deploy.compose_project import ENV_EXAMPLE, environment, load_compose, read_env_file
from tests.integration.deploy.container_broker import deliverer

HOW = "openssl rand -hex 16"


def test_every_placeholder_in_env_example_is_refused_by_a_service_that_holds_it() -> None:
    services = load_compose()["services"]
    placeholders = {name for name, value in read_env_file(ENV_EXAMPLE).items() if "change-me" in value}
    refused_by = {
        "mqtt-auth": {"MQTT_SUBSCRIBER_PASSWORD", "MQTT_API_PASSWORD", "MQTT_PUBLISHER_PASSWORD",
                      "MQTT_HEALTHCHECK_PASSWORD", "MQTT_COURIERS"},
        "api": {"API_KEY", "MONGO_APP_PASSWORD", "TRACKING_SECRET"},
        "live": {"API_KEY", "MONGO_APP_PASSWORD", "TRACKING_SECRET"},
        "lake-bucket": {"MINIO_ROOT_PASSWORD", "LAKE_SECRET_KEY"},
    }
    example = read_env_file(ENV_EXAMPLE)
    for service, names in refused_by.items():
        values = " ".join(environment(services[service]).values())
        assert all(example[name] in values for name in names), service
    # The root account of MongoDB is created by the mongo image itself, from its first start's variables.
    assert placeholders - set().union(*refused_by.values()) == {"MONGO_ROOT_PASSWORD"}


def test_the_api_refuses_to_start_with_a_placeholder_secret() -> None:
    example = read_env_file(ENV_EXAMPLE)
    done = deliverer(
        "api", "--port", "0", "--mqtt-url", f"mqtt://svc~api:{example['MQTT_API_PASSWORD']}@127.0.0.1:1",
        "--store", f"mongodb://u:{example['MONGO_APP_PASSWORD']}@127.0.0.1:1/db",
        env={"DELIVERER_API_KEY": example["API_KEY"]},
    )
    assert done.returncode == 2, done
    assert "DELIVERER_API_KEY, the password in --mqtt-url, the password in --store" in done.stderr
    assert HOW in done.stderr


def test_the_live_server_refuses_to_start_with_a_placeholder_secret() -> None:
    example = read_env_file(ENV_EXAMPLE)
    done = deliverer(
        "live", "--live-port", "0", "--mqtt-url", f"mqtt://svc~api:{example['MQTT_API_PASSWORD']}@127.0.0.1:1",
        "--store", f"mongodb://u:{example['MONGO_APP_PASSWORD']}@127.0.0.1:1/db",
        env={"DELIVERER_API_KEY": example["API_KEY"], "DELIVERER_TRACKING_SECRET": example["TRACKING_SECRET"]},
    )
    assert done.returncode == 2, done
    assert (
        "DELIVERER_API_KEY, DELIVERER_TRACKING_SECRET, the password in --mqtt-url, the password in --store"
        in done.stderr
    )
    assert HOW in done.stderr


@pytest.mark.parametrize("secret", ["MINIO_ROOT_PASSWORD", "LAKE_SECRET_KEY"])
def test_the_lake_set_up_refuses_a_placeholder_secret_before_it_logs_in(secret: str) -> None:
    env = {**read_env_file(ENV_EXAMPLE), "MINIO_ROOT_PASSWORD": "real-root-secret", "LAKE_SECRET_KEY": "real-lake"}
    env[secret] = read_env_file(ENV_EXAMPLE)[secret]
    done = subprocess.run(["sh", str(REPO / "minio" / "create-lake.sh")], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done
    assert f"placeholder from .env.example: {secret};" in done.stderr and HOW in done.stderr


def test_real_secrets_pass() -> None:
    refuse_placeholders({"A": "3f1c0e5b9d2a", "B": "my-change-me-is-inside"})
    with pytest.raises(PlaceholderSecret, match="A, B"):
        refuse_placeholders({"A": "change-me", "B": " Change-Me-too"})
