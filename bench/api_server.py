"""The production API plus the bench-only baseline routes, served the way ``deliverer api`` serves it.

    python bench/api_server.py --port 8000 --store sqlite:///... --mqtt-url mqtt://... [any flag of deliverer api]

Same flags (parsed by ``deliverer api``'s own parser), app factory, gunicorn options (gthread,
workers, threads, keep-alive) and multiprocess metrics as ``deliverer api``; the only addition is
bench/baseline_routes.py, so the baselines are measured on exactly the server that serves the real
routes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from baseline_routes import with_baselines  # noqa: E402

from app_api.app import create_app  # noqa: E402
from app_api.cli import app_config, register  # noqa: E402
from app_api.metrics import enable_multiprocess  # noqa: E402
from app_api.server import GunicornServer, gunicorn_options  # noqa: E402
from deliverer.logs import configure_logging  # noqa: E402


def main() -> int:
    own = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    own.add_argument("--log-level", default="WARNING")
    own_args, rest = own.parse_known_args()
    deliverer = argparse.ArgumentParser(prog="api_server.py")
    register(deliverer.add_subparsers())
    args = deliverer.parse_args(["api", *rest])
    args.log_level = own_args.log_level
    configure_logging(args.log_level)

    master_pid = os.getpid()
    metrics_dir = tempfile.mkdtemp(prefix="bench-api-metrics-")
    enable_multiprocess(metrics_dir)
    config = app_config(args, metrics_dir)
    options = gunicorn_options(
        args.host, args.port, args.workers, args.threads, metrics_dir=metrics_dir, access_log=False,
        log_level=args.log_level,
    )
    try:
        GunicornServer(lambda: with_baselines(create_app(config)), options).run()
    finally:
        # Workers leave run() through here too: only the master removes the directory.
        if os.getpid() == master_pid:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
