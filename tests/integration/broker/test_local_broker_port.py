"""The test broker picks a free port, and another process may take it before the broker binds it (CI
saw ``Error: Address already in use`` once in a thousand starts: a client socket's ephemeral port is
drawn from the same range): the first start then picks another. The squatter below binds and does not
listen, as such a client socket."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from deliverer.local_broker import BrokerError, Mosquitto


def test_a_picked_port_taken_before_the_first_start_is_replaced(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    taken = broker.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        broker.start()
        try:
            assert broker.port != taken
            with socket.create_connection(("127.0.0.1", broker.port), timeout=2):
                pass
        finally:
            broker.stop()


def test_a_port_the_caller_chose_or_one_clients_know_is_never_moved(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        chosen = Mosquitto(tmp_path / "chosen", port=port)
        try:
            with pytest.raises(BrokerError, match="Address already in use"):
                chosen.start()
        finally:
            chosen.stop()
    broker = Mosquitto(tmp_path / "restarted").start()
    known = broker.port
    broker.stop()
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", known))
            with pytest.raises(BrokerError, match="Address already in use"):
                broker.start()
        assert broker.port == known
    finally:
        broker.stop()
