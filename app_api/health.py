"""Probes and metrics: ``/healthz`` (the process answers), ``/readyz`` (broker and store reachable)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from app_api.errors import error_response
from app_api.metrics import metrics_response
from app_api.resources import get_publisher, get_store
from deliverer.store import StoreUnavailable

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
    return f"unreachable: {publisher.last_error or f'not connected to {publisher.endpoint}'}"


def _store_check() -> str:
    try:
        get_store().ping()
    except StoreUnavailable as exc:
        return f"unreachable: {exc}"
    return "ok"
