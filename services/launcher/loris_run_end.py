"""LORIS site mode: a run's end as LORIS's mri_upload row has it (services/launcher/loris_upload_row.py).

A pipeline that exited with 0 is a Success only when LORIS-MRI set InsertionComplete = 1; any other end
leaves Inserting = 0. The verdict never ignores the row: an exit 0 whose row cannot be read (MariaDB away)
is not recorded yet, and the reaper records it once the row can be read (the run's guard keeps the exit
code). A failed end whose Inserting = 0 cannot be written at once is recorded, and the row owes it: a sweep
writes it when MariaDB is back.
"""

import logging
from dataclasses import dataclass

import asyncpg

from services.common.loris_db import LorisDatabaseAway
from services.common.messages import LorisUploadRecord, RunOutcome
from services.launcher import runs
from services.launcher.loris_upload_row import LorisUploadRow, while_away

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LorisEnd:
    outcome: RunOutcome
    message: str
    record: LorisUploadRecord | None  # the row as read back; None when it could not be
    owes_not_inserting: bool = False  # Inserting = 0 could not be written yet


class RowNotReadable(Exception):
    """An end that must wait for the LORIS database: an exit 0 whose row cannot be read now, or any end whose last
    log rows cannot (services/launcher/execute.py)."""


async def loris_end(row: LorisUploadRow, loris_upload_id: int, outcome: RunOutcome, message: str,
                    seconds: float) -> LorisEnd:
    """The end, the row read back (and Inserting = 0 written unless it succeeded), trying for at most `seconds`
    while MariaDB is away; RowNotReadable for an exit 0 whose row could not be read."""
    try:
        return await while_away(seconds, lambda: _end(row, loris_upload_id, outcome, message))
    except LorisDatabaseAway as away:
        if outcome == RunOutcome.SUCCEEDED:
            raise RowNotReadable(str(away)) from away
        log.warning("Inserting = 0 not written: the LORIS database is away; owed", extra={"error": str(away)})
        return LorisEnd(outcome, f"{message} {_NOT_WRITTEN.format(id=loris_upload_id)}", None, True)


async def _end(row: LorisUploadRow, loris_upload_id: int, outcome: RunOutcome, message: str) -> LorisEnd:
    if outcome == RunOutcome.SUCCEEDED:
        record = await row.read_back(loris_upload_id)
        if record is not None and record.insertion_complete:
            return LorisEnd(outcome, message, record)
        outcome, message = RunOutcome.FAILED, not_completed(loris_upload_id, record)
    await row.mark_not_inserting(loris_upload_id)
    return LorisEnd(outcome, message, await row.read_back(loris_upload_id))


def not_completed(loris_upload_id: int, record: LorisUploadRecord | None) -> str:
    if record is None:
        return (f"The pipeline exited with code 0, but LORIS's mri_upload has no row {loris_upload_id}: "
                "LORIS-MRI did not complete the insertion, so the upload failed.")
    return (f"The pipeline exited with code 0, but LORIS-MRI did not complete the insertion (InsertionComplete is "
            f"not 1 in LORIS's mri_upload row {loris_upload_id}), so the upload failed.")


_NOT_WRITTEN = ("(The LORIS database could not be reached to mark upload {id} as no longer inserting; the launcher "
                "writes it as soon as it is back.)")


async def pay_not_inserting_debts(pool: asyncpg.Pool, row: LorisUploadRow) -> int:
    """Write Inserting = 0 to the rows of ended runs that owe it; returns how many. Stops at the first sign that
    MariaDB is away (the next sweep goes on)."""
    paid = 0
    for run_id, loris_upload_id in await runs.owing_not_inserting(pool):
        try:
            await row.mark_not_inserting(loris_upload_id)
        except LorisDatabaseAway:
            break
        await runs.not_inserting_told(pool, run_id)
        paid += 1
    return paid
