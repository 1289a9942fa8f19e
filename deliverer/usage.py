"""The one error that means "the user asked for something that cannot be done as given".

``deliverer`` prints a :class:`UsageError` as one line and exits 2. It is raised where user input
is read and checked: the commands' flag checks and the parsers of settings (URLs, durations, time
zones). Any other exception that leaves a command is a bug and keeps its traceback (exit 1).
"""

from __future__ import annotations


class UsageError(ValueError):
    """A flag, an environment variable or a value in one that cannot be used; the message says why.

    A ``ValueError``, so that argparse turns it into its own usage message when raised by a flag's
    ``type`` function, and callers that try a value one way and then another can catch it as one.
    """

    reason = "usage"
