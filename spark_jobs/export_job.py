"""The export as a Spark application, for any Spark 4 cluster (the same code as ``deliverer export``)::

    PYSPARK_PYTHON=.venv/bin/python spark-submit spark_jobs/export_job.py --store URL --lake URL

The master comes from spark-submit. On a cluster, ship the packages to the executors with
``--py-files`` (a zip of ``deliverer/`` and ``spark_jobs/``) and their Python dependencies
(pyarrow, pymongo, pydantic) on the workers.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run as a script, this directory comes first on sys.path and its modules (lake, session, ...) would
# shadow top-level names: put the project root there instead.
if sys.path and Path(sys.path[0] or ".").resolve() == HERE:
    sys.path[0] = str(HERE.parent)

from spark_jobs.cli.export import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], submitted=True))
