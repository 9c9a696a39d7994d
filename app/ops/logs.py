"""The service's log: one JSON object per line, each carrying the request or job it belongs to.

The ids live in context variables, so every line logged while a request or a job attempt runs names it without
being passed along: `request_id` (also the `X-Request-Id` header and the problem's `request_id`), and `job_id`,
`attempt` and `stage` for a worker's lines.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from typing import Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)
attempt: ContextVar[int | None] = ContextVar("attempt", default=None)
stage: ContextVar[str | None] = ContextVar("stage", default=None)
_CONTEXT = (request_id, job_id, attempt, stage)

LogFormat = Literal["json", "text"]


class _Context(logging.Filter):
    """Puts the ids in context on each record, where the formatter finds them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for var in _CONTEXT:
            value = var.get()
            if value is not None:
                setattr(record, var.name, value)
        return True


# A signed URL's signature is a credential while it lasts: the access log shows the path without it.
_SIGNATURE = re.compile(r"(?<=[?&]signature=)[^&\s\"]+")


class _NoSignatures(logging.Filter):
    """Cuts the signature out of every URL in a record's arguments (uvicorn's access line is one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SIGNATURE.sub("…", a) if isinstance(a, str) else a for a in record.args)
        return True


def configure(fmt: LogFormat = "json", level: int = logging.INFO) -> None:
    """Send every logger's lines to stderr: JSON for a service, plain text for a person at a terminal."""
    handler = logging.StreamHandler()
    handler.addFilter(_Context())
    handler.addFilter(_NoSignatures())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "{levelname}{name}{message}",
                style="{",
                timestamp="time",  # ISO 8601 in UTC, as the API writes times
                rename_fields={"levelname": "level", "name": "logger"},
                # uvicorn's copy of each message with terminal colour codes: noise in a JSON line
                reserved_attrs=[*RESERVED_ATTRS, "color_message"],
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
