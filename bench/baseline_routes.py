"""Baseline routes for the API benchmarks, served only by bench/api_server.py, never by the product.

- ``GET /bench/hello``: a tiny JSON answer through the same app, server and workers: the ceiling
  for ``GET last-location`` (all the framework and server cost, none of the store's).
- ``POST /bench/naive/locations``: the original system's way to ingest: for every request a new
  paho client connects to the broker, publishes each report at QoS 0 and disconnects. The reports
  are validated with the same contract as the real route, so only the broker handling differs.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from deliverer.contract import decode_json, validate_report
from deliverer.mqtt import new_client, parse_mqtt_url

bp = Blueprint("bench_baselines", __name__)


@bp.get("/bench/hello")
def hello() -> Response:
    return jsonify(hello="world")


@bp.post("/bench/naive/locations")
def naive_post() -> tuple[Response, int]:
    body = decode_json(request.get_data(cache=False))
    reports = [validate_report(item) for item in (body if isinstance(body, list) else [body])]
    endpoint = parse_mqtt_url(current_app.config["MQTT_URL"])
    client = new_client(endpoint, f"naive-{uuid.uuid4().hex}")
    client.connect(endpoint.host, endpoint.port)
    for report in reports:
        client.publish(report.topic, report.to_json(), qos=0)
    client.disconnect()
    return jsonify(accepted=len(reports)), 202


def with_baselines(app: Flask) -> Flask:
    app.register_blueprint(bp)
    return app
