"""How a run talks: plain lines on the console (warnings marked), the same lines time-stamped in the
run directory's log file. Wired by ``hydra.job_logging`` in conf/config.yaml."""

from __future__ import annotations

import logging


class ConsoleFormatter(logging.Formatter):
    """The message alone; ``WARNING:`` / ``ERROR:`` in front when it is one."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return f"{record.levelname}: {text}" if record.levelno >= logging.WARNING else text
