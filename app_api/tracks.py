"""Track files of one order: ``track.gpx``, ``track.geojson`` and ``track.csv``, streamed."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response

from app_api.auth import require_read_access
from app_api.inputs import check_order_id
from app_api.resources import get_store
from app_api.track_formats import csv_rows, geojson, gpx
from deliverer.contract import LocationReport
from deliverer.services import reads

bp = Blueprint("tracks", __name__)
bp.before_request(require_read_access)

MEDIA_TYPES = {
    "gpx": "application/gpx+xml",
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
}


@bp.get("/v1/orders/<order_id>/track.gpx", defaults={"kind": "gpx"})
@bp.get("/v1/orders/<order_id>/track.geojson", defaults={"kind": "geojson"})
@bp.get("/v1/orders/<order_id>/track.csv", defaults={"kind": "csv"})
def track_file(order_id: str, kind: str) -> Response:
    check_order_id(order_id)
    # The store is taken now: the body is written after this view has returned, outside the app context.
    store = get_store()
    first = store.history(order_id, limit=2)
    if not first:
        raise reads.order_not_found(order_id)

    def pages() -> Iterator[list[LocationReport]]:
        return reads.history_pages(store, order_id)

    body = {
        "gpx": lambda: gpx(order_id, pages),
        "geojson": lambda: geojson(order_id, pages, with_line=len(first) >= 2),
        "csv": lambda: csv_rows(pages),
    }[kind]()
    response = Response(body, content_type=MEDIA_TYPES[kind])
    response.headers["Content-Disposition"] = f'attachment; filename="order-{order_id}.{kind}"'
    return response
