"""How a line of pipeline output becomes a log line, or a report.

A pipeline may tag each stdout line: `[info] ` for the summary log,
`[verbose] ` for the detailed log only, `[error] ` for why it fails, and
`[report] ` followed by a JSON object (pipeline_reports.py: steps, the DICOM
archive, image counts, per-file outcomes, a summary). Untagged stdout is
detail (verbose); anything on stderr is an error. So plain LORIS-MRI output
works as it is, without the tags.

A line is cut once, here, to MAX_LINE_BYTES of JSON (output_budget.py): its
log line, its report and its place in the stderr tail all come from the cut
line.
"""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.launcher.output_budget import MAX_LINE_BYTES, cut_to_fit

# The longest line read whole; a longer one is logged in pieces of this size.
READ_LIMIT_BYTES = 1024**2


@dataclass(frozen=True)
class OutputLine:
    message: str
    is_error: bool
    is_verbose: bool
    is_report: bool = False
    from_stderr: bool = False


_TAGS = {
    "[info] ": (False, False),
    "[verbose] ": (False, True),
    "[error] ": (True, False),
}
_REPORT_TAG = "[report] "


async def raw_lines(stream: asyncio.StreamReader, piece_bytes: int = READ_LIMIT_BYTES) -> AsyncIterator[bytes]:
    """The stream's lines, newline included, until its end; a line longer than the reader's limit (the
    process's: READ_LIMIT_BYTES) comes in pieces of `piece_bytes` rather than failing the run, and a last line
    without a newline comes as it is."""
    while True:
        try:
            yield await stream.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:
            if end.partial:
                yield end.partial
            return
        except asyncio.LimitOverrunError as too_long:
            # What waits may be twice the limit and more: a piece takes no more than piece_bytes of it.
            yield await stream.readexactly(min(too_long.consumed, piece_bytes))


def classify(raw: str, from_stderr: bool) -> OutputLine:
    text = cut_to_fit(raw.rstrip("\r\n"), MAX_LINE_BYTES)
    if from_stderr:
        return OutputLine(text, is_error=True, is_verbose=False, from_stderr=True)
    if text.startswith(_REPORT_TAG):
        return OutputLine(text[len(_REPORT_TAG):], is_error=False, is_verbose=True, is_report=True)
    for tag, (is_error, is_verbose) in _TAGS.items():
        if text.startswith(tag):
            return OutputLine(text[len(tag):], is_error, is_verbose)
    return OutputLine(text, is_error=False, is_verbose=True)

