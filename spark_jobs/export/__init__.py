"""The export: the store's history to the lake's ``bronze/locations``, a UTC day at a time, with Spark.

:mod:`~spark_jobs.export.run` is one run (which days, the watermark, the per-day records);
:mod:`~spark_jobs.export.plan` decides what each day needs; :mod:`~spark_jobs.export.merge` writes,
checks and publishes a day; :mod:`~spark_jobs.export.spark_writer` has Spark write it, reading the
store through :mod:`~spark_jobs.export.store_source`.
"""
