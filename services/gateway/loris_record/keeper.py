"""The LORIS record keeper (LORIS site mode): writes each upload's row in LORIS's mri_upload once the upload is
committed in PostgreSQL, so that any kill or MariaDB outage ends with exactly one row per upload.

The accepting transaction marks the row wanted (records.want_loris_row). The keeper writes it first right after
the accept (so that the 202 can carry LORIS's UploadID), and else in a background loop that retries, backing off,
while MariaDB is away. One upload is written at a time under a PostgreSQL advisory lock held to the end of the
keeper's transaction, so that two gateways never write the same row at once; that transaction records the
UploadID, announces it (upload.loris_recorded, through the outbox) and grants the run that waited for the row.
A keeper that died between MariaDB's write and PostgreSQL's commit left a row that the next write finds by its
UploadLocation (mri_upload_rows), so no second row is made. A row LORIS cannot hold (upload_location.py) is set
aside, logged and counted, not tried again; a new attempt of the upload wants its row again.
"""

import asyncio
import logging
from collections.abc import AsyncIterator

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from services.common import metrics
from services.common.loris_connections import LorisConnections
from services.common.loris_db import LorisDatabaseAway
from services.common.messages import AUTO_LAUNCH, LorisUploadRecorded, ScanFacts
from services.common.outbox import add_to_outbox
from services.common.scan_store import ScanStore
from services.gateway.loris_record.mri_upload_rows import UploadRow, write_upload_row
from services.gateway.loris_record.upload_location import location_failure
from services.gateway.schema import SCHEMA
from services.gateway.uploads import records

log = logging.getLogger(__name__)

ROW_LOCK_SPACE = 5  # advisory lock spaces: 1 the logstore's uploads, 2 idempotency keys, 3 outboxes, 4 launcher runs
BATCH_SIZE = 100
# How long one row's write may take before it is left to the next turn (a MariaDB that hangs rather than refuses).
WRITE_TIMEOUT_SECONDS = 10.0

_WANTED = """
    SELECT u.upload_id, u.attempt, u.loris_upload_id, u.uploaded_by, u.file_name, u.candid, u.pscid,
           u.visit_label, u.is_phantom, a.scan_key, extract(epoch FROM now() - a.uploaded_at)::integer AS seconds_ago,
           ARRAY(SELECT e.scan_key FROM gateway.upload_attempts e
                 WHERE e.upload_id = u.upload_id AND e.attempt < u.attempt ORDER BY e.attempt) AS earlier_keys
    FROM gateway.uploads u JOIN gateway.upload_attempts a ON a.upload_id = u.upload_id AND a.attempt = u.attempt
    WHERE u.upload_id = $1 AND u.loris_row_wanted AND u.loris_row_set_aside IS NULL"""


class LorisRecordKeeper:
    def __init__(self, pool: asyncpg.Pool, loris: LorisConnections, store: ScanStore) -> None:
        self._pool = pool
        self._loris = loris
        self._store = store

    async def write_row(self, upload_id: int, timeout: float = WRITE_TIMEOUT_SECONDS) -> int | None:
        """Write the upload's wanted row; its UploadID, or None when another keeper is writing it now or LORIS
        cannot hold it (it is set aside). Raises
        LorisDatabaseAway, or TimeoutError after `timeout`, when MariaDB cannot be reached: the row stays wanted."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1, $2)", ROW_LOCK_SPACE, upload_id):
                return None
            wanted = await conn.fetchrow(_WANTED, upload_id)
            if wanted is None:  # written meanwhile, by another keeper
                return await conn.fetchval("SELECT loris_upload_id FROM gateway.uploads WHERE upload_id = $1",
                                           upload_id)
            refused = location_failure(self._location(wanted["scan_key"]), wanted["file_name"])
            if refused is not None:
                await _set_aside(conn, upload_id, wanted["attempt"], refused.message)
                return None
            async with asyncio.timeout(timeout), self._loris.connection() as loris:
                loris_upload_id = await write_upload_row(
                    loris, self._row_of(wanted), wanted["loris_upload_id"],
                    [self._location(key) for key in wanted["earlier_keys"]])
            await _record_written(conn, upload_id, wanted["attempt"], loris_upload_id)
        log.info("LORIS upload row written",
                 extra={"upload_id": upload_id, "attempt": wanted["attempt"], "loris_upload_id": loris_upload_id})
        return loris_upload_id

    async def write_wanted(self) -> int:
        """Write every wanted row, oldest upload first; how many were written. Stops at the first sign that
        MariaDB is away (raised); a row that fails otherwise is logged and left for the next turn."""
        written = 0
        async for upload_id in self._wanted_uploads():
            try:
                written += await self.write_row(upload_id) is not None
            except (LorisDatabaseAway, TimeoutError):
                raise
            except Exception:
                log.exception("LORIS upload row not written; it will be tried again", extra={"upload_id": upload_id})
        return written

    async def run(self, poll_seconds: float) -> None:
        """Write the wanted rows until cancelled: every `poll_seconds`, and while MariaDB is away, again and again
        (backing off up to 5 s) until it answers."""
        while True:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type((LorisDatabaseAway, TimeoutError)),
                wait=wait_exponential(multiplier=0.2, max=5),
                before_sleep=lambda state: log.warning("LORIS database away; the upload rows wait for it",
                                                       extra={"error": str(state.outcome.exception())}),
            ):
                with attempt:
                    await self.write_wanted()
            await asyncio.sleep(poll_seconds)

    async def _wanted_uploads(self) -> AsyncIterator[int]:
        rows = await self._pool.fetch(
            f"""SELECT upload_id FROM gateway.uploads WHERE loris_row_wanted AND loris_row_set_aside IS NULL
                ORDER BY upload_id LIMIT {BATCH_SIZE}""")
        for row in rows:
            yield row["upload_id"]

    def _row_of(self, wanted: asyncpg.Record) -> UploadRow:
        scan = ScanFacts(file_name=wanted["file_name"], scan_key=wanted["scan_key"], candid=wanted["candid"],
                         pscid=wanted["pscid"], visit_label=wanted["visit_label"], is_phantom=wanted["is_phantom"])
        return UploadRow(uploaded_by=wanted["uploaded_by"], upload_location=self._location(scan.scan_key),
                         seconds_ago=max(wanted["seconds_ago"], 0), patient_name=scan.patient_name,
                         candid=scan.candid, visit_label=scan.visit_label, is_phantom=scan.is_phantom)

    def _location(self, scan_key: str) -> str:
        """The path the launcher gives the pipeline as {scan_path}: the same store, the same function."""
        return str(self._store.local_path(scan_key))


async def _set_aside(conn: asyncpg.Connection, upload_id: int, attempt: int, reason: str) -> None:
    """LORIS cannot hold the row: trying again would fail again, so it waits, without a run, for a new attempt."""
    await conn.execute("UPDATE gateway.uploads SET loris_row_set_aside = $2 WHERE upload_id = $1", upload_id, reason)
    metrics.LORIS_ROWS_SET_ASIDE.inc()
    log.error("LORIS upload row set aside: LORIS cannot hold it; no run is granted until a new attempt",
              extra={"upload_id": upload_id, "attempt": attempt, "reason": reason})


async def _record_written(conn: asyncpg.Connection, upload_id: int, attempt: int, loris_upload_id: int) -> None:
    """Keep the UploadID, announce it, and grant the run that waited for the row. An overwrite accepted meanwhile
    (a newer attempt) keeps its row wanted: the next write updates the same row for it."""
    row = await conn.fetchrow(
        """UPDATE gateway.uploads SET loris_upload_id = $2, loris_row_attempt = $3, loris_row_wanted = attempt <> $3
           WHERE upload_id = $1
           RETURNING attempt, state, launch_when_valid, coalesce(launch_requested_by, $4) AS requested_by""",
        upload_id, loris_upload_id, attempt, AUTO_LAUNCH,
    )
    await add_to_outbox(conn, SCHEMA, LorisUploadRecorded(upload_id=upload_id, attempt=attempt,
                                                          loris_upload_id=loris_upload_id))
    if row["attempt"] == attempt and row["state"] == records.VALIDATED and row["launch_when_valid"]:
        await records.grant_run(conn, upload_id, row["requested_by"])
