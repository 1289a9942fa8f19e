"""Probes and metrics: ``/healthz`` (the process answers), ``/readyz`` (broker and store reachable).

The probes are open to anyone, so ``/readyz`` says what is down with a reason code only; where the
store is and what the error said go to the log."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify

from app_api.errors import error_response
from app_api.metrics import metrics_response
from app_api.resources import get_publisher, get_store
from deliverer.store import StoreMissing, StoreUnavailable

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    checks = {"broker": _broker_check(), "store": _store_check()}
    down = [name for name, state in checks.items() if state != "ok"]
    if down:
        return error_response(
            503, "not_ready", f"unavailable: {', '.join(down)}",
            unavailable=down, checks=checks,
        )
    return jsonify(status="ready", checks=checks)


@bp.get("/metrics")
def metrics() -> Response:
    return metrics_response()


def _broker_check() -> str:
    publisher = get_publisher()
    if publisher.connected.wait(current_app.config["BROKER_WAIT_S"]):
        return "ok"
    log.warning("not ready: broker unreachable: %s", publisher.last_error or f"not connected to {publisher.endpoint}")
    return "unreachable"


def _store_check() -> str:
    try:
        get_store().ping()
    except StoreUnavailable as exc:
        log.warning("not ready: store unavailable: %s", exc)
        return "missing" if isinstance(exc, StoreMissing) else "unreachable"
    return "ok"
