"""Devices reach the container broker over TLS (listener 8883), with the certificate ``deliverer
broker-certs`` made: a self-signed CA that devices trust, and a server certificate it signed.

Checked on a real mosquitto with the container config (tests/integration/deploy/container_broker.py).
"""

from __future__ import annotations

import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509

from deliverer.mqtt import new_client, parse_mqtt_url
from deliverer.settings import SUBSCRIBE_TOPIC
from deliverer_cli.broker_auth.certificates import CertificateOutcome, ensure_certificates
from tests.integration.deploy.compose_project import load_compose, mount_at, published_ports
from tests.integration.deploy.container_broker import ContainerBroker, broker_certs
from tests.integration.deploy.mqtt_session import MqttSession


class TlsDevice:
    """A courier's device: paho over TLS to the devices' listener, trusting ``ca_file`` (None: the system's CAs)."""

    def __init__(self, broker: ContainerBroker, courier: str, ca_file: Path | None, client_id: str = "") -> None:
        endpoint = parse_mqtt_url(broker.url(courier))
        self.client = new_client(endpoint, client_id)
        self.client.tls_set(ca_certs=str(ca_file) if ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
        self.port = broker.tls_port
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            self.connected.set()

    def __enter__(self) -> TlsDevice:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        assert self.connected.wait(10), "no CONNACK over TLS"
        return self

    def __exit__(self, *_exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_device_trusting_the_generated_ca_publishes_over_tls(container_broker: ContainerBroker) -> None:
    subscriber = MqttSession(container_broker.url("svc~subscriber"), client_id="tls-test-subscriber")
    try:
        subscriber.open()
        subscriber.subscribe(SUBSCRIBE_TOPIC)
        with TlsDevice(container_broker, "d1", container_broker.cert_dir / "ca.crt") as device:
            info = device.client.publish("deliverers/d1/location", b"over tls", qos=1)
            info.wait_for_publish(10)
            assert info.is_published()
        assert subscriber.next_message().payload == b"over tls"
    finally:
        subscriber.close()


def test_a_device_without_the_ca_is_refused(container_broker: ContainerBroker) -> None:
    device = TlsDevice(container_broker, "d1", None)
    with pytest.raises(ssl.SSLCertVerificationError):
        device.client.connect("127.0.0.1", container_broker.tls_port)


def test_a_device_never_gets_another_clients_id_on_the_tls_listener(container_broker: ContainerBroker) -> None:
    """Whatever id a device sends, the broker gives it its account's name: no session can be taken there."""
    holder = MqttSession(container_broker.url("svc~subscriber"), client_id="tls-test-held", session_expiry=60)
    try:
        holder.open()
        with TlsDevice(container_broker, "d1", container_broker.cert_dir / "ca.crt", client_id="tls-test-held"):
            # A round trip after the device's CONNACK: a takeover would have closed this connection first.
            assert not holder.subscribe("$SYS/broker/clients/disconnected").is_failure
        assert holder.client.is_connected()
    finally:
        holder.close()


def test_plain_mqtt_is_not_published_on_the_host_and_tls_is() -> None:
    mqtt_service = load_compose()["services"]["mqtt"]
    assert [port.container_port for port in published_ports(mqtt_service)] == ["8883"]
    certs = mount_at(mqtt_service, "/mosquitto/certs")
    assert certs.read_only
    assert mount_at(load_compose()["services"]["mqtt-certs"], "/mosquitto/certs").source == certs.source


def test_mounted_certificates_are_used_as_they_are(tmp_path: Path) -> None:
    (tmp_path / "server.crt").write_text("mounted certificate")
    (tmp_path / "server.key").write_text("mounted key")
    done = broker_certs(tmp_path)
    assert done.returncode == 0 and "used as they are" in done.stdout, done
    assert (tmp_path / "server.crt").read_text() == "mounted certificate"
    assert not (tmp_path / "ca.crt").exists()


def test_the_generated_certificate_is_kept_then_reissued_under_the_same_ca(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    assert ensure_certificates(tmp_path, ["localhost", "127.0.0.1"], now=now) is CertificateOutcome.CREATED
    ca = (tmp_path / "ca.crt").read_bytes()
    first = x509.load_pem_x509_certificate((tmp_path / "server.crt").read_bytes())
    assert ensure_certificates(tmp_path, ["localhost", "127.0.0.1"], now=now) is CertificateOutcome.KEPT
    assert ensure_certificates(tmp_path, ["mqtt.example.test"], now=now) is CertificateOutcome.REISSUED
    later = first.not_valid_after_utc - timedelta(days=10)
    assert ensure_certificates(tmp_path, ["mqtt.example.test"], now=later) is CertificateOutcome.REISSUED
    assert (tmp_path / "ca.crt").read_bytes() == ca
    server = x509.load_pem_x509_certificate((tmp_path / "server.crt").read_bytes())
    assert server.not_valid_after_utc - later <= timedelta(days=825)
    assert server.issuer == x509.load_pem_x509_certificate(ca).subject
