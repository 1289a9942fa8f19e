"""Ingest over HTTP: the body parsed here, validated and published by :mod:`deliverer.services.accept`.

A ``202`` means the broker has acknowledged every report at QoS 1, so none can be lost from there on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from app_api.auth import require_key_for_writes
from app_api.inputs import read_json
from app_api.metrics import api_metrics
from app_api.resources import get_publisher
from deliverer.contract import LocationReport
from deliverer.services.accept import AcceptLimits, accept_reports

bp = Blueprint("ingest", __name__)
bp.before_request(require_key_for_writes)


@bp.post("/v1/locations")
def post_locations() -> tuple[Response, int]:
    reports = accept(read_json())
    return jsonify(accepted=len(reports), msg_ids=[r.msg_id for r in reports]), 202


def accept(body: Any, prepare: Callable[[Any], Any] | None = None) -> list[LocationReport]:
    """Validate and publish one report or a batch, all or none (see :func:`accept_reports`)."""
    config = current_app.config
    limits = AcceptLimits(
        max_batch=config["MAX_BATCH"], connect_wait_s=config["BROKER_WAIT_S"], ack_timeout_s=config["PUBLISH_TIMEOUT_S"]
    )
    reports = accept_reports(body, get_publisher(), limits, prepare)
    api_metrics().published.inc(len(reports))
    return reports
