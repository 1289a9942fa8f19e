"""SQL over the lake: the same statements on Amazon Athena and, offline, on DuckDB over the same files.

:mod:`~spark_jobs.sql.athena_ddl` declares the tables on Athena; :mod:`~spark_jobs.sql.athena_runner`
runs a statement there; :mod:`~spark_jobs.sql.duckdb_engine` runs it locally; both answer with a
:class:`~spark_jobs.sql.result.QueryResult`. :mod:`~spark_jobs.sql.ready_queries` holds the ready
queries, one ``.sql`` file each. None of it needs Spark.
"""
