"""How a line of pipeline output becomes a log line, or a report.

A pipeline may tag each stdout line: `[info] ` for the summary log,
`[verbose] ` for the detailed log only, `[error] ` for why it fails, and
`[report] ` followed by a JSON object of what it made (`tarchive`,
`minc_created`, `minc_inserted`), shown in Browse. Untagged stdout is detail
(verbose); anything on stderr is an error.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

REPORT_FIELDS = ("tarchive", "minc_created", "minc_inserted")
# The longest line read whole; a longer one is logged in pieces of this size.
READ_LIMIT_BYTES = 1024**2


@dataclass(frozen=True)
class OutputLine:
    message: str
    is_error: bool
    is_verbose: bool
    is_report: bool = False


_TAGS = {
    "[info] ": (False, False),
    "[verbose] ": (False, True),
    "[error] ": (True, False),
}
_REPORT_TAG = "[report] "


async def raw_lines(stream: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The stream's lines, newline included, until its end; a line longer than the reader's limit comes in
    pieces rather than failing the run, and a last line without a newline comes as it is."""
    while True:
        try:
            yield await stream.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:
            if end.partial:
                yield end.partial
            return
        except asyncio.LimitOverrunError as too_long:
            yield await stream.readexactly(too_long.consumed)


def classify(raw: str, from_stderr: bool) -> OutputLine:
    text = raw.rstrip("\r\n")
    if from_stderr:
        return OutputLine(text, is_error=True, is_verbose=False)
    if text.startswith(_REPORT_TAG):
        return OutputLine(text[len(_REPORT_TAG):], is_error=False, is_verbose=True, is_report=True)
    for tag, (is_error, is_verbose) in _TAGS.items():
        if text.startswith(tag):
            return OutputLine(text[len(tag):], is_error, is_verbose)
    return OutputLine(text, is_error=False, is_verbose=True)


def report_fields(text: str) -> dict | None:
    """The known fields of a report line, or None when it is not a JSON object (then it is logged as it is)."""
    try:
        report = json.loads(text)
    except ValueError:
        return None
    if not isinstance(report, dict):
        return None
    fields = {name: report[name] for name in REPORT_FIELDS if name in report}
    tarchive = fields.get("tarchive")
    counts_ok = all(isinstance(fields.get(n), int) and fields[n] >= 0 for n in REPORT_FIELDS[1:] if n in fields)
    if (tarchive is not None and not isinstance(tarchive, str)) or not counts_ok:
        return None
    return fields
