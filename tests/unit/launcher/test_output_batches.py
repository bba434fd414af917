"""A run's output goes to the log in batches: by count, by size and by time, in
the order it was printed, with the per-file outcomes and the reports read with its lines."""

import asyncio

import pytest

from services.common.messages import FileOutcome, PipelineFileOutcomes, PipelineLogLines
from services.launcher import output_batches
from services.launcher.output_batches import OutputBatches
from services.launcher.output_budget import json_size
from services.launcher.output_lines import OutputLine, raw_lines


class Written:
    """The events written; a held writer waits for `release` in each write, which it starts by setting `writing`."""

    def __init__(self, delay: float = 0, held: bool = False) -> None:
        self.events = []
        self.delay = delay
        self.writing = asyncio.Event()
        self.release = asyncio.Event()
        self.wrote = asyncio.Event()
        if not held:
            self.release.set()

    async def __call__(self, events) -> None:
        self.writing.set()
        await self.release.wait()
        await asyncio.sleep(self.delay)
        self.events.extend(events)
        self.wrote.set()

    @property
    def batches(self) -> list[list[str]]:
        return [[line.message for line in event.lines] for event in self.events if isinstance(event, PipelineLogLines)]


def line(text: str) -> OutputLine:
    return OutputLine(text, is_error=False, is_verbose=True)


async def test_a_full_batch_is_written_at_once_and_numbered_in_order(monkeypatch):
    monkeypatch.setattr(output_batches, "MAX_LINES", 3)
    written = Written()
    batches = OutputBatches(7, 2, 99, written)

    for n in range(1, 8):
        await batches.add(line(f"line {n}"))
    await batches.flush()

    assert written.batches == [["line 1", "line 2", "line 3"], ["line 4", "line 5", "line 6"], ["line 7"]]
    numbers = [entry.line_number for event in written.events for entry in event.lines]
    assert numbers == list(range(1, 8))
    assert {(event.upload_id, event.attempt) for event in written.events} == {(7, 2)}


async def test_a_batch_is_also_cut_by_its_size_in_json_escapes_included(monkeypatch):
    plain, escaped = "a" * 12, "\x07" * 12  # 14 bytes in JSON, and 74 (each \u0007)
    monkeypatch.setattr(output_batches, "MAX_BYTES", 2 * (output_batches.LINE_ENTRY_BYTES + json_size(plain)))
    written = Written()
    batches = OutputBatches(7, 1, 99, written)

    await batches.add(line(plain))
    await batches.add(line(plain))  # MAX_BYTES: written now
    await batches.add(line(escaped))
    await batches.add(line("b"))  # past MAX_BYTES: the escapes counted
    await batches.add(line("c"))

    assert written.batches == [[plain, plain], [escaped, "b"]]


async def test_lines_waiting_are_written_within_the_delay_even_when_the_pipeline_prints_nothing_more(monkeypatch):
    monkeypatch.setattr(output_batches, "MAX_DELAY_SECONDS", 0.05)
    written = Written()
    batches = OutputBatches(7, 1, 99, written)
    ticking = asyncio.create_task(batches.tick())

    await batches.add(line("only line"))
    await asyncio.wait_for(written.wrote.wait(), 5)

    assert written.batches == [["only line"]]
    batches.output_ended()
    await ticking


async def test_when_the_output_ends_during_a_write_the_batch_being_written_and_the_last_lines_are_both_kept(monkeypatch):
    monkeypatch.setattr(output_batches, "MAX_DELAY_SECONDS", 0.01)
    written = Written(held=True)
    batches = OutputBatches(7, 1, 99, written)
    ticking = asyncio.create_task(batches.tick())

    await batches.add(line("first"))
    await asyncio.wait_for(written.writing.wait(), 5)  # the ticker is writing "first" now
    await batches.add(line("last"))
    batches.output_ended()
    written.release.set()
    await ticking

    assert written.batches == [["first"], ["last"]]


async def test_reports_ride_with_their_batch_merged_the_latest_value_of_each_field_winning():
    written = Written()
    batches = OutputBatches(7, 1, 99, written)

    await batches.add_report({"step": "Extracting", "percent": 5}, line("Extracting (5%)"))
    await batches.add_report({"step": "Extracting", "percent": 30}, line("Extracting (30%)"))
    await batches.add_report({"minc_created": 2}, line("Image files: 2 created."))
    await batches.flush()
    await batches.add(line("after"))
    await batches.flush()

    assert [event.type for event in written.events] == ["pipeline.log_lines", "pipeline.reported", "pipeline.log_lines"]
    report = written.events[1]
    assert (report.run_id, report.step, report.percent, report.minc_created, report.tarchive) == (
        99, "Extracting", 30, 2, None)
    assert written.batches == [["Extracting (5%)", "Extracting (30%)", "Image files: 2 created."], ["after"]]


async def test_file_outcomes_are_written_in_one_event_per_batch_in_the_order_they_were_reported(monkeypatch):
    monkeypatch.setattr(output_batches, "MAX_LINES", 3)
    written = Written()
    batches = OutputBatches(7, 1, 99, written)

    for n in range(1, 5):
        outcome = FileOutcome(file=f"IM{n}.dcm", series="1", outcome="inserted")
        await batches.add_file(outcome, line(f"IM{n}.dcm (series 1): inserted"))
    await batches.flush()

    files = [event for event in written.events if isinstance(event, PipelineFileOutcomes)]
    assert [[outcome.file for outcome in event.files] for event in files] == [
        ["IM1.dcm", "IM2.dcm", "IM3.dcm"], ["IM4.dcm"]]
    assert {event.run_id for event in files} == {99}


async def test_batches_cut_while_one_is_being_written_are_written_after_it_in_order(monkeypatch):
    monkeypatch.setattr(output_batches, "MAX_LINES", 2)
    written = Written(delay=0.01)
    batches = OutputBatches(7, 1, 99, written)

    await asyncio.gather(*(batches.add(line(f"line {n}")) for n in range(1, 11)))
    await batches.flush()

    assert [message for batch in written.batches for message in batch] == [f"line {n}" for n in range(1, 11)]


async def test_a_write_that_fails_fails_the_caller():
    async def refuse(events):
        raise ConnectionError("the database is away")

    batches = OutputBatches(7, 1, 99, refuse)
    await batches.add(line("one"))

    with pytest.raises(ConnectionError):
        await batches.flush()


def reader_of(data: bytes, limit: int) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_a_line_longer_than_the_read_limit_comes_in_pieces_instead_of_failing_the_run():
    reader = reader_of(b"short\n" + b"x" * 100 + b"\nend", limit=32)  # all of it waits at once

    pieces = [piece async for piece in raw_lines(reader, piece_bytes=32)]

    assert pieces[0] == b"short\n" and pieces[-1] == b"end"
    assert b"".join(pieces[1:-1]) == b"x" * 100 + b"\n"
    assert [len(piece) for piece in pieces[1:-1]] == [32, 32, 32, 5], "no piece is longer than asked"
