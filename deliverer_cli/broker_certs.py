"""``deliverer broker-certs``: the TLS certificate of the container broker's device listener.

Docker Compose runs it in the one-shot service ``mqtt-certs`` on every ``up``: mounted certificates
are left alone; otherwise a self-signed CA and a server certificate are made once, and the server
certificate is issued again when its names change or it nears its end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deliverer.settings import BROKER_FILE_OWNER, BROKER_TLS_NAMES
from deliverer.settings.arguments import add_settings
from deliverer_cli.broker_auth.certificates import CA_CERT, CertificateOutcome, ensure_certificates


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "broker-certs",
        help="make the broker's TLS certificate (self-signed CA) unless one is mounted",
        description="Keep CERT_DIR/server.crt and server.key for the broker's TLS listener: those mounted from"
        " outside (no ca.key beside them) are used as they are; otherwise a self-signed CA (ca.crt, which"
        " devices trust) and a server certificate for --names are made and kept current.",
    )
    parser.add_argument("cert_dir", type=Path, metavar="CERT_DIR")
    add_settings(parser, BROKER_TLS_NAMES, BROKER_FILE_OWNER)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    names = [name.strip() for name in args.names.split(",") if name.strip()]
    outcome = ensure_certificates(args.cert_dir, names, args.owner or None)
    trust = "" if outcome is CertificateOutcome.MOUNTED else f"; devices trust {args.cert_dir / CA_CERT}"
    print(f"broker-certs: {outcome.value} ({args.cert_dir}{trust})")
    return 0
