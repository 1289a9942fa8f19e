"""The lake's ``deliverer`` commands, one module each: a thin layer from flags to one call into the package.

:mod:`~spark_jobs.cli.common` holds the flags and helpers they share; :mod:`~spark_jobs.cli.every` the loop
behind ``export --every``. Nothing here imports the lake's libraries at module level, so every image lists
the commands (see :mod:`spark_jobs.cli.common`).
"""

from __future__ import annotations

from spark_jobs.cli import athena, export, prune, query, transform

COMMANDS = (export, prune, transform, athena, query)
"""Each registers its subcommand (``register``) on the ``deliverer`` parser, in this order."""
