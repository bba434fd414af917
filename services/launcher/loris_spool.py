"""LORIS site mode: LORIS-MRI's log (the rows it writes into notification_spool with ProcessID = the upload's
UploadID) becomes lines of the upload's log while the run goes, in NotificationID order, each exactly once.

Only Active='Y' rows count (an overwrite in LORIS marks the earlier ones 'N'). Verbose='N' rows are summary
lines, Verbose='Y' detailed only; Error='Y' an error line; Origin the line's origin; TimeSpooled its time.

The run's record keeps the last NotificationID turned into a line, moved in the transaction that writes the
outbox row carrying those lines: a launcher killed between the two did neither, and whoever runs the attempt
next (a rerun, a relaunch, another launcher) goes on from there. A launcher that stopped after its pipeline
ended on its own leaves no next run: the reaper that records that end reads the rows it left (rows_left_behind).
"""

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg

from services.common.loris_connections import LorisConnections
from services.common.loris_db import LorisDatabaseAway
from services.common.messages import LogEntry, PipelineLogLines
from services.common.outbox import add_to_outbox
from services.launcher import runs
from services.launcher.output_batches import LINE_ENTRY_BYTES, MAX_BYTES
from services.launcher.output_budget import MAX_LINE_BYTES, cut_to_fit, json_size
from services.launcher.schema import SCHEMA

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
ROWS_PER_READ = 5000

_NEW_ROWS = """SELECT NotificationID, TimeSpooled, Message, Error, Verbose, Origin FROM notification_spool
               WHERE ProcessID = %s AND Active = 'Y' AND NotificationID > %s
               ORDER BY NotificationID LIMIT %s"""


def log_entry(notification_id: int, time_spooled: datetime | None, message: str | None, error: str, verbose: str,
              origin: str | None) -> LogEntry:
    """A row of notification_spool (its columns as _NEW_ROWS reads them) as a line of the log."""
    return LogEntry(line_number=notification_id, message=cut_to_fit(message or "", MAX_LINE_BYTES),
                    is_error=error == "Y", is_verbose=verbose == "Y", origin=origin or None,
                    logged_at=None if time_spooled is None else local_time(time_spooled))


@functools.lru_cache(maxsize=256)
def local_time(time_spooled: datetime) -> datetime:
    """A naive TimeSpooled is the LORIS server's local time, taken as this machine's. TimeSpooled counts whole
    seconds, so the rows of a busy second share one conversion (a look-up of the time zone's rules each)."""
    return time_spooled.astimezone()


async def new_spool_rows(loris: LorisConnections, loris_upload_id: int, after: int,
                         limit: int = ROWS_PER_READ) -> list[LogEntry]:
    """The upload's rows after NotificationID `after`, at most `limit`, in order, as lines of the log."""
    async with loris.connection() as conn, conn.cursor() as cursor:
        await cursor.execute(_NEW_ROWS, (loris_upload_id, after, limit))
        rows = await cursor.fetchall()
    return [log_entry(*row) for row in rows]


def in_batches(entries: list[LogEntry]) -> list[list[LogEntry]]:
    """Lines in batches of at most MAX_BYTES of event JSON (a batch holds one line at least)."""
    batches: list[list[LogEntry]] = [[]]
    size = 0
    for entry in entries:
        entry_size = LINE_ENTRY_BYTES + json_size(entry.message) + json_size(entry.origin or "") + 64
        if batches[-1] and size + entry_size > MAX_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(entry)
        size += entry_size
    return [batch for batch in batches if batch]


class SpoolFollower:
    """Follows one run's rows: `follow` polls until told the process ended, then drains once more."""

    def __init__(self, loris: LorisConnections, pool: asyncpg.Pool, run: runs.Run, owner: str,
                 poll_seconds: float = POLL_SECONDS) -> None:
        assert run.loris_upload_id is not None
        self._loris = loris
        self._pool = pool
        self._run = run
        self._owner = owner
        self._poll_seconds = poll_seconds
        self._last = run.spool_last
        self._ours = True
        self._ended = asyncio.Event()
        self.rows_left_unread = False  # the rows of the process's end could not be read: its end must wait for them

    def process_ended(self) -> None:
        self._ended.set()

    async def follow(self, final_drain_seconds: float) -> None:
        """Turn rows into lines every POLL_SECONDS while the process runs (a LORIS database away is tried again at
        the next poll), then the rows it left at its end (tried for at most `final_drain_seconds`)."""
        while not self._ended.is_set() and self._ours:
            try:
                await self.drain()
            except LorisDatabaseAway as away:
                log.warning("LORIS-MRI's log not read: the LORIS database is away", extra={"error": str(away)})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_seconds):
                    await self._ended.wait()
        await self._final_drain(final_drain_seconds)

    async def _final_drain(self, seconds: float) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while self._ours:
            try:
                await self.drain()
                return
            except LorisDatabaseAway as away:
                if asyncio.get_running_loop().time() >= deadline:
                    log.error("LORIS-MRI's last log rows not read: the LORIS database is away; the reaper that "
                              "records this run's end reads them once it is back", extra={"error": str(away)})
                    self.rows_left_unread = True
                    return
                await asyncio.sleep(min(1.0, self._poll_seconds * 2))

    async def drain(self) -> None:
        """Every new row, as lines, until none is left."""
        self._last = await drain_rows(self._loris, self._run, self._last, self._write)

    async def _write(self, after: int, batch: list[LogEntry]) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            self._ours = await write_lines(conn, self._run, self._owner, after, batch)
        return self._ours


async def rows_left_behind(loris: LorisConnections, conn: asyncpg.Connection, run: runs.Run, launcher: str,
                           read_seconds: float) -> None:
    """For the reaper, in its transaction, as it records the end of a run whose launcher stopped after the pipeline
    ended: the rows that launcher did not turn into lines, as lines (no later run of the attempt will). Each read
    waits for MariaDB at most `read_seconds` (TimeoutError)."""

    async def write(after: int, batch: list[LogEntry]) -> bool:
        return await write_lines(conn, run, launcher, after, batch)

    await drain_rows(loris, run, run.spool_last, write, read_seconds)


async def drain_rows(loris: LorisConnections, run: runs.Run, after: int,
                     write: Callable[[int, list[LogEntry]], Awaitable[bool]], read_seconds: float | None = None) -> int:
    """Every row of the run's upload after NotificationID `after`, batch by batch through `write(after, batch)`,
    until none is left or `write` says False; the last NotificationID written."""
    while True:
        async with asyncio.timeout(read_seconds):
            rows = await new_spool_rows(loris, run.loris_upload_id, after)
        for batch in in_batches(rows):
            if not await write(after, batch):
                return after
            after = batch[-1].line_number
        if len(rows) < ROWS_PER_READ:
            return after


async def write_lines(conn: asyncpg.Connection, run: runs.Run, owner: str, after: int, batch: list[LogEntry]) -> bool:
    """The batch as lines of the run's log, its cursor moved past them, in the caller's transaction; False (nothing
    written) when the run is no longer `owner`'s (given up, or taken over: whoever has it now reads the rows)."""
    if not await runs.advance_spool(conn, run.run_id, owner, after, batch[-1].line_number):
        return False
    await add_to_outbox(conn, SCHEMA, PipelineLogLines(upload_id=run.upload_id, attempt=run.attempt, run=run.number,
                                                       lines=batch))
    return True
