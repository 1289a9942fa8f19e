"""The production API plus the bench-only baseline routes, served the way ``deliverer api`` serves it.

    python bench/api_server.py --port 8000 --store sqlite:///... --mqtt-url mqtt://... [--workers N] [--threads N]

Same app factory, same gunicorn options (gthread, workers, threads, keep-alive) and the same
multiprocess metrics as ``deliverer api``; the only addition is bench/baseline_routes.py, so the
baselines are measured on exactly the server that serves the real routes.
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
from app_api.cli import DEFAULT_THREADS, DEFAULT_WORKERS, app_config  # noqa: E402
from app_api.metrics import enable_multiprocess  # noqa: E402
from app_api.server import GunicornServer, gunicorn_options  # noqa: E402
from deliverer.logs import configure_logging  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", required=True, help="store URL")
    parser.add_argument("--mqtt-url", required=True)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--publish-timeout", type=float, default=5.0)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
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
