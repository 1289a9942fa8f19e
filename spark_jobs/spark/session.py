"""Start the SparkSession the lake jobs run on: local by default, quiet, Python workers on our interpreter."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession

from spark_jobs.defaults import SPARK_MASTER
from spark_jobs.export import store_source

# What the lake needs from every session; --conf may override any of them.
BASE_CONF: dict[str, str] = {
    "spark.ui.showConsoleProgress": "false",
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.compression.codec": "snappy",
    # INT64 microseconds adjusted to UTC, not Spark's legacy INT96: read as instants everywhere.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # Readers skip files starting with "_" anyway; not writing _SUCCESS keeps day directories clean.
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
}

JAVA_OPTIONS = "spark.driver.extraJavaOptions"

# A local driver needs no address but the loopback one (and Spark warns when it guesses).
LOCAL_CONF: dict[str, str] = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}

_QUIET_LOG4J2 = """\
rootLogger.level = {level}
logger.repl.name = org.apache.spark.api.python.PythonGatewayServer
logger.repl.level = {level}
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{{HH:mm:ss}} %p %c{{1}}: %m%n
"""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SparkSettings:
    """How to start Spark. ``master=None`` and ``python=None`` keep what ``spark-submit`` was given."""

    master: str | None = SPARK_MASTER
    conf: Mapping[str, str] = field(default_factory=dict)
    python: str | None = sys.executable
    app_name: str = "deliverer-lake"
    log_level: str = "ERROR"


def start_spark(settings: SparkSettings) -> SparkSession:
    """Start (or join) the session, register the store data source and turn the JVM's chatter down."""
    conf = dict(BASE_CONF)
    if settings.python is not None:
        conf["spark.pyspark.python"] = settings.python
        # The planner's Python processes (data source lookup and planning) only look at the environment.
        os.environ["PYSPARK_PYTHON"] = settings.python
    if settings.master is not None and settings.master.startswith("local"):
        conf.update(LOCAL_CONF)
        conf[JAVA_OPTIONS] = _quiet_java_options(settings.log_level)
    own_java_options = conf.get(JAVA_OPTIONS)
    conf.update(settings.conf)
    if own_java_options and JAVA_OPTIONS in settings.conf:
        conf[JAVA_OPTIONS] = f"{settings.conf[JAVA_OPTIONS]} {own_java_options}"
    builder = SparkSession.builder.appName(settings.app_name)
    if settings.master is not None:
        builder = builder.master(settings.master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.log_level)
    logging.getLogger("py4j").setLevel(logging.WARNING)
    store_source.register(spark)
    log.debug("spark %s on %s", spark.version, spark.sparkContext.master)
    return spark


def _quiet_java_options(level: str) -> str:
    """A log4j2 configuration sending only ``level`` and above to stderr, from the JVM's very start.

    The gateway's logger is set too: without it a ``pyspark-shell`` driver resets the root level to
    WARN and says so. (The JVM's own "Using incubator modules" line cannot be turned off.)
    """
    text = _QUIET_LOG4J2.format(level=level.lower())
    # Named by its content: processes share the file, and a changed template never reads a stale one.
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    config = Path(tempfile.gettempdir()) / f"deliverer-log4j2-{digest}.properties"
    if not config.exists():
        partial = config.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text)
        os.replace(partial, config)
    return f"-Dlog4j2.configurationFile={config.as_uri()}"
