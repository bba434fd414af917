"""The end of a tus upload that will not be finished: DELETE (termination) frees its bytes at once; expiry
(`Upload-Expires`, UPLOADER_TUS_EXPIRY_HOURS after creation) removes them in a periodic sweep that the gateway
replicas share (SKIP LOCKED). A finished upload's row goes too when it expires: its bytes are an attempt's file
by then. A kill between removing the file and the row leaves the row, which the next sweep removes."""

import asyncio
import logging

import asyncpg
from aiohttp import web

from services.common import metrics
from services.common.app_keys import POOL, SCAN_STORE
from services.common.retention import with_pruning
from services.common.scan_store import ScanStore
from services.gateway.tus import tus_rows
from services.gateway.tus.tus_files import remove_file, tus_file
from services.gateway.tus.tus_headers import refuse, unknown_upload

log = logging.getLogger(__name__)

BATCH_UPLOADS = 100


async def terminate_upload(app: web.Application, tus_id: str, username: str) -> None:
    async with app[POOL].acquire() as conn, conn.transaction():
        try:
            upload = await tus_rows.lock_row(conn, tus_id, username)
        except tus_rows.TusUploadBusy:
            raise refuse(423, "tus_upload_busy", "A PATCH is writing to this upload; DELETE it once that ends.") from None
        if upload is None:
            raise unknown_upload(tus_id)
        await asyncio.to_thread(remove_file, tus_file(app[SCAN_STORE], tus_id))
        await tus_rows.delete_row(conn, tus_id)
    log.info("tus upload terminated", extra={"tus_id": tus_id})


async def sweep_expired_uploads(pool: asyncpg.Pool, store: ScanStore) -> int:
    """Remove the expired tus uploads and their bytes; returns how many."""
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            expired = await tus_rows.lock_expired_rows(conn, BATCH_UPLOADS)
            for tus_id in expired:
                await asyncio.to_thread(remove_file, tus_file(store, tus_id))
                await tus_rows.delete_row(conn, tus_id)
        total += len(expired)
        metrics.RETENTION_PRUNED.labels("gateway", "tus_uploads").inc(len(expired))
        if len(expired) < BATCH_UPLOADS:
            if total:
                log.info("expired tus uploads removed", extra={"uploads": total})
            return total


def with_tus_expiry(app: web.Application, store: ScanStore) -> None:
    with_pruning(app, lambda pool: sweep_expired_uploads(pool, store))
