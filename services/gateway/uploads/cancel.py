"""The cancel operation: the run of an upload, granted and queued or running,
is stopped by the launcher (recorded as cancelled); the upload may then be
launched again or overwritten."""

import asyncpg

from services.common.api_models import CancelAccepted
from services.common.http_errors import error_response
from services.common.request_parsing import Refusal
from services.gateway.auth.users import User
from services.gateway.uploads import records
from services.gateway.uploads.visibility import visible_upload


async def request_cancel(pool: asyncpg.Pool, upload_id: int, user: User) -> CancelAccepted:
    async with pool.acquire() as conn, conn.transaction():
        record = await visible_upload(conn, upload_id, user)
        if not await records.request_cancel(conn, upload_id, user.username):
            raise Refusal(error_response(
                409, "cannot_cancel",
                f"Upload {upload_id} has no run to cancel: its pipeline is neither queued nor running."))
    return CancelAccepted(upload_id=upload_id, attempt=record.attempt)
