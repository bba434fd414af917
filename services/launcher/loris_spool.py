"""LORIS site mode: LORIS-MRI's log (the rows it writes into notification_spool with ProcessID = the upload's
UploadID) becomes lines of the upload's log while the run goes, in NotificationID order, each exactly once.

Only Active='Y' rows count (an overwrite in LORIS marks the earlier ones 'N'). Verbose='N' rows are summary
lines, Verbose='Y' detailed only; Error='Y' an error line; Origin the line's origin; TimeSpooled its time.

The run's record keeps the last NotificationID turned into a line, moved in the transaction that writes the
outbox row carrying those lines: a launcher killed between the two did neither, and whoever runs the attempt
next (a rerun, a relaunch, another launcher) goes on from there.
"""

import asyncio
import contextlib
import functools
import logging
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
                    log.error("LORIS-MRI's last log rows not read: the LORIS database is away; the next run of the "
                              "attempt reads them", extra={"error": str(away)})
                    return
                await asyncio.sleep(min(1.0, self._poll_seconds * 2))

    async def drain(self) -> None:
        """Every new row, as lines, until none is left."""
        while self._ours:
            entries = await new_spool_rows(self._loris, self._run.loris_upload_id, self._last)
            for batch in in_batches(entries):
                await self._write(batch)
                if not self._ours:
                    return
            if len(entries) < ROWS_PER_READ:
                return

    async def _write(self, batch: list[LogEntry]) -> None:
        last = batch[-1].line_number
        event = PipelineLogLines(upload_id=self._run.upload_id, attempt=self._run.attempt, run=self._run.number,
                                 lines=batch)
        async with self._pool.acquire() as conn, conn.transaction():
            if not await runs.advance_spool(conn, self._run.run_id, self._owner, self._last, last):
                self._ours = False  # given up, or taken over: whoever has the run now reads the rows
                return
            await add_to_outbox(conn, SCHEMA, event)
        self._last = last
