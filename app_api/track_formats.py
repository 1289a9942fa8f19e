"""An order's track as a file: GPX 1.1, GeoJSON (RFC 7946) or CSV, written piece by piece.

Each writer takes the history page by page (``pages()`` starts a new pass over it) and yields
text, so a long order is streamed with one page in memory. Every value written comes from a
validated, stored report: ids are ``[A-Za-z0-9_.:-]``, numbers finite; XML text is escaped anyway.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from deliverer.contract import REPORT_FIELDS, LocationReport, format_timestamp

Pages = Callable[[], Iterable[list[LocationReport]]]
"""Starts a pass over the order's history, oldest first, one page at a time."""

GPX_NAMESPACE = "http://www.topografix.com/GPX/1/1"
EXTENSION_NAMESPACE = "urn:deliverer:gpx:1"
CSV_COLUMNS = REPORT_FIELDS
POINT_PROPERTIES = tuple(name for name in REPORT_FIELDS if name not in ("order_id", "latitude", "longitude"))
"""A point's properties: every field but the order (the file is one order's) and the position (its geometry)."""


def gpx(order_id: str, pages: Pages) -> Iterator[str]:
    """One ``trk`` with one ``trkseg``; times in UTC; state, speed and heading as extensions."""
    name = xml_escape(f"order {order_id}")
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<gpx version="1.1" creator="deliverer" xmlns="{GPX_NAMESPACE}"'
        f' xmlns:deliverer="{EXTENSION_NAMESPACE}">\n'
        f"<metadata><name>{name}</name></metadata>\n"
        f"<trk><name>{name}</name><trkseg>\n"
    )
    for page in pages():
        yield "".join(_trackpoint(report) for report in page)
    yield "</trkseg></trk>\n</gpx>\n"


def _trackpoint(report: LocationReport) -> str:
    extensions = f"<deliverer:state>{xml_escape(report.delivery_state.value)}</deliverer:state>"
    if report.speed_kmh is not None:
        extensions += f"<deliverer:speed_kmh>{report.speed_kmh!r}</deliverer:speed_kmh>"
    if report.heading is not None:
        extensions += f"<deliverer:heading>{report.heading!r}</deliverer:heading>"
    return (
        f"<trkpt lat={quoteattr(repr(report.latitude))} lon={quoteattr(repr(report.longitude))}>"
        f"<time>{format_timestamp(report.timestamp)}</time>"
        f"<extensions>{extensions}</extensions></trkpt>\n"
    )


def geojson(order_id: str, pages: Pages, with_line: bool) -> Iterator[str]:
    """A FeatureCollection: the route as a LineString (when it has the two positions RFC 7946
    asks of one), then every report as a Point with its properties. Two passes over the history."""
    yield '{"type":"FeatureCollection","features":[\n'
    first = True
    if with_line:
        yield (
            '{"type":"Feature","properties":' + json.dumps({"order_id": order_id})
            + ',"geometry":{"type":"LineString","coordinates":['
        )
        for page in pages():
            coordinates = ",".join(f"[{r.longitude!r},{r.latitude!r}]" for r in page)
            if coordinates:
                yield ("" if first else ",") + coordinates
                first = False
        yield "]}}"
    for page in pages():
        for report in page:
            feature = {
                "type": "Feature",
                "properties": _point_properties(report),
                "geometry": {"type": "Point", "coordinates": [report.longitude, report.latitude]},
            }
            yield ("\n" if first else ",\n") + json.dumps(feature, separators=(",", ":"))
            first = False
    yield "\n]}\n"


def _point_properties(report: LocationReport) -> dict[str, object]:
    data = report.to_json_dict()
    return {name: data[name] for name in POINT_PROPERTIES if name in data}


def csv_rows(pages: Pages) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for page in pages():
        for report in page:
            data = report.to_json_dict()
            writer.writerow([data.get(name, "") for name in CSV_COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
