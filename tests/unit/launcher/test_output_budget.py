"""A pipeline's output is cut to fit the events that carry it: a line that JSON would make too large is cut
with a marker saying how much was left out, plain text is kept whole, and no event the launcher writes from
the worst output passes MAX_EVENT_BYTES (RabbitMQ refuses a message over its max_message_size)."""

import re

import pytest

from services.common.messages import PipelineFinished, RunOutcome, encode_event
from services.common.readable_text import readable
from services.launcher.execute import STDERR_TAIL_LINES
from services.launcher.output_batches import OutputBatches
from services.launcher.output_budget import (
    MAX_EVENT_BYTES, MAX_LINE_BYTES, STDERR_TAIL_LINE_BYTES, cut_to_fit, json_size, stderr_tail_line,
)
from services.launcher.output_lines import READ_LIMIT_BYTES, classify

MARKER = re.compile(r"… \[cut: ([\d,]+) more bytes\]$")

# Pieces as the launcher reads them (READ_LIMIT_BYTES at most), each as readable() makes it text.
NUL_BYTES = readable(b"\x00" * READ_LIMIT_BYTES)  # \x00, five bytes in JSON each
NOT_UTF8 = readable(b"\xff" * READ_LIMIT_BYTES)  # \xff, five bytes in JSON each
CONTROL_CHARACTERS = readable(b"\x07" * READ_LIMIT_BYTES)  # \u0007 in JSON: six bytes each
QUOTES_AND_BACKSLASHES = readable(b'"\\' * (READ_LIMIT_BYTES // 2))


def left_out(cut: str, original: str) -> int:
    """The number the marker gives, after checking that the text kept is the original's start."""
    marker = MARKER.search(cut)
    assert marker, cut[-80:]
    kept = cut[:marker.start()]
    assert original.startswith(kept)
    assert int(marker.group(1).replace(",", "")) == len(original[len(kept):].encode())
    return len(kept)


def test_text_that_fits_is_kept_as_it_is():
    assert cut_to_fit("a short line", 100) == "a short line"
    assert cut_to_fit("\x07" * 16, json_size("\x07" * 16)) == "\x07" * 16


@pytest.mark.parametrize("text", ["L" * READ_LIMIT_BYTES, readable("é".encode() * (READ_LIMIT_BYTES // 2)),
                                  readable("😀".encode() * (READ_LIMIT_BYTES // 4))],
                         ids=["ascii", "accents", "emoji"])
def test_a_whole_piece_of_plain_text_is_never_cut(text):
    assert classify(text, from_stderr=False).message == text


@pytest.mark.parametrize("text", [NUL_BYTES, NOT_UTF8, CONTROL_CHARACTERS, QUOTES_AND_BACKSLASHES],
                         ids=["NUL", "not UTF-8", "control characters", "quotes and backslashes"])
def test_a_line_that_escaping_makes_too_large_is_cut_with_a_marker_saying_how_much_was_left_out(text):
    assert json_size(text) > MAX_LINE_BYTES

    cut = classify(text, from_stderr=True).message

    assert json_size(cut) <= MAX_LINE_BYTES
    kept = left_out(cut, text)
    assert json_size(text[:kept + 1]) > MAX_LINE_BYTES - 64, "the cut kept less than fits"


def test_a_stderr_tail_line_is_cut_to_a_few_kib():
    line = "Error: " + "E" * 10_000

    cut = stderr_tail_line(line)

    assert json_size(cut) <= STDERR_TAIL_LINE_BYTES
    assert cut.startswith("Error: EEEE")
    assert left_out(cut, line) > 4000
    assert cut.endswith(" more bytes]")


async def test_no_event_made_of_the_worst_output_passes_the_event_budget():
    """Lines that escaping multiplies, reports that fill a line, a full tail of such lines: read as execute.py
    reads them (classify, then a report or a line), in the batches it writes."""
    events = []

    async def write(batch):
        events.extend(batch)

    # A report line read whole, as long as it can be: each \\u0007 decodes to a character JSON escapes again.
    escapes = "\\u0007" * ((READ_LIMIT_BYTES - 200) // 6)
    file_report = '[report] {"type": "file", "file": "%s", "outcome": "rejected", "reason": "%s"}' % (
        escapes, escapes[:60])
    tarchive_report = ('[report] {"type": "tarchive", "tarchive": "DCM", "series": [{"description": "%s", "files": 1}]}'
                       % escapes[:6 * 1024])
    almost_a_batch = "L" * (READ_LIMIT_BYTES - 1024)  # waits, and the next line joins its batch
    output = [(almost_a_batch, False), (NUL_BYTES, False), (CONTROL_CHARACTERS, True), (NOT_UTF8, False),
              (almost_a_batch, False), (file_report, False), (tarchive_report, False), ("ordinary line", False)] * 3
    batches = OutputBatches(1, 1, 1, write)
    for text, from_stderr in output:
        await batches.add_output(classify(text, from_stderr))
    await batches.flush()
    tail = [stderr_tail_line(classify(CONTROL_CHARACTERS, from_stderr=True).message)] * STDERR_TAIL_LINES
    events.append(PipelineFinished(upload_id=1, attempt=1, run_id=1, exit_code=1, outcome=RunOutcome.FAILED,
                                   message="Pipeline failed", launcher="launcher", stderr_tail=tail))

    assert {type(event).__name__ for event in events} >= {"PipelineLogLines", "PipelineFileOutcomes",
                                                          "PipelineReported", "PipelineFinished"}
    sizes = [len(encode_event(event)) for event in events]
    assert max(sizes) <= MAX_EVENT_BYTES, sizes
