"""A run's output on its way to the log, in batches: one event per batch of
lines rather than one per line, so that a pipeline printing tens of thousands
of lines costs tens of outbox rows, messages and transactions, not tens of
thousands.

A batch is written when MAX_LINES lines or MAX_BYTES bytes wait (bytes as the
event's JSON will take them, escapes included: see output_budget.py), and at the
latest MAX_DELAY_SECONDS after they started waiting (`tick`), so that a live
log still shows a line within a moment; `tick` writes the last ones when told
the output ended. Lines are numbered as they are read; batches are written
one at a time, in order. A batch also carries the per-file outcomes and the
reports (steps, DICOM archive, counts, summary) read with its lines: the
reports merged into one event, the latest value of each field winning, so a
pipeline reporting its percentage often costs no more events. A reader that
fills a batch waits for its write, so a slow database slows the reading down
instead of filling memory.
"""

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable

from services.common.messages import (
    Event,
    FileOutcome,
    LogEntry,
    PipelineFileOutcomes,
    PipelineLogLines,
    PipelineReported,
)
from services.launcher.output_budget import json_size
from services.launcher.output_lines import OutputLine
from services.launcher.pipeline_reports import read_report

MAX_LINES = 1000
MAX_BYTES = 1024**2
MAX_DELAY_SECONDS = 0.2
# What a log line takes in an event besides its message (its number, flags and stream), at most.
LINE_ENTRY_BYTES = len(LogEntry(line_number=10**12, message="", stream="stdout").model_dump_json())

WriteEvents = Callable[[list[Event]], Awaitable[None]]


class OutputBatches:
    def __init__(self, upload_id: int, attempt: int, run_id: int, write: WriteEvents,
                 run_number: int | None = None) -> None:
        self._ids = {"upload_id": upload_id, "attempt": attempt}
        self._run_id = run_id
        self._run_number = run_number
        self._write = write
        self._numbers = itertools.count(1)
        self._waiting: list[LogEntry] = []
        self._waiting_bytes = 0
        self._files: list[FileOutcome] = []
        self._report: dict = {}
        self._one_write_at_a_time = asyncio.Lock()  # FIFO: batches are written in the order they were cut
        self._output_ended = asyncio.Event()

    async def add_output(self, line: OutputLine) -> None:
        """A line the pipeline printed: a report (of a file, or of the run's fields, with its line in words), or
        a log line as it is."""
        report = read_report(line.message) if line.is_report else None
        if report is None:
            await self.add(line)
        elif report.file is not None:
            await self.add_file(report.file, report.line)
        else:
            await self.add_report(report.fields, report.line)

    async def add(self, line: OutputLine) -> None:
        self._waiting.append(LogEntry(line_number=next(self._numbers), message=line.message,
                                      is_error=line.is_error, is_verbose=line.is_verbose,
                                      stream="stderr" if line.from_stderr else "stdout"))
        self._waiting_bytes += LINE_ENTRY_BYTES + json_size(line.message)
        if len(self._waiting) >= MAX_LINES or self._waiting_bytes >= MAX_BYTES:
            await self.flush()

    async def add_report(self, fields: dict, line: OutputLine) -> None:
        """Report fields, written with the batch of their log line."""
        self._report.update(fields)
        await self.add(line)

    async def add_file(self, outcome: FileOutcome, line: OutputLine) -> None:
        self._files.append(outcome)
        self._waiting_bytes += len(outcome.model_dump_json())
        await self.add(line)

    async def flush(self) -> None:
        lines, self._waiting, self._waiting_bytes = self._waiting, [], 0
        files, self._files = self._files, []
        report, self._report = self._report, {}
        events: list[Event] = []
        if lines:
            events.append(PipelineLogLines(**self._ids, lines=lines, run=self._run_number))
        if files:
            events.append(PipelineFileOutcomes(**self._ids, run_id=self._run_id, files=files))
        if report:
            events.append(PipelineReported(**self._ids, run_id=self._run_id, **report))
        if events:
            async with self._one_write_at_a_time:
                await self._write(events)

    async def tick(self) -> None:
        """Write what waits every MAX_DELAY_SECONDS until the output ended, then the rest, and return.

        It is told to end (`output_ended`) rather than cancelled: a cancel in the middle of a write would
        roll back a batch already taken from the waiting lines."""
        while not self._output_ended.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MAX_DELAY_SECONDS):
                    await self._output_ended.wait()
            await self.flush()
        await self.flush()  # what was added while the last write went on

    def output_ended(self) -> None:
        self._output_ended.set()
