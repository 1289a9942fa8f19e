"""``gold/deliverer_daily``: one row per courier and day."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from deliverer.contract import DeliveryState
from spark_jobs.defaults import ACTIVE_GAP_MINUTES
from spark_jobs.tables import GOLD_DELIVERER_DAILY
from spark_jobs.transforms.frames import DAY, conform
from spark_jobs.transforms.silver import ORDER_SEQUENCE


def deliverer_daily(silver: DataFrame, trips: DataFrame) -> DataFrame:
    """Activity per courier from the silver rows; deliveries from the order trips (an order counts
    for the courier of its last report, when that report says arrived)."""
    courier_sequence = Window.partitionBy(DAY, "deliverer_id").orderBy(*ORDER_SEQUENCE)
    gap_s = (F.unix_micros("timestamp") - F.unix_micros(F.lag("timestamp").over(courier_sequence))) / F.lit(1e6)
    active_s = F.when(F.col("gap_s") <= ACTIVE_GAP_MINUTES * 60, F.col("gap_s")).otherwise(F.lit(0.0))
    activity = (
        silver.withColumn("gap_s", gap_s)
        .groupBy(DAY, "deliverer_id")
        .agg(
            F.count_distinct("order_id").alias("orders"),
            F.count(F.lit(1)).alias("reports"),
            F.coalesce(F.sum("leg_km"), F.lit(0.0)).alias("distance_km"),
            (F.sum(active_s) / 60).alias("active_minutes"),
            F.min("timestamp").alias("first_report_at"),
            F.max("timestamp").alias("last_report_at"),
        )
    )
    delivered = (
        trips.where(F.col("final_state") == DeliveryState.ARRIVED.value)
        .groupBy(DAY, "deliverer_id")
        .agg(F.count(F.lit(1)).alias("orders_delivered"))
    )
    daily = activity.join(delivered, [DAY, "deliverer_id"], "left").fillna(0, subset=["orders_delivered"])
    return conform(daily, GOLD_DELIVERER_DAILY)
