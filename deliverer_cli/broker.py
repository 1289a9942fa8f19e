"""``deliverer broker``: run the local MQTT broker in the foreground (Mosquitto, else amqtt).

The process replaces itself with the broker, so a pid file written by the caller names the
broker itself and a signal reaches it directly.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from deliverer.local_broker import MQTT_CONFIG_DIR, mosquitto_binary, render_amqtt_config, render_config
from deliverer.settings import BROKER_DIR, MQTT_PORT
from deliverer.settings.arguments import add_settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "broker",
        help="run the local MQTT broker (Mosquitto from PATH, else the embedded amqtt)",
        description="Run a loopback MQTT broker with the repository's mqtt/ config, in the foreground.",
    )
    add_settings(parser, MQTT_PORT, BROKER_DIR)
    parser.add_argument("--which", action="store_true",
                        help="print which broker would run (mosquitto or amqtt) and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    mosquitto = mosquitto_binary()
    if args.which:
        print("mosquitto" if mosquitto else "amqtt")
        return 0
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if mosquitto:
        config = data_dir / "mosquitto.conf"
        config.write_text(render_config(MQTT_CONFIG_DIR, args.port, data_dir))
        print(f"broker: Mosquitto ({mosquitto}) on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        os.execv(mosquitto, [mosquitto, "-c", str(config)])
    amqtt = shutil.which("amqtt") or str(Path(sys.executable).with_name("amqtt"))
    if not Path(amqtt).exists():
        print("no MQTT broker: install Mosquitto (apt-get install mosquitto / brew install mosquitto)"
              " or the embedded one (pip install 'deliverer[broker]')", file=sys.stderr)
        return 2
    config = data_dir / "amqtt.yaml"
    config.write_text(render_amqtt_config(MQTT_CONFIG_DIR, args.port))
    print(f"broker: embedded amqtt (MQTT 3.1.1, no shared subscriptions) on 127.0.0.1:{args.port}",
          file=sys.stderr, flush=True)
    os.execv(amqtt, [amqtt, "-c", str(config)])
