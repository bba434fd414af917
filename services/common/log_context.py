"""What a log line is about, carried along with the work: the upload, its
attempt and the event being handled. Every line logged inside `about(...)`
carries these fields (json_logging.py), so that one upload can be followed
across the services with one grep or jq.

Context variables follow asyncio tasks: a task started inside `about(...)`
inherits the fields; what it sets stays its own.
"""

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

FIELDS = ("upload_id", "attempt", "event_id")
_current: ContextVar[dict[str, Any]] = ContextVar("log_context", default={})


@contextlib.contextmanager
def about(**fields: Any) -> Iterator[None]:
    """Add these fields (upload_id, attempt, event_id) to every line logged inside."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a log context field: {sorted(unknown)}")
    known = {name: value for name, value in fields.items() if value is not None}
    token = _current.set({**_current.get(), **known})
    try:
        yield
    finally:
        _current.reset(token)


def current_fields() -> dict[str, Any]:
    return _current.get()
