"""LORIS site mode: the launcher's part in the upload's row of LORIS's mri_upload (UPLOADER_LORIS_DATABASE_URL).

As LORIS's own launch does, a run that starts sets Inserting = 1 (LORIS's pages show In Progress). At the
end the launcher reads the row back: the upload is a Success only when the pipeline exited with 0 and
LORIS-MRI set InsertionComplete = 1. A run that did not succeed (it failed, died, was stopped, timed out or
was given up) leaves Inserting = 0, written by the launcher, so LORIS never shows a dead run as In Progress.
While MariaDB is away these calls are tried again, for as long as the caller allows.
"""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from services.common.loris_connections import LorisConnections
from services.common.loris_db import LorisDatabaseAway
from services.common.messages import LorisUploadRecord

T = TypeVar("T")

_READ_BACK = """SELECT Inserting, InsertionComplete, TarchiveID, number_of_mincCreated, number_of_mincInserted
                FROM mri_upload WHERE UploadID = %s"""


class LorisUploadRow:
    def __init__(self, loris: LorisConnections) -> None:
        self.loris = loris

    async def mark_inserting(self, loris_upload_id: int) -> None:
        await self._execute("UPDATE mri_upload SET Inserting = 1 WHERE UploadID = %s", loris_upload_id)

    async def mark_not_inserting(self, loris_upload_id: int) -> None:
        await self._execute("UPDATE mri_upload SET Inserting = 0 WHERE UploadID = %s", loris_upload_id)

    async def read_back(self, loris_upload_id: int) -> LorisUploadRecord | None:
        """The row's flags and counts; None when there is no such row."""
        async with self.loris.connection() as conn, conn.cursor() as cursor:
            await cursor.execute(_READ_BACK, (loris_upload_id,))
            row = await cursor.fetchone()
        if row is None:
            return None
        inserting, complete, tarchive_id, created, inserted = row
        return LorisUploadRecord(inserting=None if inserting is None else bool(inserting),
                                 insertion_complete=bool(complete), tarchive_id=tarchive_id,
                                 minc_created=created, minc_inserted=inserted)

    async def _execute(self, statement: str, loris_upload_id: int) -> None:
        async with self.loris.connection() as conn, conn.cursor() as cursor:
            await cursor.execute(statement, (loris_upload_id,))


async def while_away(seconds: float, call: Callable[[], Awaitable[T]]) -> T:
    """`call`, tried again while the LORIS database is away, for at most `seconds`; LorisDatabaseAway after."""
    async for attempt in AsyncRetrying(retry=retry_if_exception_type(LorisDatabaseAway),
                                       stop=stop_after_delay(seconds), wait=wait_exponential(multiplier=0.1, max=2),
                                       reraise=True):
        with attempt:
            return await call()
    raise AssertionError("unreachable")
