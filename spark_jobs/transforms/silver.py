"""``silver/locations``: bronze deduplicated by report key, typed, with each report's leg from the one before."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_jobs.report_keys import FIRST_COPY_ORDER, KEY_COLUMNS
from spark_jobs.tables import SILVER_LOCATIONS
from spark_jobs.transforms.frames import DAY, conform
from spark_jobs.transforms.geo import haversine_km

ORDER_SEQUENCE = ("timestamp", "msg_id", "deliverer_id")
"""How an order's reports are ordered: by time, ties broken by key so every run orders them alike."""


def silver_locations(bronze: DataFrame) -> DataFrame:
    """One row per report key ``(deliverer_id, msg_id)`` and day (the first copy stored wins), with its hour,
    its position in the order's day and the leg from the order's previous report that day."""
    first_copy = Window.partitionBy(DAY, *KEY_COLUMNS).orderBy(*FIRST_COPY_ORDER)
    unique = bronze.withColumn("_copy", F.row_number().over(first_copy)).where(F.col("_copy") == 1)

    in_order = Window.partitionBy(DAY, "order_id").orderBy(*ORDER_SEQUENCE)

    def previous(name: str) -> Column:
        return F.lag(name).over(in_order)

    leg_km = haversine_km(previous("latitude"), previous("longitude"), F.col("latitude"), F.col("longitude"))
    leg_seconds = (F.unix_micros("timestamp") - F.unix_micros(previous("timestamp"))) / F.lit(1e6)
    derived = (
        unique.withColumn("hour", F.date_trunc("hour", "timestamp"))
        .withColumn("report_index", F.row_number().over(in_order))
        .withColumn("leg_km", leg_km)
        .withColumn("leg_seconds", leg_seconds)
        .withColumn(
            "leg_speed_kmh", F.when(F.col("leg_seconds") > 0, F.col("leg_km") / F.col("leg_seconds") * 3600)
        )
    )
    return conform(derived, SILVER_LOCATIONS)
