"""What the scan store keeps, and for how long: the gateway removes the files
of attempts that will never run again, and the partial files a crash left.

An attempt's file is removed `retention` after its attempt stopped mattering:
- replaced: a later attempt (an overwrite) took its place; counted from the
  replacement's upload;
- rejected: it is the current attempt and the validator rejected it;
- failed: it is the current attempt and its run finished in Failure.
The last two count from the upload's last change of state. A failed upload's
file is kept that long so that it can be launched again; after it, it must be
uploaded again.

Never a file a run may read: an overwrite is refused from the grant of a run
until its end, so a replaced attempt has no run, and the current attempt's
file is kept in every other state (received, validated, run granted, queued,
running, succeeded: the launcher removes a success's file itself unless
UPLOADER_KEEP_SCAN_AFTER_SUCCESS keeps it). The
upload's row stays locked while its files are removed and marked (removed_at),
so no run is granted and no attempt claimed meanwhile; a removed attempt is
never granted a run (records.grant_run locks the row before it reads the mark). Removal is idempotent: a file
already gone is fine. Gateways share the work (SKIP LOCKED).

Partial files (`.partial/`) are swept when the gateway starts: those no live
upload holds locked and untouched for a minute (scan_store.sweep_partial).
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
from aiohttp import web

from services.common import metrics
from services.common.retention import with_pruning
from services.common.scan_store import ScanStore
from services.gateway.uploads.records import FINISHED, REJECTED

log = logging.getLogger(__name__)

BATCH_ATTEMPTS = 100

_EXPIRED_ATTEMPTS = f"""
SELECT a.upload_id, a.attempt, a.scan_key
FROM gateway.upload_attempts a JOIN gateway.uploads u ON u.upload_id = a.upload_id
WHERE a.removed_at IS NULL
  AND (
    (a.attempt < u.attempt AND EXISTS (
        SELECT 1 FROM gateway.upload_attempts later
        WHERE later.upload_id = a.upload_id AND later.attempt = a.attempt + 1
          AND later.uploaded_at < now() - $1::interval))
    OR (a.attempt = u.attempt AND u.updated_at < now() - $1::interval
        AND (u.state = '{REJECTED}' OR (u.state = '{FINISHED}' AND u.progress = 'Failure')))
  )
ORDER BY a.upload_id, a.attempt
LIMIT {BATCH_ATTEMPTS}
FOR UPDATE OF u SKIP LOCKED
"""


async def remove_expired_attempt_files(pool: asyncpg.Pool, store: ScanStore, retention: timedelta) -> int:
    """Remove the files of attempts that will never run again, older than `retention`; returns how many."""
    total = 0
    while True:
        removed = await _remove_one_batch(pool, store, retention)
        total += removed
        metrics.RETENTION_PRUNED.labels("gateway", "attempt_files").inc(removed)
        if removed < BATCH_ATTEMPTS:
            return total


def with_scan_retention(app: web.Application, store: ScanStore, retention: timedelta) -> None:
    """Sweep the partial files at start, then remove expired attempts' files now and then."""

    async def sweep_ctx(app: web.Application) -> AsyncIterator[None]:
        swept = await asyncio.to_thread(store.sweep_partial)
        metrics.RETENTION_PRUNED.labels("gateway", "partial_files").inc(swept)
        if swept:
            log.info("partial files left by a crash removed", extra={"files": swept})
        yield

    app.cleanup_ctx.append(sweep_ctx)
    with_pruning(app, lambda pool: remove_expired_attempt_files(pool, store, retention))


async def _remove_one_batch(pool: asyncpg.Pool, store: ScanStore, retention: timedelta) -> int:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_EXPIRED_ATTEMPTS, retention)
        for row in rows:
            await asyncio.to_thread(store.remove, row["scan_key"])
        await conn.execute(
            """UPDATE gateway.upload_attempts SET removed_at = now()
               WHERE (upload_id, attempt) IN (SELECT * FROM unnest($1::bigint[], $2::int[]))""",
            [row["upload_id"] for row in rows], [row["attempt"] for row in rows],
        )
    for row in rows:
        log.info("attempt file removed after its retention",
                 extra={"upload_id": row["upload_id"], "attempt": row["attempt"]})
    return len(rows)
