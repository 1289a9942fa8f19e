"""What every transform's output shares: the table's columns, in order, typed, plus the day."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs.spark.schema import spark_type
from spark_jobs.tables import LakeTable

DAY = "dt"
"""Every frame between transforms carries its UTC day in this column; it becomes the partition."""


def conform(frame: DataFrame, table: LakeTable) -> DataFrame:
    """``frame`` reduced to ``table``'s columns in the table's order and types, then ``dt``."""
    return frame.select(
        *(F.col(c.name).cast(spark_type(c.type)).alias(c.name) for c in table.columns), F.col(table.partition.name)
    )
