"""How large an event made of a pipeline's output may be, and how text too long for it is cut.

A pipeline's output is the one part of an event that nothing else bounds: a
line may be megabytes, and JSON may make it six times larger (a control
character becomes `\\u0007`; readable() already turned an invalid byte or a NUL
into four characters, `\\xNN`, which JSON writes in five). RabbitMQ refuses a
message larger than its max_message_size (16 MiB by default since RabbitMQ 4),
and the outbox would set such an event aside, its lines lost. So every event
the launcher writes stays under MAX_EVENT_BYTES, well under that limit:

- each line of output is cut once, as it is read (output_lines.classify), to
  MAX_LINE_BYTES; a report is read from the cut line, so its fields are
  bounded too;
- each line of the stderr tail is cut to STDERR_TAIL_LINE_BYTES (execute.py),
  so PipelineFinished carries at most a few tens of KiB of it;
- a batch counts its lines and file outcomes in encoded bytes (output_batches.py).

Text is measured as JSON, escapes included, and cut with a marker that says
how much was left out: "… [cut: 1,234,567 more bytes]".
"""

import pydantic_core

MAX_EVENT_BYTES = 4 * 1024**2
# Twice the longest piece read whole (output_lines.READ_LIMIT_BYTES): a piece of plain text is never cut,
# one that escaping makes larger is. A batch (under 1 MiB, plus its last line) stays under MAX_EVENT_BYTES.
MAX_LINE_BYTES = 2 * 1024**2
STDERR_TAIL_LINE_BYTES = 4 * 1024
# JSON bytes a character may take at most: a control character, written \u00XX.
_MOST_BYTES_PER_CHARACTER = 6
_MARKER_ROOM = 64  # "… [cut: 999,999,999,999 more bytes]" and then some


def json_size(text: str) -> int:
    """Bytes the text takes as a JSON string, quotes and escapes included."""
    return len(pydantic_core.to_json(text))


def cut_to_fit(text: str, budget: int) -> str:
    """The text if it takes at most `budget` bytes as JSON; else as much of its start as fits, followed by a
    marker saying how many bytes (UTF-8, as shown) were left out."""
    if len(text) * _MOST_BYTES_PER_CHARACTER + 2 <= budget or json_size(text) <= budget:
        return text
    room = budget - _MARKER_ROOM
    kept, too_long = 0, min(len(text), room) + 1  # each character takes a byte at least
    while too_long - kept > 1:  # the longest start that fits: kept fits, too_long does not
        middle = (kept + too_long) // 2
        if json_size(text[:middle]) <= room:
            kept = middle
        else:
            too_long = middle
    left_out = len(text[kept:].encode())
    return f"{text[:kept]}… [cut: {left_out:,} more bytes]"


def stderr_tail_line(message: str) -> str:
    """A line as the stderr tail of PipelineFinished keeps it."""
    return cut_to_fit(message, STDERR_TAIL_LINE_BYTES)
