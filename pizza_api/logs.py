"""Logging set-up: JSON lines in staging and production, readable text in development."""

import logging
import sys

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from pizza_api.settings import Settings

# LogRecord attributes that are not structured fields of our own.
# uvicorn adds `color_message`, the message with terminal colour codes, to its records.
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class TextFormatter(logging.Formatter):
    """`time level logger message key=value ...`, then the traceback if there is one."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def configure_logging(settings: Settings) -> None:
    """Send all logs to stdout in the format and level the settings name."""
    handler = logging.StreamHandler(sys.stdout)
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
                datefmt="%Y-%m-%dT%H:%M:%S%z",
                reserved_attrs=[*RESERVED_ATTRS, "color_message"],
            )
        )
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Our access log replaces uvicorn's; connexion logs every 4xx as a warning.
    logging.getLogger("uvicorn.access").disabled = True
    # Access lines are info records but are kept at every LOG_LEVEL, because operators
    # count on one line per request; LOG_ACCESS=false turns them off.
    access = logging.getLogger("pizza_api.access")
    access.setLevel(logging.INFO)
    access.disabled = not settings.log_access
    # Start and stop lines are kept at every level too, so that each run is visible.
    logging.getLogger("pizza_api.server").setLevel(logging.INFO)
    logging.getLogger("connexion").setLevel(max(root.level, logging.WARNING))


def configure_cli_logging() -> None:
    """Send warnings and errors of one-off commands to stderr, with their fields."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
