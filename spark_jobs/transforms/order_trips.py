"""``gold/order_trips``: one row per order and day, the trip its reports trace."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs.tables import GOLD_ORDER_TRIPS
from spark_jobs.transforms.frames import DAY, conform


def order_trips(silver: DataFrame) -> DataFrame:
    """Aggregate silver rows (legs already measured) per order and day."""

    def at_first(name: str) -> F.Column:
        return F.min_by(name, "report_index")

    def at_last(name: str) -> F.Column:
        return F.max_by(name, "report_index")

    states_in_order = F.sort_array(F.collect_list(F.struct("report_index", "delivery_state")))
    trips = silver.groupBy(DAY, "order_id").agg(
        at_last("deliverer_id").alias("deliverer_id"),
        F.min("timestamp").alias("first_report_at"),
        F.max("timestamp").alias("last_report_at"),
        F.count(F.lit(1)).alias("points"),
        F.array_distinct(F.transform(states_in_order, lambda s: s["delivery_state"])).alias("states_seen"),
        at_last("delivery_state").alias("final_state"),
        F.coalesce(F.sum("leg_km"), F.lit(0.0)).alias("distance_km"),
        F.max("leg_speed_kmh").alias("max_speed_kmh"),
        at_first("latitude").alias("start_latitude"),
        at_first("longitude").alias("start_longitude"),
        at_last("latitude").alias("end_latitude"),
        at_last("longitude").alias("end_longitude"),
    )
    duration_s = (F.unix_micros("last_report_at") - F.unix_micros("first_report_at")) / F.lit(1e6)
    return conform(
        trips.withColumn("duration_s", duration_s).withColumn(
            "avg_speed_kmh", F.when(F.col("duration_s") > 0, F.col("distance_km") / F.col("duration_s") * 3600)
        ),
        GOLD_ORDER_TRIPS,
    )
