"""``AkjobLogging``: a logger for job code, writing to a file in akjob's log directory.

Kept from the original akjob, so its example runs unchanged::

    class JobTest:
        logger = AkjobLogging(
            name="JobTest",
            logfilename="akjob.job.log",
            format_str=AkjobLogging.multiline_format_str,
        ).get_logger()

The logger is ``akjob.<name>``, an ordinary logger that propagates (a project's ``LOGGING`` for
``akjob`` sees its records). Creating it at import time of user code is safe: no file is opened
then. The file handler is added, once, in the daemon process, where akjob's log files are written
(see :mod:`akjob.log`); in other processes the logger only propagates.
"""

from __future__ import annotations

import logging

from akjob import log


class AkjobLogging:
    """Build the logger ``akjob.<name>`` that writes to ``logfilename`` in the log directory."""

    multiline_format_str = (
        "%(asctime)s %(levelname)s %(name)s %(module)s.%(funcName)s:%(lineno)d "
        "[pid %(process)d]\n    %(message)s"
    )
    singleline_format_str = log.FORMAT

    def __init__(
        self,
        name: str,
        logfilename: str = log.JOB_LOG,
        format_str: str = multiline_format_str,
    ) -> None:
        if not name:
            raise ValueError("AkjobLogging needs a name")
        self.name = name
        self.logfilename = logfilename
        self.format_str = format_str

    @property
    def logger_name(self) -> str:
        root = log.ROOT_LOGGER
        if self.name == root or self.name.startswith(root + "."):
            return self.name
        return f"{root}.{self.name}"

    def get_logger(self) -> logging.Logger:
        """The logger; its file handler is attached once, in the daemon process only."""
        log.route(self.logger_name, self.logfilename, self.format_str)
        return logging.getLogger(self.logger_name)
