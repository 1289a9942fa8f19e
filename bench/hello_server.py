"""The reads' ceiling: a bare Flask app answering a tiny JSON, on the API's own gunicorn settings.

    python bench/hello_server.py --port 8001 [--workers N] [--threads N]

``GET /hello`` answers ``{"hello": "world"}``. Nothing of the deliverer app runs (no store, no
broker, no metrics, no error handlers): only Flask and gunicorn, with the options of
``deliverer api`` (gthread, the same workers, threads and keep-alive), so ``last-location``
divided by this is the share of the framework's and server's ceiling our app keeps.
``GET /readyz`` answers the same, for the benchmark's readiness wait.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flask import Flask, Response, jsonify  # noqa: E402

from app_api.server import GunicornServer, gunicorn_options  # noqa: E402
from deliverer.settings import API_THREADS, API_WORKERS  # noqa: E402


def hello_app() -> Flask:
    app = Flask("hello")

    @app.get("/hello")
    @app.get("/readyz")
    def hello() -> Response:
        return jsonify(hello="world")

    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=API_WORKERS.default_value)
    parser.add_argument("--threads", type=int, default=API_THREADS.default_value)
    args = parser.parse_args()
    options = gunicorn_options(
        "127.0.0.1", args.port, args.workers, args.threads, metrics_dir=None, access_log=False, log_level="WARNING"
    )
    # The API's hook closes the app's broker and store connections, which a bare app has not.
    options["worker_exit"] = lambda _server, _worker: None
    GunicornServer(hello_app, options).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
