"""Structured JSON logs on stdout, one object per line, tagged with the
service, the replica and, where known, the upload, attempt and event
(log_context.py)."""

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from services.common.log_context import current_fields


class _ContextFilter(logging.Filter):
    def __init__(self, service: str, replica: str) -> None:
        super().__init__()
        self.service = service
        self.replica = replica

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.replica = self.replica
        for name, value in current_fields().items():
            # A field given to the call itself (extra=...) wins.
            if not hasattr(record, name):
                setattr(record, name, str(value) if name == "event_id" else value)
        return True


def configure_logging(service: str, replica: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{service}{replica}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_ContextFilter(service, replica))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aio-pika and aiormq narrate every reconnect step at INFO.
    for noisy in ("aio_pika", "aiormq", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
