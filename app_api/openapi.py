"""The OpenAPI 3 description of every route, kept in ``openapi.json`` beside this module."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify

bp = Blueprint("openapi", __name__)


@cache
def openapi_document() -> dict[str, Any]:
    text = resources.files("app_api").joinpath("openapi.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())
