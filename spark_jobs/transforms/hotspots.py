"""``gold/hotspots``: reports, couriers and orders per grid cell and hour, where couriers cluster."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs.tables import GOLD_HOTSPOTS
from spark_jobs.transforms.frames import DAY, conform
from spark_jobs.transforms.geo import with_grid_cell


def hotspots(silver: DataFrame, cell_m: int) -> DataFrame:
    if cell_m <= 0:
        raise ValueError(f"the hotspot cell size must be positive, got {cell_m} m")
    cells = with_grid_cell(silver.select(DAY, "hour", "deliverer_id", "order_id", "latitude", "longitude"), cell_m)
    counted = cells.groupBy(DAY, "hour", "cell_id", "cell_latitude", "cell_longitude").agg(
        F.count(F.lit(1)).alias("reports"),
        F.count_distinct("deliverer_id").alias("couriers"),
        F.count_distinct("order_id").alias("orders"),
    )
    return conform(counted.withColumn("cell_m", F.lit(cell_m)), GOLD_HOTSPOTS)
