"""How a line of pipeline output becomes a log line.

A pipeline may tag each stdout line: `[info] ` for the summary log,
`[verbose] ` for the detailed log only, `[error] ` for why it fails.
Untagged stdout is detail (verbose); anything on stderr is an error.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class OutputLine:
    message: str
    is_error: bool
    is_verbose: bool


_TAGS = {
    "[info] ": (False, False),
    "[verbose] ": (False, True),
    "[error] ": (True, False),
}


def classify(raw: str, from_stderr: bool) -> OutputLine:
    text = raw.rstrip("\r\n")
    if from_stderr:
        return OutputLine(text, is_error=True, is_verbose=False)
    for tag, (is_error, is_verbose) in _TAGS.items():
        if text.startswith(tag):
            return OutputLine(text[len(tag):], is_error, is_verbose)
    return OutputLine(text, is_error=False, is_verbose=True)
