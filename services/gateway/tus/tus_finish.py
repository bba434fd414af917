"""The last byte of a tus upload arrived: the file goes through the checks of a multipart upload (type by
content, the rules judged again, the size) and becomes an attempt exactly as one does
(receive_upload.stored_scan_becomes_attempt). The tus row is marked finished in the attempt's transaction, so
that a retried last PATCH never makes a second attempt. The store moves a second name (a hard link) of the file to
the attempt's key, and the tus file goes only once the attempt is committed: a kill midway leaves the upload
whole, to be finished again.

A refused file is dropped with its tus upload (nothing kept, as for a refused multipart upload); an error that
may pass (the registry away, the database) keeps the bytes: the client sends the last PATCH again (empty, at
the upload's length) to finish."""

import asyncio
import time

import asyncpg
from aiohttp import web

from services.common.api_models import UploadAccepted
from services.common.app_keys import POOL, SCAN_STORE
from services.gateway.auth.users import User
from services.gateway.loris_record import auto_launch_wanted
from services.gateway.tus import tus_rows
from services.gateway.tus.tus_files import leading_bytes, remove_file, tus_file, whole_file
from services.gateway.tus.tus_headers import refuse
from services.gateway.uploads.checked_file import check_content_type
from services.gateway.uploads.receive_upload import stored_scan_becomes_attempt
from services.gateway.uploads.upload_rules import UploadRefused, judge, scan_fields


async def finish_upload(app: web.Application, upload: tus_rows.TusUpload, user: User) -> UploadAccepted:
    started = time.monotonic()
    path = tus_file(app[SCAN_STORE], upload.tus_id)
    fields = scan_fields(upload.fields)
    try:
        check_content_type(upload.file_name, await asyncio.to_thread(leading_bytes, path))
        verdict = await judge(app, fields, upload.file_name, upload.upload_length, user)
        if not verdict.ok:
            raise UploadRefused(verdict.failures)
    except UploadRefused:
        await _drop_refused(app, upload.tus_id)
        raise
    except FileNotFoundError:
        raise _already_finished() from None

    async def mark_finished(conn: asyncpg.Connection, accepted: UploadAccepted) -> None:
        if not await tus_rows.mark_finished(conn, upload.tus_id, accepted.upload_id, accepted.attempt):
            raise _already_finished()

    try:
        pending = whole_file(path, upload.upload_length)
    except FileNotFoundError:
        raise _already_finished() from None
    try:
        accepted = await stored_scan_becomes_attempt(app, pending, fields, upload.file_name, user, verdict,
                                                     launch_when_valid=await auto_launch_wanted(app),
                                                     started=started, also=mark_finished)
    except UploadRefused:
        await _drop_refused(app, upload.tus_id)
        raise
    finally:
        pending.close()
        await asyncio.to_thread(pending.path.unlink, missing_ok=True)
    await asyncio.to_thread(remove_file, path)
    return accepted


async def _drop_refused(app: web.Application, tus_id: str) -> None:
    """Remove a refused upload and its bytes; unless another request finished it meanwhile (a last PATCH sent
    twice at once: the second is refused as a second upload of the name), which is then said instead."""
    async with app[POOL].acquire() as conn, conn.transaction():
        if await tus_rows.wait_for_row(conn, tus_id):
            raise _already_finished()
        await asyncio.to_thread(remove_file, tus_file(app[SCAN_STORE], tus_id))
        await tus_rows.delete_row(conn, tus_id)


def _already_finished():
    return refuse(409, "tus_upload_ended", "Another request finished or ended this upload meanwhile: HEAD gives "
                  "its upload id once finished, 404 once ended.")
