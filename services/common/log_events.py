"""The live log stream (GET /api/v1/uploads/{id}/log/events): its server-sent events, written by the
logstore and, for an upload it has not recorded yet, by the gateway.

- `progress` {"upload_id", "progress", "status", "attempt"}: first, then at each change. It has no
  id, so that an EventSource's Last-Event-ID is always the id of the last line it got;
- `line`, id the line_id, data a LogLine: the lines of the current attempt, in line_id order;
- `end` {"progress", "status"}: the upload finished and every line was sent; the stream closes.
"""

import pydantic_core

from services.common.api_models import MAX_ID
from services.common.progress import STATUS_LINES, Progress

PROGRESS_EVENT = "progress"
LINE_EVENT = "line"
END_EVENT = "end"
# The header an EventSource sends when it reconnects: the id of the last event it got.
LAST_EVENT_ID = "Last-Event-ID"


def progress_data(upload_id: int, progress: str, attempt: int) -> str:
    return _json({"upload_id": upload_id, "progress": progress, "status": STATUS_LINES[Progress(progress)],
                  "attempt": attempt})


def end_data(progress: str) -> str:
    return _json({"progress": progress, "status": STATUS_LINES[Progress(progress)]})


def line_data(line: dict) -> str:
    return _json(line)


def line_id_from(value: str | None) -> int | None:
    """A Last-Event-ID as a line id, or None when it is not one (then it is ignored)."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > len(str(MAX_ID)):
        return None
    line_id = int(value)
    return line_id if line_id <= MAX_ID else None


def _json(values: dict) -> str:
    return pydantic_core.to_json(values).decode()
